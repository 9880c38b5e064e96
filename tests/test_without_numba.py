"""The texture features on an install without numba (the optional ``fast`` extra).

Each test runs a fresh interpreter in which ``sys.modules["numba"] = None``:
``import numba`` raises ImportError and ``importlib.util.find_spec("numba")``
returns None, exactly as when numba is not installed, whether or not it is
installed here.
"""

import ast
import os
import pkgutil
import subprocess
import sys
import textwrap

import numpy as np

import skbreastcad
import skbreastcad.features
from skbreastcad.features import GaborFeatures, GLCMFeatures

ROOT = os.path.dirname(os.path.dirname(skbreastcad.__file__))
BLOCK_NUMBA = "import sys\nsys.modules['numba'] = None\n"


def _run_without_numba(code):
    """Run ``code`` with numba unimportable and SKBREASTCAD_NUMBA unset; its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "SKBREASTCAD_NUMBA"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", BLOCK_NUMBA + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_doctest_collection_imports_every_features_module_without_numba():
    """``pytest --doctest-modules`` imports every module it walks, the kernel
    modules included, so none of them may import numba unconditionally."""
    features_dir = os.path.dirname(skbreastcad.features.__file__)
    expected = sorted(
        f"skbreastcad.features.{info.name}" for info in pkgutil.iter_modules([features_dir])
    )
    assert "skbreastcad.features._glcm_kernels" in expected
    assert "skbreastcad.features._gabor_kernels" in expected
    out = _run_without_numba(
        f"""
        import pytest

        code = pytest.main(
            ["--collect-only", "-q", "--doctest-modules", "-p", "no:cacheprovider",
             {features_dir!r}]
        )
        print("MODULES", sorted(m for m in sys.modules if m.startswith("skbreastcad.features.")))
        print("NUMBA", sys.modules["numba"])
        raise SystemExit(code)
        """
    )
    assert "GLCMFeatures" in out and "GaborFeatures" in out  # the doctests were collected
    modules = next(line for line in out.splitlines() if line.startswith("MODULES "))
    assert ast.literal_eval(modules.removeprefix("MODULES ")) == expected
    assert "NUMBA None" in out  # still blocked: nothing imported a real numba


def test_transform_without_numba_equals_the_numpy_code(tmp_path, monkeypatch):
    """Without numba, transform takes the NumPy code (no warning) and gives
    exactly what it gives with ``SKBREASTCAD_NUMBA=0``, on settings that the
    compiled kernels would otherwise run."""
    path = tmp_path / "without_numba.npz"
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(4, 40, 36), dtype=np.uint8)
    mask = np.zeros(X.shape, dtype=bool)
    mask[:, 4:34, 3:30] = True
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "mask.npy", mask)
    glcm_settings = [
        {},  # 32 bins: counted and summarised by glcm_features with numba
        {"discretisation": "none", "aggregation": "none"},  # 256 levels
        {"discretisation": "fixed_bin_width", "bin_width": 1.0},  # up to 256 levels, masked
    ]
    _run_without_numba(
        f"""
        import numpy as np
        from skbreastcad.features import GaborFeatures, GLCMFeatures
        from skbreastcad.utils._numba import use_numba

        assert not use_numba()
        X = np.load({str(tmp_path / "X.npy")!r})
        mask = np.load({str(tmp_path / "mask.npy")!r})
        out = {{}}
        for i, params in enumerate({glcm_settings!r}):
            est = GLCMFeatures(**params).fit(X)
            out[f"glcm{{i}}"] = est.transform(X)
            out[f"glcm{{i}}_masked"] = est.transform(X, mask=mask)
        gabor = GaborFeatures(frequencies=(0.5, 0.1)).fit(X)
        out["gabor"] = gabor.transform(X)
        out["gabor_masked"] = gabor.transform(X, mask=mask)
        np.savez({str(path)!r}, **out)
        assert sys.modules["numba"] is None
        """
    )
    got = np.load(path)
    monkeypatch.setenv("SKBREASTCAD_NUMBA", "0")
    for i, params in enumerate(glcm_settings):
        est = GLCMFeatures(**params).fit(X)
        np.testing.assert_array_equal(got[f"glcm{i}"], est.transform(X))
        np.testing.assert_array_equal(got[f"glcm{i}_masked"], est.transform(X, mask=mask))
    gabor = GaborFeatures(frequencies=(0.5, 0.1)).fit(X)
    np.testing.assert_array_equal(got["gabor"], gabor.transform(X))
    np.testing.assert_array_equal(got["gabor_masked"], gabor.transform(X, mask=mask))
    assert np.isfinite(got["glcm0"]).all() and np.isfinite(got["gabor"]).all()


def test_a_kernel_called_without_numba_names_the_extra():
    out = _run_without_numba(
        """
        from skbreastcad.features import _gabor_kernels, _glcm_kernels

        for kernel in (_glcm_kernels.glcm_cells, _gabor_kernels.gabor_sums):
            try:
                kernel()
            except ImportError as exc:
                print(exc)
            else:
                raise AssertionError(f"{kernel} ran without numba")
        """
    )
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "_glcm_kernels.glcm_cells needs numba" in lines[0]
    assert "_gabor_kernels.gabor_sums needs numba" in lines[1]
    assert all("pip install skbreastcad[fast]" in line for line in lines)
    assert all("SKBREASTCAD_NUMBA=0" in line for line in lines)
