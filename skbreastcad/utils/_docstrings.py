"""Parameter descriptions shared by several estimators, written once.

As imbalanced-learn's ``Substitution``: a docstring names a shared entry by a
line holding only ``{name}``, and :func:`substitute_docs` replaces that line
with the entry, indented like the line it replaces. Only these exact
placeholders are touched, so the braces of option sets (``{"avg", "max"}``)
need no escaping.
"""

import textwrap

__all__ = ["SHARED_PARAMETERS", "substitute_docs"]

SHARED_PARAMETERS = {
    "image_shape": """\
image_shape : tuple of (int, int) or None, default=None
    ``(height, width)`` of flattened input rows, one of which may be -1; None
    when the images come as ``(n_samples, height, width)``. See
    :func:`skbreastcad.utils.validate_images`.""",
    "n_jobs": """\
n_jobs : int or None, default=None
    Threads over chunks of the batch, with joblib's meaning: None is 1 unless
    in a :func:`joblib.parallel_backend` context, -1 is all cores.""",
    "verbose": """\
verbose : int, default=0
    Show a progress bar over the batch when positive.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the randomness described above; pass an int for reproducible
    output across calls.""",
    "device": """\
device : str or torch.device, default="auto"
    Torch device; "auto" picks CUDA when it is available.""",
    "amp": """\
amp : bool or "auto", default="auto"
    Whether to run in bfloat16 autocast; "auto" enables it on GPU only.""",
    "channels_last": """\
channels_last : bool or "auto", default="auto"
    Whether to use the channels-last memory format; "auto" enables it on GPU
    and CPU (faster convolutions on both; the same arithmetic, rounded
    differently).""",
}


def substitute_docs(**entries):
    """Class or function decorator filling ``{name}`` lines of its docstring.

    Parameters
    ----------
    **entries : str
        Extra or overriding entries; :data:`SHARED_PARAMETERS` is used for
        every other name.

    Returns
    -------
    decorator : callable
        Returns the object with its docstring filled in.
    """
    texts = {**SHARED_PARAMETERS, **entries}

    def decorate(obj):
        doc = obj.__doc__
        if doc is None:
            return obj
        lines = []
        for line in doc.splitlines(keepends=True):
            key = line.strip()
            if key.startswith("{") and key.endswith("}") and key[1:-1] in texts:
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(textwrap.indent(texts[key[1:-1]], indent) + "\n")
            else:
                lines.append(line)
        obj.__doc__ = "".join(lines)
        return obj

    return decorate
