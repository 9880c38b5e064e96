"""Shared helpers of skbreastcad.utils: the data hash and deprecated aliases."""

import warnings

import numpy as np
import pytest

from skbreastcad.utils._deprecation import deprecated_alias
from skbreastcad.utils._hashing import hash_data


def test_hash_data_tells_data_apart_by_values_shape_and_dtype():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert hash_data(a) == hash_data(a.tolist()) == hash_data(np.asfortranarray(a))
    assert len({hash_data(a), hash_data(a.reshape(4, 3)), hash_data(a.astype(np.int32))}) == 3
    b = a.copy()
    b[2, 3] += 1
    assert hash_data(a) != hash_data(b)
    # the order and the None markers count
    assert hash_data(a, None) != hash_data(None, a)
    # plain settings hash by their repr
    assert hash_data({"lr": 0.1, "name": "x"}) == hash_data({"lr": 0.1, "name": "x"})
    assert hash_data({"lr": 0.1}) != hash_data({"lr": 0.2})


def test_hash_data_refuses_what_changes_between_processes():
    with pytest.raises(TypeError, match="Object 1 .* memory address"):
        hash_data([1], {"fn": lambda x: x})
    assert len(hash_data({"fn": lambda x: x}, strict=False)) == 64


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
