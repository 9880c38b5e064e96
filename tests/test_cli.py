"""The command line checks its arguments before any work and never leaves a run that looks complete."""

import argparse
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import skbreastcad
from skbreastcad import _cli
from skbreastcad._cli import run as run_command

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


def _python(*argv, code=None):
    """Run a fresh interpreter on this checkout (this one has the heavy modules loaded)."""
    root = os.path.dirname(os.path.dirname(skbreastcad.__file__))
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-c", textwrap.dedent(code)] if code else [sys.executable, *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        # refused by the parser now, in the same one line
        (["--cv", "0"], "argument --cv: 0 is below the minimum 2"),
        (["--cv", "1000"], "fewer than the 1000 folds"),
        (["--n-samples", "3"], "fewer than the"),
        (["--features", "bogus"], "Unknown feature set 'bogus'"),
        (["--image-size", "4"], "argument --image-size: 4 is below the minimum 8"),
        # 60 phantoms hold 12 tumours: 13 folds cannot all hold one (was ROC AUC nan +- nan)
        (["--cv", "13", "--n-samples", "60"], "12 images, fewer than the 13 folds"),
    ],
)
def test_bad_demo_arguments_are_one_line_and_exit_2_before_anything_is_written(
    tmp_path, capsys, args, message
):
    out = tmp_path / "out"
    assert _cli.main(["demo", *args, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad demo: error:") and message in err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, capsys):
    (tmp_path / "a_file").write_text("")
    assert _cli.main(["demo", *SMALL, "--output", str(tmp_path / "a_file" / "out")]) == 2
    assert "cannot write the output folder" in capsys.readouterr().err


def test_a_second_run_into_one_folder_is_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    assert _cli.main(["demo", *SMALL, "--output", str(out)]) == 0
    first = (out / "rois.png").stat().st_mtime_ns
    assert _cli.main(["demo", *SMALL, "--output", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (out / "rois.png").stat().st_mtime_ns == first
    assert _cli.main(["demo", *SMALL, "--output", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial or old folders left


def test_an_interrupted_run_is_one_line_exit_130_and_leaves_no_folder_that_looks_complete(
    tmp_path, monkeypatch, capsys
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_command, "run_experiment", interrupted)
    assert _cli.main(["demo", *SMALL, "--output", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad demo: interrupted") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert (
        _cli.main(["run", "ablation", "--n-samples", "40", "--quiet", "--output", str(tmp_path)])
        == 130
    )
    assert capsys.readouterr().err.startswith("skbreastcad run: interrupted")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_three_classes_is_refused_before_any_image_is_read(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    for name in ("benign", "malignant", "normal"):
        (data / name).mkdir(parents=True)

    def load_image_folder(*args, **kwargs):
        raise AssertionError("the images were read before the classes were checked")

    monkeypatch.setattr("skbreastcad.datasets.load_image_folder", load_image_folder)
    # the output apart from the data: a folder inside it would be refused (and read as a class)
    argv = ["run", "features", "--data", f"folder:{data}", "--output", str(tmp_path / "o")]
    assert _cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("skbreastcad run: error:") and len(err.splitlines()) == 1
    assert "3 classes ['benign', 'malignant', 'normal']" in err and "--classes" in err
    assert not (tmp_path / "o").exists()


def test_library_warnings_are_the_command_s_notes(tmp_path):
    """A loader's warning reaches the user as a ``note:`` line, not as Python's warning format."""
    from PIL import Image

    (tmp_path / "benign").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "benign" / "a.png")
    (tmp_path / "benign" / "readme.txt").write_text("not an image")
    result = _python("-m", "skbreastcad", "run", "ablation", "--data", f"folder:{tmp_path}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("note: load_image_folder(") and "skipped 1 item" in lines[0]
    assert any(line.startswith("  ") and "readme.txt" in line for line in lines), lines
    assert lines[-1].startswith("skbreastcad run: error:") and "one class" in lines[-1]
    assert all(line.startswith(("note: ", "  ", "skbreastcad run: error:")) for line in lines)
    assert "UserWarning" not in result.stderr and "sys.exit" not in result.stderr


def _subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_help_lists_every_command_and_every_option_has_help():
    parser = _cli.build_parser()
    text = parser.format_help()
    assert "``" not in text
    commands = _subparsers(parser)
    assert list(commands) == list(_cli.COMMANDS)
    assert {"demo", "run", "layers", "backbones", "detect", "froc"} <= set(commands)
    for name in commands:
        assert f"    {name}" in text  # listed with its one-line help
    undocumented = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in commands.items()
        for action in sub._actions
        if not action.help and action.help != argparse.SUPPRESS
    ]
    assert undocumented == []
    for name, sub in commands.items():
        assert "``" not in sub.format_help(), name


def test_the_parser_imports_no_heavy_module():
    """``--help`` is fast: building and printing every parser loads no torch, sklearn or matplotlib."""
    result = _python(
        code="""
        import sys
        from skbreastcad._cli import build_parser

        parser = build_parser()
        parser.format_help()
        for action in parser._actions:
            for sub in getattr(action, "choices", None) or {}:
                action.choices[sub].format_help()
        heavy = ("torch", "torchvision", "skorch", "matplotlib", "sklearn", "pandas", "scipy")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_python_dash_m_runs_the_command():
    result = _python("-m", "skbreastcad", "froc", "--help")
    assert result.returncode == 0, result.stderr
    assert "froc_NAME.csv" in result.stdout
    result = _python("-m", "skbreastcad", "layers", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("skbreastcad layers: error: Unknown backbone 'nope'")
    assert "Traceback" not in result.stderr


def test_the_old_module_still_runs_the_command_with_a_future_warning(capsys):
    import skbreastcad.cli as old

    with pytest.warns(FutureWarning, match=r"skbreastcad\.cli\.main is deprecated"):
        main = old.main
    assert main is _cli.main
    with pytest.warns(FutureWarning, match="run_experiment"):
        assert old.run_experiment is run_command.run_experiment
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        old.nope  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["layers", "tiny_cnn"]) == 0
    assert "relu2" in capsys.readouterr().out


def test_every_default_output_folder_is_ignored_by_git():
    """A run from a checkout must not leave figures of licensed films inside it."""
    gitignore = os.path.join(os.path.dirname(os.path.dirname(skbreastcad.__file__)), ".gitignore")
    if not os.path.isfile(gitignore):
        pytest.skip("not a checkout")
    with open(gitignore) as f:
        ignored = {line.strip().strip("/") for line in f}
    defaults = {
        action.default
        for sub in _subparsers(_cli.build_parser()).values()
        for action in sub._actions
        if "--output" in action.option_strings
    }
    assert defaults == {
        "skbreastcad_output",
        "skbreastcad_froc",
        "skbreastcad_detect",
        "skbreastcad_model",
        "skbreastcad_predictions.csv",
    }
    assert defaults <= ignored


def _everything(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_overwrite_never_deletes_the_input_data_folder(tmp_path, capsys):
    data = tmp_path / "mias"
    data.mkdir()
    (data / "Info.txt").write_text("mdb001 G CIRC B 535 425 197\n")
    (data / "my_notes.txt").write_text("the user's notes")
    for output in (data, data / "out", tmp_path):
        assert (
            _cli.main(["demo", *SMALL, "--mias", str(data), "--output", str(output), "--overwrite"])
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert "input data" in err and len(err.splitlines()) == 1
    assert _everything(tmp_path) == ["mias", "mias/Info.txt", "mias/my_notes.txt"]


def test_overwrite_never_deletes_a_file_or_a_folder_of_the_users(tmp_path, capsys):
    afile = tmp_path / "afile.txt"
    afile.write_text("precious")
    assert _cli.main(["demo", *SMALL, "--output", str(afile), "--overwrite"]) == 2
    assert f"{afile} is an existing file" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    assert _cli.main(["demo", *SMALL, "--output", str(mine), "--overwrite"]) == 2
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
    assert _cli.main(["demo", *SMALL, "--output", output, "--overwrite"]) == 2
    assert "working directory" in capsys.readouterr().err
    assert _everything(tmp_path) == ["work", "work/notes.txt"]


def test_run_folders_and_figures_get_the_umask_modes(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert _cli.main(["demo", *SMALL, "--output", str(tmp_path / "out")]) == 0
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


def test_detect_and_froc_never_replace_the_films_they_read(tmp_path, capsys):
    films = tmp_path / "films"
    films.mkdir()
    (films / "mdb001.pgm").write_bytes(b"P5 1 1 255 \x00")
    (films / "Info.txt").write_text("mdb001 F NORM\n")
    argv = ["detect", str(tmp_path / "model.pkl"), str(films / "mdb001.pgm")]
    assert _cli.main([*argv, "--output", str(films), "--overwrite"]) == 2
    assert "input data" in capsys.readouterr().err
    argv = ["froc", "--data", f"mias:{films}", "--output", str(films), "--overwrite"]
    assert _cli.main(argv) == 2
    capsys.readouterr()
    assert _everything(tmp_path) == ["films", "films/Info.txt", "films/mdb001.pgm"]
