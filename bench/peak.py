"""The fp32 peak of the CPU cores a benchmark ran on, derived from /proc/cpuinfo, with its derivation.

peak FLOP/s = cores x clock x FMA units x SIMD fp32 lanes x 2 (an FMA is two FLOPs); a MAC is one FMA,
so the MAC peak is half of it. The FMA units per core and their width are not in /proc/cpuinfo: they
come from the microarchitecture, guessed from the vendor, family and flags (printed; override with
``fma_units`` / ``lanes``):

- AMD family 25 (0x19, Zen 3/4) with AVX-512 (Zen 4): two 256-bit FMA pipes; a 512-bit FMA runs on
  both, so 2 units x 8 lanes (= 1 x 16).
- AMD family 23/25 without AVX-512 (Zen 2/3): 2 x 8. AMD family 26 (Zen 5): 2 x 16 with AVX-512.
- Intel with AVX-512: 2 x 16 (Xeon Gold/Platinum; some Silver/Bronze parts have one 512-bit unit).
- otherwise AVX2+FMA: 2 x 8; SSE only: 2 x 4 (no FMA: counted as mul+add pairs).

The clock is /proc/cpuinfo's "cpu MHz" (a VM reports its nominal clock; boost is not visible), or
``clock_ghz``.
"""

from __future__ import annotations

import os


def _cpuinfo() -> dict[str, str]:
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    key, value = (s.strip() for s in line.split(":", 1))
                    info.setdefault(key, value)
    except OSError:
        pass
    return info


def cpu_peak(cores: int | None = None, clock_ghz: float | None = None, fma_units: int | None = None,
             lanes: int | None = None) -> tuple[float, str]:
    """``(peak fp32 FLOP/s, derivation text)`` for ``cores`` cores (default: those this process may use)."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    vendor, family = info.get("vendor_id", "?"), int(info.get("cpu family", "0") or 0)
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if clock_ghz is None:
        clock_ghz = float(info.get("cpu MHz", "0") or 0) / 1e3
    avx512 = "avx512f" in flags
    if vendor == "AuthenticAMD" and family == 25 and avx512:
        guess, why = (2, 8), "AMD family 25 with AVX-512 = Zen 4: two 256-bit FMA pipes (512-bit ops double-pumped)"
    elif vendor == "AuthenticAMD" and family >= 26 and avx512:
        guess, why = (2, 16), "AMD family 26 = Zen 5: two 512-bit FMA pipes"
    elif avx512:
        guess, why = (2, 16), "AVX-512: assumed two 512-bit FMA units (Xeon Gold/Platinum)"
    elif "fma" in flags and "avx2" in flags:
        guess, why = (2, 8), "AVX2+FMA: two 256-bit FMA units"
    else:
        guess, why = (1, 4), "no FMA flag: SSE, one mul+add pair of 4 lanes"
    fma_units = fma_units or guess[0]
    lanes = lanes or guess[1]
    peak = cores * clock_ghz * 1e9 * fma_units * lanes * 2
    text = (f"fp32 peak = {cores} cores x {clock_ghz:.3f} GHz x {fma_units} FMA units x {lanes} lanes x 2 FLOP "
            f"= {peak / 1e9:.1f} GFLOP/s ({peak / 2e9:.1f} GMAC/s); {info.get('model name', '?')}, {vendor} "
            f"family {family} model {info.get('model', '?')}, AVX-512 {'yes' if avx512 else 'no'}, "
            f"avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}; units: {why}; clock: /proc/cpuinfo "
            f"'cpu MHz' (nominal; boost not visible)")
    return peak, text
