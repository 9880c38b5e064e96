"""The ``real_data`` marker reaches every test that reads ../shared/data, so that
``-m "not real_data"`` runs exactly the tests that need no real data."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collected(*args):
    """Test ids that ``pytest --collect-only`` selects in the IBSI and CESM test files."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *args,
            "tests/test_glcm.py",
            "tests/test_datasets_cesm.py",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=300,
    )
    # 5: every test deselected, which is a result here
    assert result.returncode in (0, 5), result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_not_real_data_deselects_the_ibsi_and_cesm_tests():
    selected = _collected("-m", "not real_data")
    real = _collected("-m", "real_data")
    assert selected and real and not selected & real
    # the IBSI phantom tests use ibsi_dir directly, the CESM tests through module fixtures
    assert {i for i in real if "::test_ibsi_" in i} == {
        i for i in selected | real if "::test_ibsi_" in i
    }
    assert not any("test_datasets_cesm.py" in i for i in selected)
    assert sum("test_datasets_cesm.py" in i for i in real) == 3
    assert sum("::test_ibsi_" in i for i in real) >= 2
    # and a synthetic GLCM test is not caught by it
    assert any("test_glcm.py::" in i for i in selected)
