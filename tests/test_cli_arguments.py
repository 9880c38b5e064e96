"""Every argument is checked before any work: one line on stderr and exit code 2 (issue 22 item 6).

A number out of range is refused by the parser even when the command would
not use it; ``--device`` and ``--dask`` are checked before any data is read.
"""

import argparse
import importlib
import socket

import pytest

from skbreastcad import _cli
from skbreastcad._cli import _shared

# the least each command needs to parse
MINIMAL = {
    "demo": ["demo"],
    "run": ["run", "ablation"],
    "reproduce": ["reproduce", "--data", "phantoms"],
    "train": ["train", "--data", "phantoms", "--model", "glcm"],
    "detect": ["detect", "model", "film.pgm"],
    "froc": ["froc", "--data", "mias:films"],
    "predict": ["predict", "model", "image.png"],
    "layers": ["layers", "tiny_cnn"],
    "backbones": ["backbones"],
}

# a value each typed option refuses (every such option of every command must be here)
BAD = {
    "--cv": ["1", "two"],
    "--n-jobs": ["0", "1.5"],
    "--seed": ["-1", str(2**32)],
    "--verbose": ["-1"],
    "--n-boot": ["-5", "0"],
    "--image-size": ["-3", "4", "100000"],
    "--n-samples": ["0"],
    "--input-size": ["-3", "0", "100000"],
    "--epochs": ["-1", "0"],
    "--batch-size": ["0"],
    "--grid": ["0"],
    "--threads": ["0"],
    "--device": ["nosuch", "cuda:", "gpu", "cpu:x"],
    "--dask": ["local:0", "local:x", "nosuch://host:1", "host:99999", "tcp://"],
    "--threshold": ["sensitivity=2", "specificity=0", "youdn", "0.5"],
    "--crop-size": ["4"],
    "--output-size": ["0", "100000"],
    "--stride": ["0"],
    "--min-distance": ["-1"],
    "--max-candidates": ["0"],
    "--min-breast-fraction": ["1.5", "-0.1", "nan"],
    "--n-splits": ["1"],
    "--max-films": ["0"],
    "--bootstraps": ["-1"],
    "--overlays": ["-1"],
    "--cnn-input-size": ["-3", "huge"],
}


def _subparsers():
    parser = _cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _typed_options():
    return [
        (command, action.option_strings[-1])
        for command, sub in _subparsers().items()
        for action in sub._actions
        if action.option_strings and action.type is not None
    ]


def test_every_command_has_a_minimal_command_line():
    assert set(MINIMAL) == set(_cli.COMMANDS)


def test_every_numeric_option_has_a_validator_and_a_bad_value_here():
    """A new option typed ``int`` or ``float`` (any number allowed) fails here."""
    loose = [
        (command, action.option_strings)
        for command, sub in _subparsers().items()
        for action in sub._actions
        if action.option_strings
        and (
            action.type in (int, float)
            or (
                action.type is None
                and action.choices is None
                and isinstance(action.default, (int, float))
                and not isinstance(action.default, bool)
            )
        )
    ]
    assert loose == []
    assert sorted({option for _, option in _typed_options()}) == sorted(BAD)


@pytest.mark.parametrize(
    "command, option, value",
    [(c, o, v) for c, o in _typed_options() for v in BAD[o]],
    ids=lambda x: str(x),
)
def test_a_bad_value_is_one_line_and_exit_2_before_any_work(
    tmp_path, capsys, monkeypatch, command, option, value
):
    module = importlib.import_module(f"skbreastcad._cli.{command}")

    def execute(args):
        raise AssertionError(f"{command} ran with {option} {value}")

    monkeypatch.setattr(module, "execute", execute)
    monkeypatch.chdir(tmp_path)
    argv = [*MINIMAL[command], f"{option}={value}"]
    if any("--output" in a.option_strings for a in _subparsers()[command]._actions):
        argv += ["--output", str(tmp_path / "out")]
    assert _cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"skbreastcad {command}: error: argument {option}"), err
    assert len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, value",
    [
        ("--n-jobs", "-1"),
        ("--n-jobs", "2"),
        ("--seed", str(2**32 - 2)),
        ("--device", "cpu"),
        ("--device", "cuda:1"),
        ("--device", "mps"),
        ("--dask", "local:2"),
        ("--dask", "tcp://10.0.0.5:8786"),
        ("--dask", "scheduler:8786"),
        ("--dask", "tls://[::1]:8786"),
        ("--input-size", "299"),
    ],
)
def test_good_values_pass_the_parser(option, value):
    args = _cli.build_parser().parse_args(["run", "ablation", option, value])
    assert str(getattr(args, option[2:].replace("-", "_"))) == value


