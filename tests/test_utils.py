"""Shared helpers of skbreastcad.utils: deprecated aliases."""

import warnings

import pytest

from skbreastcad.utils._deprecation import deprecated_alias


def test_deprecated_alias_warns_delegates_and_documents():
    def new(x, *, scale=2):
        """Scale a number.

        Parameters
        ----------
        x : float
            The number.
        scale : float, default=2
            The factor.

        Returns
        -------
        y : float
            ``x * scale``.
        """
        return x * scale

    old = deprecated_alias(new, "pkg.old", since="0.1", removed_in="0.2", replacement="pkg.new")
    with pytest.warns(
        FutureWarning, match=r"pkg.old is deprecated since 0.1 .* in 0.2; use pkg.new"
    ):
        assert old(3, scale=5) == 15
    assert old.__name__ == "old" and old.__module__ == "pkg"
    assert old.__doc__.startswith("Scale a number.\n\n    .. deprecated:: 0.1\n")
    assert "Parameters" in old.__doc__

    def adapter(x, factor):
        return new(x, scale=factor) + 1

    older = deprecated_alias(new, "pkg.older", since="0.1", removed_in="0.2", adapter=adapter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert older(3, 5) == 16
    assert [w.category for w in caught] == [FutureWarning]
    # the warning points at the caller's line, not at the alias
    assert caught[0].filename == __file__
