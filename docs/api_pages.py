"""Write the API reference pages from each public subpackage's ``__all__``.

One page per subpackage with an autosummary table; autosummary then writes a page per
public class and function. Generated at every build, so a new public name is documented
the day it is exported and a removed one disappears.
"""

import importlib
from pathlib import Path

#: The public modules, in the order of the layers (lowest first), with a one-line summary.
PACKAGES = [
    ("skbreastcad.datasets", "Data loaders and synthetic phantoms"),
    ("skbreastcad.features", "Texture and CNN layer features"),
    ("skbreastcad.nn", "The backbone registry"),
    ("skbreastcad.sampling", "Over-sampling and class weights"),
    ("skbreastcad.augmentation", "Batched image augmentation"),
    ("skbreastcad.models", "Transfer-learning classifiers"),
    ("skbreastcad.ensemble", "Seed ensembles, fold averaging, test-time augmentation"),
    ("skbreastcad.metrics", "The study's metrics and scorers"),
    ("skbreastcad.evaluation", "Cross-validated evaluation, confidence intervals, reports"),
    ("skbreastcad.plotting", "Figures"),
    ("skbreastcad.experiments", "The study's experiments"),
    ("skbreastcad.detection", "Whole films: lesion maps, candidates, FROC, explanations"),
    ("skbreastcad.persistence", "Safe model folders and model cards"),
]


def _public(module):
    """Our public classes and functions, and the names re-exported from other packages."""
    names, foreign = [], []
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name)
        if not (isinstance(obj, type) or callable(obj)):
            continue
        home = getattr(obj, "__module__", "") or ""
        (names if home.startswith("skbreastcad") else foreign).append(name)
    order = sorted(names, key=lambda n: (not isinstance(getattr(module, n), type), n.lower()))
    return order, sorted(foreign)


def write_api_pages(folder):
    """Write ``folder/index.rst`` and one page per importable package; return their names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, documented = [], set()
    for name, summary in PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        names, foreign = _public(module)
        if not names:
            continue
        title = f":mod:`{name}`: {summary}"
        lines = [
            title,
            "=" * len(title),
            "",
            f".. automodule:: {name}",
            "   :no-members:",
            "   :no-index:",
            "",
            f".. currentmodule:: {name}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "   :nosignatures:",
            "",
        ]
        lines += [f"   {n}" for n in names]
        documented.update(f"{name}.{n}" for n in names)
        for n in foreign:
            home = getattr(module, n).__module__.split(".")[0]
            lines += ["", f"``{name}.{n}`` is re-exported from ``{home}`` and documented there."]
        _write_if_changed(folder / f"{name.split('.')[-1]}.rst", "\n".join(lines) + "\n")
        written.append(name)
    index = [
        "API reference",
        "=============",
        "",
        "Every public class and function, by subpackage, from the lowest layer up.",
        "Each page links the gallery examples that use it.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ] + [f"   {n.split('.')[-1]}" for n in written]
    _write_if_changed(folder / "index.rst", "\n".join(index) + "\n")
    # a name no longer public loses its page (autosummary never deletes one)
    for page in (folder / "generated").glob("skbreastcad.*.rst"):
        if page.stem not in documented:
            page.unlink()
    return written


def _write_if_changed(path, text):
    # an unchanged page keeps its timestamp, so incremental builds stay incremental
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
