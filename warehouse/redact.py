"""Keep secrets out of logs, metadata, the warehouse and error text.

Code that learns a secret (the Label Studio token) registers it once; every string that leaves the
process through our code (fact text fields, metadata, CLI errors) passes through `redact`.
"""

from __future__ import annotations

import re

_SECRETS: set[str] = set()
_MASK = "***"
# Token-looking query parameters and headers, in case a URL with a credential reaches an error.
_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*)(token|bearer)?\s*[^\s'\",]+"),
    re.compile(r"(?i)((?:api_key|token|access_token|refresh)=)[^&\s'\"]+"),
]


def register_secret(value: str | None) -> None:
    if value and len(value) >= 6:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        text = text.replace(secret, _MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text
