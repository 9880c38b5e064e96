"""``njit`` for the kernel modules, which must import without numba.

The kernel modules (``_glcm_kernels``, ``_gabor_kernels``) are imported by
their callers only after :func:`skbreastcad.utils._numba.use_numba` said yes,
but tools that walk the package (``pytest --doctest-modules``, Sphinx) import
every module. Without numba (the optional ``fast`` extra) the kernels are
therefore still defined, as functions that raise an ImportError naming the
extra when called; the NumPy code never calls them.
"""

import functools

from ..utils._numba import ENV_VAR

try:
    from numba import njit
# Not installed (ImportError), or installed but broken (OSError from llvmlite,
# ...): use_numba() then says no, with a warning for the broken case, and the
# reason is kept for the error of a kernel called anyway.
except Exception as exc:
    _REASON = exc

    def njit(**options):
        """Stand-in for ``numba.njit(**options)``: the kernel raises when called."""

        def decorate(function):
            @functools.wraps(function)
            def unavailable(*args, **kwargs):
                raise ImportError(
                    f"The compiled kernel {function.__module__}.{function.__qualname__} needs "
                    f"numba ({_REASON}); install it with `pip install skbreastcad[fast]`, or "
                    f"set the environment variable {ENV_VAR}=0 to use the NumPy code."
                ) from _REASON

            return unavailable

        return decorate
