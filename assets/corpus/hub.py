"""The `hub:<name>[:<split>]` source: `datasets.load_dataset`, with a quick connectivity probe.

Without network `load_dataset` hangs about 23 s before failing. So: if HF_HUB_OFFLINE /
HF_DATASETS_OFFLINE is set, or a TCP probe of the hub endpoint fails within `probe_timeout_s`, the
load runs in offline mode (cached datasets still load) and fails at once otherwise, with a
CorpusError saying what to do. The datasets cache is `$FOOTPRINT_HOME/cache/huggingface`; the bytes
it grew by are the bytes downloaded.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa

from assets.corpus.errors import CorpusError
from assets.corpus.sources import Loaded, SourceSpec, to_loaded_table
from assets.corpus.validation import ColumnLimits
from warehouse.artifacts import tree_bytes

_TRUE = {"1", "ON", "YES", "TRUE"}


def offline_requested() -> bool:
    return any(os.environ.get(v, "").upper() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def probe_hub(timeout_s: float) -> str | None:
    """None if the hub endpoint accepts a TCP connection within `timeout_s`, else the reason."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as err:
        return f"{host}:{port} unreachable within {timeout_s:g} s ({err})"


@contextlib.contextmanager
def offline_mode() -> Iterator[None]:
    """Offline mode for this call, also when `datasets`/`huggingface_hub` were imported before (both
    read the variables at import time into module constants)."""
    import datasets.config as ds_config
    import huggingface_hub.constants as hf_constants

    saved_env = {v: os.environ.get(v) for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    saved = (hf_constants.HF_HUB_OFFLINE, ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE)
    os.environ.update({v: "1" for v in saved_env})
    hf_constants.HF_HUB_OFFLINE = ds_config.HF_HUB_OFFLINE = ds_config.HF_DATASETS_OFFLINE = True
    try:
        yield
    finally:
        hf_constants.HF_HUB_OFFLINE, ds_config.HF_HUB_OFFLINE, ds_config.HF_DATASETS_OFFLINE = saved
        for v, old in saved_env.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def load_hub(
    spec: SourceSpec,
    *,
    cache_dir: Path,
    text_column: str,
    label_column: str,
    limit_rows: int,
    probe_timeout_s: float = 3.0,
    limits: ColumnLimits | None = None,
) -> Loaded:
    import datasets

    source = f"hub:{spec.name}:{spec.split}"
    reason = (
        "HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set" if offline_requested() else probe_hub(probe_timeout_s)
    )
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    before = tree_bytes(cache_dir)
    started = time.perf_counter()
    try:
        with offline_mode() if reason else contextlib.nullcontext():
            ds = datasets.load_dataset(spec.name, split=spec.split, cache_dir=str(cache_dir))
    except Exception as err:  # datasets raises ConnectionError, FileNotFoundError, ValueError, ...
        hint = (
            f"offline ({reason}) and not in the cache {cache_dir}; connect to the network or use a "
            "file: source"
            if reason
            else "check the dataset name and split"
        )
        raise CorpusError(f"cannot load: {type(err).__name__}: {err}; {hint}", source=source) from err
    duration_s = time.perf_counter() - started
    if not isinstance(ds, datasets.Dataset):
        raise CorpusError(f"expected one split, got {type(ds).__name__}", source=source)
    table = ds.with_format("arrow")[:]
    assert isinstance(table, pa.Table)
    if label_column and label_column in ds.features:
        feature = ds.features[label_column]
        if isinstance(feature, datasets.ClassLabel):  # ints -> class names
            names = pa.array(feature.names, pa.string())
            idx = table.column(label_column).combine_chunks()
            table = table.set_column(table.column_names.index(label_column), label_column, names.take(idx))
    loaded, profile = to_loaded_table(
        table,
        source=source,
        text_column=text_column,
        label_column=label_column,
        limit_rows=limit_rows,
        limits=limits or ColumnLimits(),
    )
    downloaded = max(0, tree_bytes(cache_dir) - before)
    if downloaded:
        return Loaded(loaded, downloaded, duration_s, "download", "hub", "network", spec.name, profile)
    return Loaded(
        loaded, int(ds.data.nbytes), duration_s, "read", "hub-cache", "local", str(cache_dir), profile
    )
