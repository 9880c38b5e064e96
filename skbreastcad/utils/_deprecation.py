"""Deprecated aliases: an old name that warns and calls its new home for one release."""

import functools
import warnings

__all__ = ["deprecated_alias"]


def deprecated_alias(new, old_name, *, since, removed_in, replacement=None, adapter=None):
    """Build a function that warns (``FutureWarning``) and delegates to ``new``.

    Parameters
    ----------
    new : callable
        The function that does the work now; its docstring is reused, with a
        ``.. deprecated::`` note after its summary line.
    old_name : str
        The dotted name users called, named in the warning.
    since, removed_in : str
        Versions in which the alias was deprecated and will be removed.
    replacement : str, default=None
        What to call instead, as written in the warning; ``new``'s dotted name
        by default.
    adapter : callable, default=None
        Called with the alias's arguments instead of ``new`` when the old
        signature differs (a required positional ``path``, another return
        value); it must delegate to ``new`` itself.

    Returns
    -------
    alias : callable
        The deprecated function.
    """
    replacement = replacement or f"{new.__module__.split('._')[0]}.{new.__qualname__}"
    message = (
        f"{old_name} is deprecated since {since} and will be removed in {removed_in}; "
        f"use {replacement} instead."
    )
    target = adapter or new

    @functools.wraps(target)
    def alias(*args, **kwargs):
        warnings.warn(message, FutureWarning, stacklevel=2)
        return target(*args, **kwargs)

    doc = target.__doc__ or new.__doc__ or ""
    summary, _, rest = doc.partition("\n")
    note = f"\n\n    .. deprecated:: {since}\n        Use ``{replacement}`` instead.\n"
    alias.__doc__ = summary + note + rest if rest else summary + note
    alias.__name__ = old_name.rsplit(".", 1)[-1]
    alias.__qualname__ = alias.__name__
    alias.__module__ = old_name.rsplit(".", 1)[0]
    return alias
