"""Limit OpenBLAS to one thread while the plans run.

The models are small (hundreds of rows, ~100 fixed effects) and fitted hundreds of
times (randomization inference); multi-threaded OpenBLAS on such matrices is an order
of magnitude *slower* on a loaded 2-core machine (measured: one Poisson TWFE 1.6 s vs
0.09 s). Thread counts do not change the results beyond floating-point summation order
(the determinism test runs under the same setting). Works through the OpenBLAS builds
shipped in the numpy/scipy wheels (threadpoolctl is not a dependency); a no-op if they
cannot be found.
"""

from __future__ import annotations

import ctypes
import re
from contextlib import contextmanager

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _libraries():
    try:
        maps = open("/proc/self/maps", encoding="utf-8").read()
    except OSError:
        return []
    found = []
    for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so[\.\d]*)", maps))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            found.append((setter, getter))
    return found


@contextmanager
def single_threaded_blas():
    import numpy  # noqa: F401  (make sure the BLAS libraries are loaded)
    import scipy.linalg  # noqa: F401

    libs = _libraries()
    before = [int(g()) for _, g in libs]
    for s, _ in libs:
        s(1)
    try:
        yield
    finally:
        for (s, _), n in zip(libs, before):
            s(n)
