"""Sphinx configuration: the skbreastcad documentation site.

Build it with ``make -C docs html`` (the example gallery executed, as CI does) or
``make -C docs html-noplot`` (no gallery run, for quick local builds). Warnings are errors.
"""

import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from api_pages import write_api_pages  # noqa: E402

import skbreastcad  # noqa: E402

project = "skbreastcad"
author = "the skbreastcad developers"
copyright = "2026, the skbreastcad developers"  # noqa: A001
version = release = skbreastcad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "api/generated/*.examples", "**/README.md"]
templates_path = ["_templates"]

# --- API reference: one page per public name, generated from each subpackage's __all__ ----
API_PACKAGES = write_api_pages(HERE / "api")
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# the references in the docstrings cite papers as :doi:`...`, as scikit-learn's do
extlinks = {"doi": ("https://doi.org/%s", "doi:%s")}

# --- Markdown pages -----------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# --- Intersphinx: offline by default --------------------------------------------------------
# CI and the developers' machines have no internet: the inventories are fetched only when
# SKBREASTCAD_DOCS_INTERSPHINX=1, so an offline build has no broken-link warnings.
intersphinx_mapping = {}
if os.environ.get("SKBREASTCAD_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "imblearn": ("https://imbalanced-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
    }

# --- Example gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": "True",
    # pyplot's figures, and the figures skbreastcad.plotting returns without pyplot
    "image_scrapers": ("matplotlib", "gallery_scrapers.figure_scraper"),
    "doc_module": ("skbreastcad",),
    "backreferences_dir": "api/generated/backreferences",
    "inspect_global_variables": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": False,
}

# --- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skbreastcad {version}"
html_static_path = []
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False

# Third-party deprecations while importing examples are not ours to fix.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_{method}_request on every estimator; their docstrings refer to
    # scikit-learn's own glossary. They are documented there, not on every class here.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
