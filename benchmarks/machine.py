"""What the benchmarks record about the machine they ran on."""

import pathlib
import platform


def _cpuinfo() -> dict:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    """The CPU's model name, with its family and model numbers and its widest vector units
    (machines with one name differ: 'AMD EPYC' is an AVX2 Zen 2 on some, an AVX-512 Zen 5 on
    others)."""
    info = _cpuinfo()
    name = info.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" not in info:
        return name
    flags = set(info.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    extra = ", AMX" if "amx_tile" in flags else ""
    return f"{name} (family {info['cpu family']} model {info.get('model', '?')}, {vector}{extra})"
