"""Which physical GPUs a CUDA process can use, named by NVML UUID (docs/metering.md, "GPUs").

CUDA numbers the devices a process may use 0..n-1 (its *ordinals*), in the order of
`CUDA_VISIBLE_DEVICES` when it is set, else of `CUDA_DEVICE_ORDER` over every device: FASTEST_FIRST
(the default: a heuristic that puts the fastest device first) or PCI_BUS_ID. NVML numbers every GPU of
the host by its own index, whatever the process's environment says. A CUDA ordinal is therefore not
an NVML index: the two are joined here by UUID only.

- `CUDA_VISIBLE_DEVICES` entries are ordinals, `GPU-<uuid>` (or a unique prefix), `MIG-<uuid>` (a
  MIG device) or the old `MIG-GPU-<uuid>/<gi>/<ci>`; parsing stops at the first invalid entry, a
  repeated entry makes the list empty, "" hides every device (CUDA's rules, as torch reads them).
- A UUID resolves through `nvmlDeviceGetHandleByUUID`; a MIG device to its parent GPU
  (`nvmlDeviceGetDeviceHandleFromMigDeviceHandle`): the parent is what NVML meters, its energy
  counter shared by every MIG device on it.
- An ordinal resolves only when the order is known: with `CUDA_DEVICE_ORDER=PCI_BUS_ID`, ordinals
  follow the PCI bus ids. Under FASTEST_FIRST a single ordinal is left unresolved (`how='unresolved'`),
  though the *set* is known when the ordinals cover every device.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metering.host import PROC

ENV_VISIBLE = "CUDA_VISIBLE_DEVICES"
ENV_ORDER = "CUDA_DEVICE_ORDER"
_LEGACY_MIG = re.compile(r"^MIG-(GPU-[^/]+)/\d+/\d+$")
_ORDINAL = re.compile(r"^\+?(\d+)")


def text(value: Any) -> str:
    """A name, UUID or bus id as str (legacy pynvml returns bytes)."""
    return value.decode(errors="replace") if isinstance(value, bytes | bytearray) else str(value)


def uuid_body(uuid: str) -> str:
    """The UUID without its 'GPU-'/'MIG-' prefix, lower case: how CUDA (torch) and NVML are compared."""
    u = uuid.strip().lower()
    for prefix in ("gpu-", "mig-"):
        if u.startswith(prefix):
            u = u[len(prefix) :]
    return u


def describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def parse_visible(value: str | None) -> tuple[str, ...] | None:
    """`CUDA_VISIBLE_DEVICES` as the device entries CUDA uses; None = unset (every device)."""
    if value is None:
        return None
    out: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if entry.upper().startswith(("GPU-", "MIG-")):
            token = entry
        else:
            m = _ORDINAL.match(entry)  # like strtoul: '1gpu' is 1; '-1' or 'x' ends the list
            if m is None:
                break
            token = str(int(m.group(1)))
        if token in out:
            return ()
        out.append(token)
    return tuple(out)


@dataclass(frozen=True)
class CudaView:
    """What one process's environment lets CUDA see."""

    tokens: tuple[str, ...] | None  # None: CUDA_VISIBLE_DEVICES unset (every device)
    pci_order: bool  # CUDA_DEVICE_ORDER=PCI_BUS_ID

    @classmethod
    def of(cls, env: Mapping[str, str]) -> CudaView:
        order = env.get(ENV_ORDER, "").strip().upper()
        return cls(parse_visible(env.get(ENV_VISIBLE)), order == "PCI_BUS_ID")

    @classmethod
    def current(cls) -> CudaView:
        return cls.of(os.environ)

    @property
    def hides_all(self) -> bool:
        return self.tokens == ()


