"""SHA-256 fingerprints that answer "is this the same data (and the same settings)?".

One scheme for the whole package: evaluation records which data a report was
computed on, and :class:`~skbreastcad.models.TwoStageTransferClassifier` finds an
interrupted fit of the same data and settings again to resume it.
"""

import hashlib
import io
import pickle

import numpy as np

__all__ = ["data_fingerprint", "settings_fingerprint"]


def _update(digest, a):
    if a is None:
        digest.update(b"None")
        return
    a = np.ascontiguousarray(np.asarray(a))
    if a.dtype == object:
        digest.update(repr(a.tolist()).encode())
    else:
        # the shape and dtype too: the same bytes read as another array are other data
        digest.update(f"{a.shape}{a.dtype.str}".encode())
        digest.update(a.tobytes())


def data_fingerprint(*arrays):
    """SHA-256 of arrays' shapes, dtypes and bytes: equal fingerprints, equal data.

    Parameters
    ----------
    *arrays : array-like or None
        The data to fingerprint, in order; None is hashed as a marker.

    Returns
    -------
    fingerprint : str
        Hex digest (64 characters).

    Examples
    --------
    >>> import numpy as np
    >>> data_fingerprint([1, 2, 3]) == data_fingerprint(np.array([1, 2, 3]))
    True
    >>> data_fingerprint(np.zeros(2, np.uint8)) == data_fingerprint(np.zeros(1, np.uint16))
    False
    """
    digest = hashlib.sha256()
    for a in arrays:
        _update(digest, a)
    return digest.hexdigest()


def settings_fingerprint(settings):
    """SHA-256 of plain settings (numbers, strings, tuples, lists, dicts, picklable objects).

    Parameters
    ----------
    settings : object
        Picklable by reference or by value: module-level functions and
        classes are, lambdas and local functions are not.

    Returns
    -------
    fingerprint : str
        Hex digest (64 characters).

    Raises
    ------
    pickle.PicklingError, TypeError or AttributeError
        If ``settings`` cannot be pickled.

    Examples
    --------
    >>> settings_fingerprint({"lr": 0.1}) == settings_fingerprint({"lr": 0.1})
    True
    """
    buffer = io.BytesIO()
    # protocol fixed: a newer Python's default would change every fingerprint
    pickler = pickle.Pickler(buffer, protocol=4)
    # no memo: otherwise two equal strings pickle differently when they are
    # one object in one process and two in another
    pickler.fast = True
    pickler.dump(settings)
    return hashlib.sha256(buffer.getvalue()).hexdigest()