def test_good_threshold_policies_pass_the_parser():
    for policy in ("youden", "default", "sensitivity=0.9", "specificity=0.95"):
        args = _cli.build_parser().parse_args([*MINIMAL["train"], "--threshold", policy])
        assert args.threshold == policy


def test_the_parser_s_input_limit_is_the_library_s():
    from skbreastcad.nn._input import MAX_INPUT_SIZE

    assert _shared.MAX_INPUT_SIZE == MAX_INPUT_SIZE


def _no_data(monkeypatch):
    def load_data(*args, **kwargs):
        raise AssertionError("the data were read before the settings were checked")

    monkeypatch.setattr("skbreastcad._cli.run.load_data", load_data)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None, reason="dask.distributed is not installed"
)
def test_a_dask_scheduler_that_does_not_answer_is_one_line_before_the_data(
    tmp_path, capsys, monkeypatch
):
    _no_data(monkeypatch)
    address = f"tcp://127.0.0.1:{_closed_port()}"
    argv = ["run", "ablation", "--dask", address, "--output", str(tmp_path / "out")]
    assert _cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"skbreastcad run: error: --dask {address}: no Dask scheduler answers")
    assert "\n" not in err and list(tmp_path.iterdir()) == []


def test_a_dask_scheduler_that_never_answers_is_given_up_after_the_timeout(monkeypatch):
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed")
    waited = []

    def create_connection(address, timeout):
        waited.append((address, timeout))
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    with pytest.raises(_shared.UsageError, match="no Dask scheduler answered at .* within 10 s"):
        _shared.check_dask("scheduler.example:8786")
    assert waited == [(("scheduler.example", 8786), _shared.DASK_TIMEOUT)]


def test_dask_without_dask_installed_is_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name)
    )
    with pytest.raises(_shared.UsageError, match=r"--dask needs dask.distributed"):
        _shared.check_dask("local:2")


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the deep extra is not installed"
)
def test_a_gpu_this_machine_lacks_is_refused_before_the_data(tmp_path, capsys, monkeypatch):
    import torch

    _no_data(monkeypatch)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = f"cuda:{count}"  # one past the last
    argv = ["run", "ablation", "--device", device, "--output", str(tmp_path / "out")]
    assert _cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"skbreastcad run: error: --device {device}: this machine has")
    assert "\n" not in err and list(tmp_path.iterdir()) == []


def test_a_remote_cluster_s_gpus_are_not_looked_for_on_this_machine(monkeypatch):
    from skbreastcad._cli import run

    checked = []
    monkeypatch.setattr(run, "check_dask", checked.append)
    args = _cli.build_parser().parse_args(
        ["run", "ablation", "--device", "cuda:7", "--dask", "tcp://gpu-cluster:8786"]
    )
    run.check_settings(args)  # the workers' GPUs: this machine may have none
    assert checked == ["tcp://gpu-cluster:8786"]
    args.dask = "local:2"
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.device_count() <= 7:
            with pytest.raises(_shared.UsageError, match="--device cuda:7: this machine has"):
                run.check_settings(args)


def test_checking_the_device_form_imports_no_torch():
    """The parser alone refuses a bad --device: no torch needed (the deep extra is optional)."""
    from conftest import fresh_python

    code = """
        import sys
        from skbreastcad._cli import main

        code = main(["run", "ablation", "--device", "nosuch"])
        print(code, "torch" in sys.modules)
    """
    result = fresh_python(code)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert "argument --device: 'nosuch' is not a torch device" in result.stderr
