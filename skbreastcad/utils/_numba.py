"""The optional numba backend: whether compiled kernels run, decided at call time.

numba is an optional dependency (``pip install skbreastcad[fast]``). Modules
that hold kernels take ``njit`` from ``features/_jit.py``, which imports numba
when it can (a stand-in that raises an ``ImportError`` naming the extra when
it cannot, so they still import and collect). They are themselves imported
only inside the functions that call them, after :func:`use_numba` said yes, so
``import skbreastcad`` never loads numba (about 0.3 s and 80 MB of LLVM).

The environment variable ``SKBREASTCAD_NUMBA`` forces the NumPy path when set
to ``0`` (read at every call, so a test or a user can compare both paths in
one process); unset or ``1`` uses numba whenever it can be imported.
"""

import importlib.util
import os
import warnings
from functools import lru_cache

ENV_VAR = "SKBREASTCAD_NUMBA"
_OFF = frozenset({"0", "false", "no", "off"})
_ON = frozenset({"", "1", "true", "yes", "on"})


@lru_cache(maxsize=1)
def _importable():
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        import numba  # noqa: F401
    # installed, but broken: a NumPy it does not support (ImportError), an llvmlite
    # whose shared library does not load (OSError), ...; warned, never silent
    except Exception as exc:
        warnings.warn(
            f"numba is installed but cannot be imported ({exc}); skbreastcad uses its NumPy "
            f"code instead. Set {ENV_VAR}=0 to choose that explicitly and silence this warning.",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def use_numba():
    """Whether the compiled kernels should run now.

    Returns
    -------
    bool
        False when ``SKBREASTCAD_NUMBA`` is ``0`` (or ``false``/``no``/``off``)
        or numba cannot be imported; True otherwise. The first True imports
        numba.

    Raises
    ------
    ValueError
        If ``SKBREASTCAD_NUMBA`` holds anything else than the values above and
        ``1``/``true``/``yes``/``on``.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in _OFF:
        return False
    if value not in _ON:
        raise ValueError(
            f"The environment variable {ENV_VAR} must be 0 (NumPy code) or 1 (numba kernels "
            f"where numba is installed); got {os.environ[ENV_VAR]!r}."
        )
    return _importable()


def numba_version():
    """The installed numba's version, or None; imports nothing.

    Returns
    -------
    str or None
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("numba")
    except PackageNotFoundError:
        return None
