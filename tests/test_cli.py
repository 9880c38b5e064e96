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
    "50",
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


def _everything(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_overwrite_never_deletes_the_input_data_folder(tmp_path, capsys):
    data = tmp_path / "mias"
    data.mkdir()
    (data / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\n")
    (data / "my_notes.txt").write_text("the user's notes")
    for output in (data, data / "out", tmp_path):
        assert (
            cli.main(["demo", *SMALL, "--mias", str(data), "--output", str(output), "--overwrite"])
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert "input data" in err and len(err.splitlines()) == 1
    assert _everything(tmp_path) == ["mias", "mias/Info.txt", "mias/my_notes.txt"]


def test_overwrite_never_deletes_a_file_or_a_folder_of_the_users(tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("precious")
    assert cli.main(["demo", *SMALL, "--output", str(afile), "--overwrite"]) == 2
    assert f"{afile} is an existing file" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    assert cli.main(["demo", *SMALL, "--output", str(mine), "--overwrite"]) == 2
    assert "not written by skbreastcad" in capsys.readouterr().err
    assert _everything(tmp_path) == ["afile.txt", "mine", "mine/precious.txt"]
    assert afile.read_text() == "precious"


@pytest.mark.parametrize("output", [".", ".."])
def test_the_working_directory_is_refused_with_nothing_left_behind(
    tmp_path, capsys, monkeypatch, output
):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    assert cli.main(["demo", *SMALL, "--output", output, "--overwrite"]) == 2
    assert "working directory" in capsys.readouterr().err
    assert _everything(tmp_path) == ["work", "work/notes.txt"]


def test_run_folders_and_figures_get_the_umask_modes(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert cli.main(["demo", *SMALL, "--output", str(tmp_path / "out")]) == 0
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    pngs = list(out.rglob("*.png"))
    assert pngs
    for path in pngs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    for path in (p for p in out.rglob("*") if p.is_dir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
