"""A missing optional extra is an ImportError that names the extra to install.

torch, torchvision, skorch and pydicom are installed here, so a fresh
interpreter hides them with a meta-path finder that reports them missing, as
Python does on a machine without them.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import skbreastcad
from skbreastcad.utils._optional import EXTRAS, optional_import

BLOCKER = """
import sys

BLOCKED = {"torch", "torchvision", "skorch", "pydicom"}


class NotInstalled:
    # what the path finder reports for a distribution that is not installed
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in BLOCKED:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None


sys.meta_path.insert(0, NotInstalled())
"""

# each case: what a user does, run with the extras hidden
CASES = {
    "CNNLayerFeatures": """
        from skbreastcad.features import CNNLayerFeatures
        CNNLayerFeatures(backbone="tiny_cnn", weights=None).fit(X)
    """,
    "TwoStageTransferClassifier": """
        from skbreastcad.models import TwoStageTransferClassifier
        TwoStageTransferClassifier(
            backbone="tiny_cnn", weights=None, transfer="none", max_epochs=1
        ).fit(X, y)
    """,
    "AugmentingSampler": """
        from skbreastcad.augmentation import AugmentingSampler
        AugmentingSampler(random_state=0).fit_resample(X, y)
    """,
    "list_layers": """
        from skbreastcad.nn import list_layers
        list_layers("tiny_cnn")
    """,
    "HistoryRecorder": """
        from skbreastcad.models import HistoryRecorder
    """,
    "read_image": """
        from skbreastcad.datasets import read_image
        path = os.path.join(tmp, "film.dcm")
        with open(path, "wb") as f:
            f.write(bytes(128) + b"DICM")
        read_image(path)
    """,
}

EXPECTED = {
    "CNNLayerFeatures": "CNNLayerFeatures needs PyTorch: pip install 'skbreastcad[deep]'",
    "TwoStageTransferClassifier": (
        "TwoStageTransferClassifier needs PyTorch: pip install 'skbreastcad[deep]'"
    ),
    "AugmentingSampler": "AugmentingSampler needs PyTorch: pip install 'skbreastcad[deep]'",
    "list_layers": "list_layers needs PyTorch: pip install 'skbreastcad[deep]'",
    "HistoryRecorder": "HistoryRecorder) needs PyTorch: pip install 'skbreastcad[deep]'",
    "read_image": "needs pydicom: pip install 'skbreastcad[dicom]'",
}


@pytest.fixture(scope="module")
def errors_without_extras(tmp_path_factory):
    """{case: (exception type, message, cause type)} from one interpreter without the extras."""
    tmp = str(tmp_path_factory.mktemp("no_extras"))
    body = [BLOCKER, "import json, os", "import numpy as np", f"tmp = {tmp!r}", "out = {}"]
    body.append("X = np.random.default_rng(0).integers(0, 256, (8, 16, 16), dtype=np.uint8)")
    body.append("y = np.array([0, 1] * 4)")
    for name, code in CASES.items():
        body.append("try:")
        body.append(textwrap.indent(textwrap.dedent(code).strip(), "    "))
        body.append(f"    out[{name!r}] = None")
        body.append("except Exception as exc:")
        body.append(
            f"    out[{name!r}] = [type(exc).__name__, str(exc), type(exc.__cause__).__name__]"
        )
    body.append("print(json.dumps(out))")
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(skbreastcad.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", "\n".join(body)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", sorted(CASES))
def test_missing_extra_is_an_import_error_naming_the_extra(errors_without_extras, case):
    error = errors_without_extras[case]
    assert error is not None, f"{case} ran although its extra was hidden"
    kind, message, cause = error
    assert kind == "ImportError"
    assert EXPECTED[case] in message
    # the original "No module named ..." stays in the traceback
    assert cause == "ModuleNotFoundError"


def test_every_extra_package_is_installed_by_a_declared_extra():
    """The extras named in the messages exist in pyproject.toml with their package."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    pyproject = Path(skbreastcad.__file__).parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("pyproject.toml is not beside an installed package")
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    for module, (_, extra) in EXTRAS.items():
        assert any(req.startswith(module) for req in extras[extra]), (module, extra)


def test_other_import_errors_pass_unchanged():
    # a package that is not an extra: no install advice would fix it
    with pytest.raises(ModuleNotFoundError, match="skbreastcad_no_such_module"):
        with optional_import("caller"):
            import skbreastcad_no_such_module  # noqa: F401
    # a submodule missing from an installed extra is a version problem, not a missing extra
    with pytest.raises(ModuleNotFoundError, match="torch.no_such_submodule"):
        with optional_import("caller"):
            raise ModuleNotFoundError(
                "No module named 'torch.no_such_submodule'", name="torch.no_such_submodule"
            )
