"""Heavy dependencies load lazily: the texture features, the backbone registry's
module and the models package import without torch, torchvision or skorch."""

import importlib.util

import pytest

import skbreastcad

HEAVY = ("torch", "torchvision", "skorch", "timm")


def _run(code, **environ):
    """Run ``code`` in a fresh interpreter (this one has torch loaded already)."""
    from conftest import fresh_python

    result = fresh_python(code, **environ)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_glcm_features_fit_without_loading_torch():
    out = _run(
        f"""
        import sys
        import numpy as np
        import skbreastcad.features
        from skbreastcad.features import GLCMFeatures

        X = np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8)
        features = GLCMFeatures().fit(X).transform(X)
        assert features.shape[0] == 6 and np.isfinite(features).all()
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_texture_features_import_without_numba_until_a_transform_runs():
    """numba (the optional ``fast`` backend) loads on the first transform, and not
    at all with SKBREASTCAD_NUMBA=0."""
    has_numba = importlib.util.find_spec("numba") is not None
    code = """
        import os, sys
        import numpy as np
        from skbreastcad.features import GaborFeatures, GLCMFeatures, HaarFeatures

        X = np.random.default_rng(0).integers(0, 256, (3, 24, 24), dtype=np.uint8)
        glcm = GLCMFeatures().fit(X)
        gabor = GaborFeatures(frequencies=(0.5,)).fit(X)
        print("numba" in sys.modules)
        glcm.transform(X)
        gabor.transform(X)
        print("numba" in sys.modules)
        """
    assert _run(code).split() == ["False", str(has_numba)]
    assert _run(code, SKBREASTCAD_NUMBA="0").split() == ["False", "False"]


def test_nn_and_models_import_without_torch_until_used():
    out = _run(
        f"""
        import sys
        import skbreastcad.features, skbreastcad.models, skbreastcad.nn
        from skbreastcad.models import SourceData, TwoStageTransferClassifier
        from skbreastcad.nn import VGG16_STUDY_LAYERS, BackboneSpec
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        # a constrained torch parameter is checked without torch too
        TwoStageTransferClassifier(device="cpu")._validate_params()
        print(sorted(m for m in {HEAVY!r} if m in sys.modules))
        skbreastcad.nn.list_backbones()
        print("torch" in sys.modules)
        """
    )
    assert out.split("\n")[:3] == ["[]", "[]", "True"]


def test_lazy_cnn_layer_features_is_listed_and_importable():
    import skbreastcad.features as features

    assert "CNNLayerFeatures" in dir(features) and "CNNLayerFeatures" in features.__all__
    from skbreastcad.features._cnn import CNNLayerFeatures

    assert features.CNNLayerFeatures is CNNLayerFeatures
    with pytest.raises(AttributeError, match="no attribute 'CNNFeatures'"):
        features.CNNFeatures  # noqa: B018


@pytest.mark.parametrize("package", ["features", "models", "nn", "sampling"])
def test_every_name_in_all_is_importable(package):
    import importlib

    module = importlib.import_module(f"skbreastcad.{package}")
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_every_public_name_has_one_home():
    """A public name is exported by exactly one public package (its home)."""
    import importlib
    import pkgutil

    homes = {}
    for info in pkgutil.walk_packages(skbreastcad.__path__, prefix="skbreastcad."):
        if any(part.startswith("_") for part in info.name.split(".")) or not info.ispkg:
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            homes.setdefault(name, []).append(info.name)
    shared = {name: where for name, where in homes.items() if len(where) > 1}
    assert not shared, f"names exported by several packages: {shared}"
    assert homes["GLCM_FEATURE_NAMES"] == ["skbreastcad.features"]
    assert homes["list_backbones"] == ["skbreastcad.nn"]


def test_private_scikit_learn_apis_are_imported_in_one_place():
    """Only utils/_sklearn_compat.py imports scikit-learn's private names."""
    import ast
    from pathlib import Path

    root = Path(skbreastcad.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "_sklearn_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
                private_module = any(part.startswith("_") for part in node.module.split("."))
                private_names = [a.name for a in node.names if a.name.startswith("_")]
                if private_module or private_names:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} {node.module}")
    assert not offenders, "import these through skbreastcad.utils._sklearn_compat: " + ", ".join(
        offenders
    )
