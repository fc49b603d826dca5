"""Which processor family a host has, from `/proc/cpuinfo`: the subject of the rate card's CPU power
model (`DeviceInterval.power_model`), and whether the host is a virtual machine (`hypervisor` flag).

    info = detect_processor(Path("/proc/cpuinfo").read_text())
    info.power_model          # 'amd-epyc-milan', 'intel-xeon-icelake', ... or 'unknown'

A pure function of the text (first processor block): vendor_id, cpu family, model, stepping and
model name. The family/model numbers decide (a VM's model name is often shortened, e.g. "AMD EPYC");
the model name is only a fallback when the numbers are missing. Anything not recognised is
'unknown' (the card's fallback model), never a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

UNKNOWN = "unknown"

# (family, model) -> key. AMD: family 23 = Zen/Zen 2, 25 = Zen 3/Zen 4, 26 = Zen 5.
_AMD: dict[tuple[int, int], str] = {
    (23, 1): "amd-epyc-naples",
    (23, 49): "amd-epyc-rome",
    (25, 1): "amd-epyc-milan",
    (25, 17): "amd-epyc-genoa",
    (26, 2): "amd-epyc-turin",
    (26, 17): "amd-epyc-turin",
}
# Intel family 6 models; model 85 is split by stepping (Skylake-SP / Cascade Lake / Cooper Lake).
_INTEL: dict[int, str] = {
    63: "intel-xeon-haswell",
    79: "intel-xeon-broadwell",
    106: "intel-xeon-icelake",
    143: "intel-xeon-sapphirerapids",
    207: "intel-xeon-emeraldrapids",
}
# EPYC model numbers: the last digit is the generation (7551 Naples, 7742 Rome, 7763 Milan, 9654 Genoa).
_EPYC_GENERATION = {
    "1": "amd-epyc-naples",
    "2": "amd-epyc-rome",
    "3": "amd-epyc-milan",
    "4": "amd-epyc-genoa",
}
_EPYC_NUMBER = re.compile(r"\bEPYC\s+([79]\d{2}([1-4]))")


@dataclass(frozen=True)
class ProcessorInfo:
    vendor: str  # 'AuthenticAMD', 'GenuineIntel', '' when absent
    family: int | None
    model: int | None
    stepping: int | None
    model_name: str
    hypervisor: bool  # the `hypervisor` CPU flag: a virtual machine
    power_model: str  # family key, or 'unknown'


def _first_block(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _int(value: str | None) -> int | None:
    try:
        return int(value, 0) if value is not None else None
    except ValueError:
        return None


def family_key(vendor: str, family: int | None, model: int | None, stepping: int | None, name: str) -> str:
    """The power-model key of one processor (see the module docstring)."""
    if vendor == "AuthenticAMD":
        if family is not None and model is not None:
            return _AMD.get((family, model), UNKNOWN)
        m = _EPYC_NUMBER.search(name)
        return _EPYC_GENERATION[m.group(2)] if m else UNKNOWN
    if vendor == "GenuineIntel" and family == 6 and model is not None:
        if model == 85:
            if stepping is None:
                return UNKNOWN
            if stepping < 5:
                return "intel-xeon-skylake"
            if stepping <= 7:
                return "intel-xeon-cascadelake"
            if stepping in (10, 11):
                return "intel-xeon-cooperlake"
            return UNKNOWN
        return _INTEL.get(model, UNKNOWN)
    return UNKNOWN


def detect_processor(cpuinfo_text: str) -> ProcessorInfo:
    """Parse /proc/cpuinfo text (x86 layout); fields that are missing stay None / ''."""
    f = _first_block(cpuinfo_text)
    vendor = f.get("vendor_id", "")
    family, model, stepping = _int(f.get("cpu family")), _int(f.get("model")), _int(f.get("stepping"))
    name = f.get("model name", "")
    flags = f.get("flags", "").split()
    return ProcessorInfo(
        vendor=vendor,
        family=family,
        model=model,
        stepping=stepping,
        model_name=name,
        hypervisor="hypervisor" in flags,
        power_model=family_key(vendor, family, model, stepping, name),
    )


def host_processor(cpuinfo: Path = Path("/proc/cpuinfo")) -> ProcessorInfo:
    """This host's processor; an unreadable cpuinfo gives 'unknown' (not an error: the card falls back)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    return detect_processor(text)
