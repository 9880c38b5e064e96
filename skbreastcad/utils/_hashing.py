"""One answer to "is this the same data?": a SHA-256 digest of arrays and plain values.

Reports record it as their data fingerprint and resumable fits compare it with the
one in their run folder, so the digest must not depend on the process: by default
an object whose text holds a memory address is refused.
"""

import hashlib

import numpy as np

__all__ = ["hash_data"]


def hash_data(*objects, strict=True):
    """SHA-256 of arrays' shapes, dtypes and bytes: equal digests, equal data.

    Numeric and string arrays (and anything :func:`numpy.asarray` turns into
    one) are hashed by shape, dtype and bytes; object arrays and other plain
    values (dicts, mixed lists) by their ``repr``; ``None`` by a marker.

    Parameters
    ----------
    *objects : array-like, plain Python value or None
        The data to hash, in order.
    strict : bool, default=True
        Refuse objects whose digest would change from one process to the next;
        False hashes their ``repr`` anyway (a digest only good within the
        process, which is all a report's record of odd inputs can be).

    Returns
    -------
    digest : str
        64 hexadecimal characters.

    Raises
    ------
    TypeError
        With ``strict``, when an object's ``repr`` holds a memory address (a
        lambda, an instance without its own ``repr``).

    Examples
    --------
    >>> import numpy as np
    >>> hash_data([1, 2, 3]) == hash_data(np.array([1, 2, 3]))
    True
    >>> hash_data([1, 2, 3]) == hash_data(np.array([1, 2, 3], dtype=np.int8))
    False
    """
    digest = hashlib.sha256()
    for k, obj in enumerate(objects):
        if obj is None:
            digest.update(b"None")
            continue
        a = np.ascontiguousarray(np.asarray(obj))
        if a.dtype == object:
            text = repr(a.tolist())
            if strict and " at 0x" in text:
                raise TypeError(
                    f"Object {k} ({type(obj).__name__}) cannot be hashed reproducibly: its repr "
                    f"holds a memory address ({text[:120]!r}). Pass plain data or module-level names."
                )
            digest.update(text.encode())
        else:
            digest.update(f"{a.shape}{a.dtype.str}".encode())
            digest.update(a.tobytes())
    return digest.hexdigest()
