"""The documentation site's generated parts: the API pages cover every public name."""

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import skbreastcad

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def api_pages():
    sys.path.insert(0, str(DOCS))
    try:
        return importlib.import_module("api_pages")
    finally:
        sys.path.remove(str(DOCS))


def test_every_public_subpackage_has_an_api_page(api_pages):
    listed = {name for name, _ in api_pages.PACKAGES}
    public = set()
    for info in pkgutil.iter_modules(skbreastcad.__path__):
        if info.name.startswith("_") or info.name in {"cli", "utils"}:
            continue
        module = importlib.import_module(f"skbreastcad.{info.name}")
        if getattr(module, "__all__", None):
            public.add(module.__name__)
    assert public <= listed, f"public modules without an API page: {sorted(public - listed)}"


def test_api_pages_list_every_public_name_once(api_pages, tmp_path):
    written = api_pages.write_api_pages(tmp_path)
    text = {name: (tmp_path / f"{name.split('.')[-1]}.rst").read_text() for name in written}
    for name in written:
        module = importlib.import_module(name)
        ours, foreign = api_pages._public(module)
        entries = [line.strip() for line in text[name].splitlines() if line.startswith("   ")]
        assert sorted(e for e in entries if not e.startswith(":")) == sorted(ours)
        for other in foreign:
            assert f"``{name}.{other}`` is re-exported" in text[name]
    index = (tmp_path / "index.rst").read_text()
    assert all(f"   {name.split('.')[-1]}" in index for name in written)


def test_a_page_of_a_name_no_longer_public_is_removed(api_pages, tmp_path):
    stale = tmp_path / "generated" / "skbreastcad.features.OldName.rst"
    stale.parent.mkdir()
    stale.write_text("old\n")
    kept = tmp_path / "generated" / "skbreastcad.features.GLCMFeatures.rst"
    kept.write_text("kept\n")
    api_pages.write_api_pages(tmp_path)
    assert not stale.exists() and kept.exists()


def test_gallery_examples_have_a_title_and_run_as_scripts():
    scripts = sorted(EXAMPLES.glob("plot_*.py"))
    assert len(scripts) >= 8
    for script in scripts:
        source = script.read_text()
        docstring = source.split('"""')[1].strip().splitlines()
        # sphinx-gallery takes the first line as the title and needs its underline
        assert len(docstring) >= 2 and set(docstring[1]) == {"="}, script.name
        assert len(docstring[1]) >= len(docstring[0]), script.name
        compile(source, str(script), "exec")