def read_process_view(pid: int, proc_root: Path = PROC) -> CudaView | None:
    """The view a process started with (`/proc/<pid>/environ`; None when it cannot be read: another
    user's process, gone, or still in exec, when the file reads empty). A process that changes its own
    environment after it started is not seen."""
    try:
        raw = (proc_root / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    if not raw:
        return None
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key in (ENV_VISIBLE.encode(), ENV_ORDER.encode()):
            env[key.decode()] = value.decode(errors="replace")
    return CudaView.of(env)


@dataclass(frozen=True)
class NvmlGpu:
    """One physical GPU as NVML lists it."""

    index: int
    uuid: str | None  # None: its handle was refused
    pci_bus_id: str | None
    problem: str | None = None


@dataclass(frozen=True)
class CudaDevice:
    """CUDA ordinal `ordinal` of a process, and the physical GPU it is."""

    ordinal: int
    token: str  # the CUDA_VISIBLE_DEVICES entry (or the ordinal when unset)
    uuid: str | None  # NVML UUID of the physical GPU (the parent of a MIG device); None: unresolved
    nvml_index: int | None
    mig_uuid: str | None = None  # the MIG device, when the entry named one
    how: str = "unresolved"  # 'uuid' | 'mig-parent' | 'pci-bus-order' | 'unresolved'
    problem: str | None = None


def list_gpus(nv: Any) -> list[NvmlGpu]:
    """Every GPU NVML lists (`nv`: an initialised pynvml-like module); a refused handle is that GPU's
    problem only."""
    out = []
    for index in range(int(nv.nvmlDeviceGetCount())):
        try:
            h = nv.nvmlDeviceGetHandleByIndex(index)
            uuid = text(nv.nvmlDeviceGetUUID(h))
        except nv.NVMLError as err:
            out.append(NvmlGpu(index, None, None, f"handle: {describe(err)}"))
            continue
        try:
            bus: str | None = text(nv.nvmlDeviceGetPciInfo(h).busId).upper()
        except nv.NVMLError:
            bus = None
        out.append(NvmlGpu(index, uuid, bus))
    return out


def _by_uuid(nv: Any, token: str, gpus: list[NvmlGpu]) -> tuple[str | None, str | None, str | None, str]:
    """(physical GPU's UUID, MIG device UUID, problem, how) for a GPU-/MIG- entry."""
    legacy = _LEGACY_MIG.match(token)
    if legacy:  # MIG-GPU-<parent uuid>/<gi>/<ci> (drivers before R470): the parent is in the name
        return _by_uuid(nv, legacy.group(1), gpus)[0], token, None, "mig-parent"
    try:
        h = nv.nvmlDeviceGetHandleByUUID(token)
    except nv.NVMLError as err:
        matches = [g.uuid for g in gpus if g.uuid and g.uuid.lower().startswith(token.lower())]
        if len(matches) == 1 and token.upper().startswith("GPU-"):  # CUDA accepts a unique prefix
            return matches[0], None, None, "uuid"
        return None, None, f"{token}: {describe(err)}", "unresolved"
    try:
        if nv.nvmlDeviceIsMigDeviceHandle(h):
            parent = nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(h)
            return text(nv.nvmlDeviceGetUUID(parent)), token, None, "mig-parent"
        return text(nv.nvmlDeviceGetUUID(h)), None, None, "uuid"
    except nv.NVMLError as err:
        return None, None, f"{token}: {describe(err)}", "unresolved"


def map_cuda_devices(nv: Any, view: CudaView, gpus: list[NvmlGpu] | None = None) -> list[CudaDevice]:
    """CUDA ordinal -> physical GPU for a process with `view` (NVML initialised)."""
    gpus = list_gpus(nv) if gpus is None else gpus
    index_of = {g.uuid: g.index for g in gpus if g.uuid}
    by_bus = sorted(gpus, key=lambda g: g.pci_bus_id or "")
    bus_known = all(g.pci_bus_id for g in gpus)
    tokens = view.tokens if view.tokens is not None else tuple(str(i) for i in range(len(gpus)))
    out = []
    for ordinal, token in enumerate(tokens):
        if token.upper().startswith(("GPU-", "MIG-")):
            uuid, mig, problem, how = _by_uuid(nv, token, gpus)
            out.append(CudaDevice(ordinal, token, uuid, index_of.get(uuid or ""), mig, how, problem))
            continue
        n = int(token)
        if n >= len(gpus):
            out.append(CudaDevice(ordinal, token, None, None, problem=f"ordinal {n}: no such device"))
        elif not view.pci_order:
            problem = (
                f"ordinal {n}: CUDA_DEVICE_ORDER is not PCI_BUS_ID, so CUDA's order is not NVML's; "
                "set CUDA_DEVICE_ORDER=PCI_BUS_ID or name devices by UUID in CUDA_VISIBLE_DEVICES"
            )
            out.append(CudaDevice(ordinal, token, None, None, problem=problem))
        elif not bus_known:
            problem = f"ordinal {n}: a PCI bus id is unknown"
            out.append(CudaDevice(ordinal, token, None, None, problem=problem))
        else:
            g = by_bus[n]
            out.append(CudaDevice(ordinal, token, g.uuid, g.index, how="pci-bus-order"))
    return out


def visible_uuids(nv: Any, view: CudaView, gpus: list[NvmlGpu]) -> frozenset[str] | None:
    """The physical GPUs a process with `view` can use, or None when that is not known. Every UUID in
    a known set is one of `gpus` (a GPU whose handle was refused is never in it)."""
    if view.hides_all:
        return frozenset()
    known = {g.uuid for g in gpus if g.uuid}
    all_known = len(known) == len(gpus)
    if view.tokens is None:
        return frozenset(known) if all_known else None
    ordinals = [t for t in view.tokens if not t.upper().startswith(("GPU-", "MIG-"))]
    if ordinals and all_known and {int(t) for t in ordinals} >= set(range(len(gpus))):
        return frozenset(known)  # every device, whatever the order
    devices = map_cuda_devices(nv, view, gpus)
    uuids = {d.uuid for d in devices}
    if None in uuids or not uuids <= known:
        return None
    return frozenset(u for u in uuids if u)


def runtime_uuids() -> list[str] | None:
    """The UUID of each CUDA ordinal as the CUDA runtime (torch) reports it in this process; None
    without torch or CUDA. Initialises CUDA: call it where a CUDA context does not matter."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]


@dataclass(frozen=True)
class MapRow:
    """One line of the CUDA-to-NVML map: does the UUID NVML resolved agree with the CUDA runtime's?"""

    ordinal: int
    token: str
    runtime_uuid: str | None
    nvml_uuid: str | None  # the device as named by the entry (the MIG device's, for MIG)
    parent_uuid: str | None  # the physical GPU metered
    nvml_index: int | None
    how: str
    match: bool | None  # None: nothing to compare (no runtime UUID, or unresolved)
    problem: str | None


def by_runtime_uuid(nv: Any, runtime_uuid: str, gpus: list[NvmlGpu], ordinal: int, token: str) -> CudaDevice:
    """A CUDA device named by the UUID its runtime reports (no 'GPU-'/'MIG-' prefix there): the
    physical GPU through `nvmlDeviceGetHandleByUUID`, tried as a GPU, then as a MIG device."""
    problem = None
    for name in (f"GPU-{uuid_body(runtime_uuid)}", f"MIG-{uuid_body(runtime_uuid)}"):
        uuid, mig, problem, how = _by_uuid(nv, name, [])
        if uuid is not None:
            index = next((g.index for g in gpus if g.uuid == uuid), None)
            return CudaDevice(ordinal, token, uuid, index, mig, "cuda-uuid" if how == "uuid" else how)
    return CudaDevice(ordinal, token, None, None, problem=problem)


def compare_map(
    devices: list[CudaDevice], runtime: list[str] | None, nv: Any = None, gpus: list[NvmlGpu] | None = None
) -> list[MapRow]:
    """Each CUDA ordinal: the NVML map beside the CUDA runtime's UUIDs (MATCH per device). An ordinal
    the environment alone cannot place (CUDA's default order) is looked up by the runtime's UUID when
    `nv` is given (`how='cuda-uuid'`)."""
    rows = []
    for d in devices:
        rt = runtime[d.ordinal] if runtime is not None and d.ordinal < len(runtime) else None
        if d.uuid is None and rt is not None and nv is not None and d.how == "unresolved":
            found = by_runtime_uuid(nv, rt, gpus or [], d.ordinal, d.token)
            if found.uuid is None:
                found = dataclasses.replace(found, problem=f"{d.problem}; by CUDA's UUID: {found.problem}")
            d = found
        named = d.mig_uuid or d.uuid
        if d.mig_uuid and _LEGACY_MIG.match(d.mig_uuid):
            named = None  # the old MIG name carries no MIG device UUID to compare
        match = None if rt is None or named is None else uuid_body(rt) == uuid_body(named)
        rows.append(MapRow(d.ordinal, d.token, rt, named, d.uuid, d.nvml_index, d.how, match, d.problem))
    if runtime is not None and len(runtime) != len(devices):
        extra = f"CUDA sees {len(runtime)} device(s), the NVML map {len(devices)}"
        rows = [MapRow(-1, "", None, None, None, None, "count", False, extra), *rows]
    return rows
