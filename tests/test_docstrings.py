"""numpydoc validation of every public docstring, as scikit-learn's ``test_docstrings.py``."""

import importlib
import inspect
import pkgutil

import pytest

import skbreastcad

numpydoc_validation = pytest.importorskip("numpydoc.validate")

# Checks we do not enforce, with why (scikit-learn ignores most of these too).
IGNORED_CHECKS = {
    "GL01",  # summary on the line after the opening quotes: we start on the first line
    "ES01",  # an extended summary is welcome, not required
    "SA01",  # a See Also section is welcome, not required
    "EX01",  # Examples are required of classes and public functions below, not of methods
    "RT02",  # "name : type" in Returns is the scikit-learn style
}


def _public_modules():
    yield skbreastcad
    for info in pkgutil.walk_packages(skbreastcad.__path__, prefix="skbreastcad."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        yield importlib.import_module(info.name)


def _own(obj):
    return getattr(obj, "__module__", "").startswith("skbreastcad")


def _public_api():
    """Dotted names of public functions, classes and their own public methods."""
    names = set()
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _own(obj):
                continue
            path = f"{obj.__module__}.{obj.__qualname__}"
            names.add((path, True))
            if inspect.isclass(obj):
                for attr, member in inspect.getmembers(obj):
                    static = inspect.getattr_static(obj, attr, None)
                    if isinstance(static, (classmethod, staticmethod)):
                        member = static.__func__
                    member = getattr(member, "fget", member)  # a property's getter
                    if attr.startswith("_") or not inspect.isfunction(member) or not _own(member):
                        continue  # private, or inherited from scikit-learn and friends
                    names.add((f"{path}.{attr}", False))
    return sorted(names)


PUBLIC_API = _public_api()


def test_the_public_api_is_found():
    found = {name for name, _ in PUBLIC_API}
    assert "skbreastcad.features._glcm.GLCMFeatures" in found
    assert "skbreastcad.features._glcm.GLCMFeatures.fit" in found  # inherited from our base
    assert "skbreastcad.features._glcm.GLCMFeatures.get_params" not in found  # scikit-learn's
    assert "skbreastcad.ensemble._averaged.AveragedClassifier.from_fitted" in found  # classmethod
    assert "skbreastcad.features._base.BaseImageTransformer.fit" not in found  # private class
    assert len(found) > 30


@pytest.mark.parametrize("path, top_level", PUBLIC_API, ids=[p for p, _ in PUBLIC_API])
def test_docstring(path, top_level):
    result = numpydoc_validation.validate(path)
    ignored = set(IGNORED_CHECKS)
    if top_level:
        ignored.discard("EX01")
    errors = [f"{code}: {message}" for code, message in result["errors"] if code not in ignored]
    assert not errors, f"{path} ({result['file']}:{result['file_line']}):\n" + "\n".join(errors)


def test_shared_parameter_docs_are_filled_in():
    from skbreastcad.utils._docstrings import SHARED_PARAMETERS, substitute_docs

    for path, _ in PUBLIC_API:
        obj = numpydoc_validation.Validator._load_obj(path)
        for key in SHARED_PARAMETERS:
            assert f"{{{key}}}" not in (obj.__doc__ or ""), f"{path}: {{{key}}} was not substituted"

    @substitute_docs(extra="extra : int\n    Described once.")
    def f(extra, n_jobs):
        """Do nothing.

        Parameters
        ----------
        {extra}
        {n_jobs}
        """

    assert "\n        extra : int\n            Described once.\n" in f.__doc__
    assert "\n            Threads over chunks" in f.__doc__
    assert f.__doc__.endswith("\n        ")
