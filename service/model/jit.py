"""numba's ``njit``, with numba imported so that it does not import scipy.

numba looks for scipy twice: ``import numba`` checks its version, and numba's array maths, loaded
at the first compiled call, imports ``scipy.linalg.cython_blas`` to learn whether ``np.dot`` and
``np.linalg`` can be compiled. That holds scipy's linear algebra (about 18 MB resident) in a
worker whose kernels call neither. So the first import of numba and of that module run with
scipy hidden, as if it were not installed, and numba leaves those functions out: a kernel that
called one would fail to compile in the tests, not silently. When scipy is imported already
(training imports scikit-learn), numba sees it as usual. Every module of ours that compiles
imports ``njit`` from here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType


class _HideScipy(MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "scipy" or fullname.startswith("scipy."):
            raise ModuleNotFoundError(f"{fullname} is hidden while numba loads", name=fullname)
        return None


@contextmanager
def _scipy_hidden() -> Iterator[None]:
    if "scipy" in sys.modules:
        yield
        return
    finder = _HideScipy()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


# At import, under the import lock: start-up is single-threaded, so no other import of scipy can
# meet the finder.
with _scipy_hidden():
    import numba
    import numba.np.arraymath

njit = numba.njit
