"""The command line checks its arguments before any work and never leaves a run that looks complete."""

import pytest

from skbreastcad import cli

SMALL = [
    "--experiments",
    "features",
    "--features",
    "glcm",
    "--n-samples",
    "40",
    "--image-size",
    "32",
    "--cv",
    "2",
    "--n-boot",
    "100",
    "--quiet",
]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cv", "0"], "at least 2 folds"),
        (["--cv", "1000"], "fewer than the 1000 folds"),
        (["--n-samples", "3"], "fewer than the"),
        (["--features", "bogus"], "Unknown feature set 'bogus'"),
        (["--image-size", "4"], "image_size"),
        # 60 phantoms hold 12 tumours: 13 folds cannot all hold one (was ROC AUC nan +- nan)
        (["--cv", "13", "--n-samples", "60"], "12 images, fewer than the 13 folds"),
    ],
)
def test_bad_demo_arguments_are_one_line_and_exit_2_before_anything_is_written(
    tmp_path, capsys, args, message
):
    out = tmp_path / "out"
    assert cli.main(["demo", *args, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad: error:") and message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert cli.main(["demo", *SMALL, "--output", str(tmp_path / "a_file" / "out")]) == 2
    assert "cannot write the output folder" in capsys.readouterr().err


def test_a_second_run_into_one_folder_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["demo", *SMALL, "--output", str(out)]) == 0
    first = (out / "rois.png").stat().st_mtime_ns
    assert cli.main(["demo", *SMALL, "--output", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "rois.png").stat().st_mtime_ns == first
    assert cli.main(["demo", *SMALL, "--output", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial or old folders left


def test_an_interrupted_run_leaves_no_folder_that_looks_complete(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_experiment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["demo", *SMALL, "--output", str(tmp_path / "out")])
    assert list(tmp_path.iterdir()) == []
