"""Training histories as plain Python, for files that load anywhere (``weights_only``, JSON)."""

__all__ = ["plain"]


def plain(obj):
    """``obj`` with every numpy or torch scalar turned into a Python one.

    Walks dicts, lists and tuples (tuples become lists). A NumPy scalar
    (``np.generic``), a 0-d NumPy array and a 0-d torch tensor become the
    Python number (or bool) they hold; anything else is returned as it is.
    Without torch imported, nothing here imports it.

    Parameters
    ----------
    obj : object
        A skorch history (``list(net.history)``), a callback's state, ...

    Returns
    -------
    plain : object
    """
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    # np.generic, 0-d ndarrays and 0-d tensors alike: duck-typed, so torch stays unimported
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    return obj
