"""Processor family detection from /proc/cpuinfo text (samples shaped like real hosts' files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from metering.processor import detect_processor, family_key, host_processor


def cpuinfo(vendor: str, family: int, model: int, stepping: int, name: str, *, vm: bool = True) -> str:
    flags = "fpu vme de pse tsc msr pae mce cx8 apic sep" + (" hypervisor" if vm else "") + " lahf_lm"
    block = (
        f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
        f"model name\t: {name}\nstepping\t: {stepping}\nmicrocode\t: 0x1000065\ncpu MHz\t\t: 2596.122\n"
        f"flags\t\t: {flags}\nbogomips\t: 5192.24\n\n"
    )
    # a second block that disagrees: only the first processor is read
    return block + block.replace("processor\t: 0", "processor\t: 1").replace(name, "other")


# (what /proc/cpuinfo says) -> family key; names as the hosts print them (a VM often shortens them)
SAMPLES = [
    (("AuthenticAMD", 25, 1, 1, "AMD EPYC"), "amd-epyc-milan"),  # this machine type's VM (ENVIRONMENT.md)
    (("AuthenticAMD", 25, 1, 1, "AMD EPYC 7763 64-Core Processor"), "amd-epyc-milan"),
    (("AuthenticAMD", 23, 49, 0, "AMD EPYC 7742 64-Core Processor"), "amd-epyc-rome"),
    (("AuthenticAMD", 23, 1, 2, "AMD EPYC 7551 32-Core Processor"), "amd-epyc-naples"),
    (("AuthenticAMD", 25, 17, 1, "AMD EPYC 9654 96-Core Processor"), "amd-epyc-genoa"),
    (("AuthenticAMD", 26, 2, 1, "AMD EPYC"), "amd-epyc-turin"),
    (("GenuineIntel", 6, 85, 4, "Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz"), "intel-xeon-skylake"),
    (("GenuineIntel", 6, 85, 7, "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"), "intel-xeon-cascadelake"),
    (("GenuineIntel", 6, 85, 11, "Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz"), "intel-xeon-cooperlake"),
    (("GenuineIntel", 6, 106, 6, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"), "intel-xeon-icelake"),
    (("GenuineIntel", 6, 143, 8, "Intel(R) Xeon(R) Platinum 8488C"), "intel-xeon-sapphirerapids"),
    (
        ("GenuineIntel", 6, 207, 2, "INTEL(R) XEON(R) PLATINUM 8581C CPU @ 2.30GHz"),
        "intel-xeon-emeraldrapids",
    ),
    (("GenuineIntel", 6, 79, 1, "Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz"), "intel-xeon-broadwell"),
    (("GenuineIntel", 6, 63, 2, "Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz"), "intel-xeon-haswell"),
    (("GenuineIntel", 6, 85, 9, "Intel(R) Xeon(R) (an undocumented stepping)"), "unknown"),
    (("GenuineIntel", 6, 151, 2, "12th Gen Intel(R) Core(TM) i7-12700"), "unknown"),
    (("AuthenticAMD", 25, 33, 0, "AMD Ryzen 9 5950X 16-Core Processor"), "unknown"),
    (("HygonGenuine", 24, 0, 1, "Hygon C86 7185 32-core Processor"), "unknown"),
]


@pytest.mark.parametrize(("fields", "key"), SAMPLES, ids=[k + ":" + f[4][:20] for f, k in SAMPLES])
def test_family_from_cpuinfo(fields: tuple[str, int, int, int, str], key: str) -> None:
    info = detect_processor(cpuinfo(*fields))
    assert info.power_model == key
    assert (info.vendor, info.family, info.model, info.stepping, info.model_name) == fields
    assert info.hypervisor


def test_hypervisor_flag_and_fallbacks() -> None:
    assert not detect_processor(cpuinfo("AuthenticAMD", 25, 1, 1, "AMD EPYC", vm=False)).hypervisor
    # an ARM host: no vendor_id, no family numbers
    arm = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm\nCPU implementer\t: 0x41\n\n"
    info = detect_processor(arm)
    assert (info.power_model, info.vendor, info.family, info.hypervisor) == ("unknown", "", None, False)
    assert detect_processor("").power_model == "unknown"
    # without family/model numbers the EPYC model number's last digit names the generation
    assert family_key("AuthenticAMD", None, None, None, "AMD EPYC 7R13 Processor") == "unknown"
    assert family_key("AuthenticAMD", None, None, None, "AMD EPYC 7763 64-Core Processor") == "amd-epyc-milan"
    assert family_key("GenuineIntel", 6, 85, None, "Intel Xeon") == "unknown"


def test_this_host_and_an_unreadable_cpuinfo(tmp_path: Path) -> None:
    here = host_processor()
    assert here.power_model  # whatever it is, a key ('unknown' included), not an error
    assert host_processor(tmp_path / "absent").power_model == "unknown"
