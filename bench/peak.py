"""The fp32 peak of the CPU cores a benchmark ran on: measured (default), or derived from /proc/cpuinfo.

Measured (:func:`measured_peak`): the best rate of a large float32 matrix product (numpy's BLAS, in a
subprocess pinned to the benchmark's thread count), an attainable peak that needs no knowledge of the
microarchitecture and sees the real clock. A VM's /proc/cpuinfo may name a CPU that is not the one
underneath, or none ("AMD EPYC"), and hides the boost clock, so the derived figure below can be off
by 2x either way; it is printed beside the measured one, never used when a measurement succeeds.

Derived:

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
import subprocess
import sys


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


_SGEMM = """
import sys, time
import numpy as np
n, repeats = int(sys.argv[1]), int(sys.argv[2])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
a @ b  # warm-up: threads started, pages touched
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - start)
print(2 * n ** 3 / best)
"""


def measured_peak(threads: int, n: int = 1536, repeats: int = 7, timeout_s: float = 120) -> float | None:
    """Best float32 FLOP/s of an ``n`` x ``n`` matrix product on ``threads`` BLAS threads, or None when the
    measurement fails (no numpy BLAS, a timeout). Runs in a subprocess: BLAS libraries read their thread
    count from the environment when they load."""
    env = {**os.environ, **{v: str(threads) for v in
                            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")}}
    try:
        r = subprocess.run([sys.executable, "-c", _SGEMM, str(n), str(repeats)], env=env, capture_output=True,
                           text=True, timeout=timeout_s, check=True)
        return float(r.stdout.split()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def cpu_peak(cores: int | None = None, clock_ghz: float | None = None, fma_units: int | None = None,
             lanes: int | None = None, measure: bool = True) -> tuple[float, str]:
    """``(peak fp32 FLOP/s, derivation text)`` for ``cores`` cores (default: those this process may use).

    With ``measure`` (and no override of the derivation), the peak is :func:`measured_peak`; the derived
    figure is in the text. Otherwise, or when the measurement fails, it is the derived one."""
    clock_ghz_given, fma_units_given, lanes_given = clock_ghz, fma_units, lanes
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
    elif vendor == "AuthenticAMD" and family == 25:
        guess, why = (2, 8), "AMD family 25 without AVX-512 = Zen 3: two 256-bit FMA pipes"
    elif avx512:
        amx = " (AMX present: its bfloat16/int8 tiles are not counted)" if "amx_tile" in flags else ""
        guess, why = (2, 16), "AVX-512: assumed two 512-bit FMA units (Xeon Gold/Platinum)" + amx
    elif "fma" in flags and "avx2" in flags:
        guess, why = (2, 8), "AVX2+FMA: two 256-bit FMA units"
    else:
        guess, why = (1, 4), "no FMA flag: SSE, one mul+add pair of 4 lanes"
    fma_units = fma_units or guess[0]
    lanes = lanes or guess[1]
    peak = cores * clock_ghz * 1e9 * fma_units * lanes * 2
    derived = (f"derived fp32 peak = {cores} cores x {clock_ghz:.3f} GHz x {fma_units} FMA units x {lanes} lanes "
               f"x 2 FLOP = {peak / 1e9:.1f} GFLOP/s ({peak / 2e9:.1f} GMAC/s); {info.get('model name', '?')}, "
               f"{vendor} family {family} model {info.get('model', '?')}, AVX-512 {'yes' if avx512 else 'no'}, "
               f"avx512_bf16 {'yes' if 'avx512_bf16' in flags else 'no'}; units: {why}; clock: /proc/cpuinfo "
               f"'cpu MHz' (nominal; boost not visible)")
    overridden = any(v is not None for v in (clock_ghz_given, fma_units_given, lanes_given))
    measured = measured_peak(cores) if measure and not overridden else None
    if measured is None:
        why_not = "overridden" if overridden else ("not asked" if not measure else "measurement failed")
        return peak, f"fp32 peak: the derived one ({why_not}); {derived}"
    return measured, (f"fp32 peak = {measured / 1e9:.1f} GFLOP/s ({measured / 2e9:.1f} GMAC/s), measured: the best "
                      f"float32 1536x1536 matrix product on {cores} BLAS thread(s) (bench/peak.py); {derived}")
