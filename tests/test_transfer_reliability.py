"""TwoStageTransferClassifier under faults: diverged and interrupted training,
fits killed with SIGKILL and resumed, leaked temporary folders, damaged caches,
checkpoints and weight files, and validation splits that miss a class."""

import glob
import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skbreastcad.models import SourceData
from skbreastcad.models._run_dir import RunDir, remove_dead_runs
from skbreastcad.models._stage1 import CACHE_FOLDER
from skbreastcad.nn import build_backbone
from skbreastcad.nn._weights import load_torch_file, read_checkpoint, save_torch_file

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

# (stage, epoch) of every epoch trained in this process (module level on purpose:
# the callback has no parameters, so it does not change a fit's fingerprint)
EPOCHS = []


@pytest.fixture(autouse=True)
def _fresh_epochs():
    EPOCHS.clear()


class CountEpochs(Callback):
    def on_epoch_end(self, net, **kwargs):
        EPOCHS.append((net.stage, len(net.history)))


class StopOnce(Callback):
    """Stops a fit once, after training batch ``batch`` of ``epoch`` of ``stage``.

    It raises KeyboardInterrupt as Ctrl-C does, or, in a process that set
    ``StopOnce.freeze = True`` (not a parameter, so that the fingerprints
    match), sleeps until the test kills the process. The ``flag`` file,
    created when it fires, makes it a no-op afterwards: the resumed fit and
    the reference fit have the very same settings.
    """

    freeze = False

    def __init__(self, stage=2, epoch=2, batch=2, flag=None):
        self.stage = stage
        self.epoch = epoch
        self.batch = batch
        self.flag = flag

    def on_batch_end(self, net, training=None, **kwargs):
        here = (net.stage, len(net.history), len(net.history[-1]["batches"]))
        if (
            not training
            or here != (self.stage, self.epoch, self.batch)
            or os.path.exists(self.flag)
        ):
            return
        open(self.flag, "w").close()
        if not self.freeze:
            raise KeyboardInterrupt
        time.sleep(600)


def _resume_params(data, flag, stage=2, **params):
    """Settings of a two-stage fit with every kind of state a resume must restore."""
    base = dict(
        transfer="two_stage",
        source_data=SourceData(*data(n=32, n_classes=3, seed=3)),
        max_epochs=4,
        source_params={"max_epochs": 3, "lr": 0.01},
        augment="default",
        balance="oversample",
        optimizer="adam",
        lr_schedule="cosine",
        early_stopping=3,
        callbacks=[CountEpochs(), StopOnce(stage=stage, epoch=2, batch=2, flag=flag)],
    )
    base.update(params)
    return base


@pytest.fixture(scope="module")
def _resume_clf(_data, _clf):
    """``_resume_clf(flag, stage=2, **params)``: the classifier of :func:`_resume_params`."""

    def make(flag, stage=2, **params):
        return _clf(**_resume_params(_data, flag, stage, **params))

    return make


def _assert_same_weights(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


# -- diverged training --------------------------------------------------------------
@pytest.mark.parametrize("validation_fraction", [None, 0.25])
@pytest.mark.parametrize("scoring", ["loss", "accuracy", "f1", "balanced_accuracy", "roc_auc"])
def test_non_finite_loss_stops_the_stage_whatever_the_scoring(
    scoring, validation_fraction, _data, _clf
):
    X, y = _data()
    clf = _clf(optimizer="sgd", lr=1e30, scoring=scoring, validation_fraction=validation_fraction)
    with pytest.raises(RuntimeError, match="Stage 2 diverged in epoch 1: .*not finite"):
        clf.fit(X, y)


class PoisonWeights(Callback):
    """Turns one weight NaN before the first batch of ``epoch``."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_batch_begin(self, net, training=None, **kwargs):
        # the history's row of the batch starting now is already there
        if training and len(net.history) == self.epoch and len(net.history[-1]["batches"]) == 1:
            with torch.no_grad():
                weight = next(net.module_.parameters())
                weight[(0,) * weight.dim()] = float("nan")  # any memory layout


def test_divergence_names_the_stage_and_epoch(_data, _clf):
    X, y = _data()
    source = SourceData(*_data(n=32, seed=3))
    clf = _clf(
        transfer="two_stage",
        source_data=source,
        validation_fraction=None,
        callbacks=[PoisonWeights(epoch=2)],
    )
    with pytest.raises(RuntimeError, match="Stage 1 diverged in epoch 2"):
        clf.fit(X, y)


# -- Ctrl-C ---------------------------------------------------------------------
def test_keyboard_interrupt_propagates_and_an_interrupted_stage_1_is_not_cached(
    tmp_path, _data, _resume_clf
):
    X, y = _data()
    flag = str(tmp_path / "fired")
    clf = _resume_clf(flag, stage=1, memory=str(tmp_path / "cache"))
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert EPOCHS == [(1, 1)]
    EPOCHS.clear()
    # the same settings (the callback no longer fires): stage 1 is trained, not read back
    again = _resume_clf(flag, stage=1, memory=str(tmp_path / "cache")).fit(X, y)
    assert not again.stage1_from_cache_
    assert [e for e in EPOCHS if e[0] == 1] == [(1, 1), (1, 2), (1, 3)]
    assert _resume_clf(flag, stage=1, memory=str(tmp_path / "cache")).fit(X, y).stage1_from_cache_


# -- resume ------------------------------------------------------------------------
@pytest.mark.parametrize("stage, lr_schedule", [(1, "plateau"), (2, "cosine")])
def test_resume_after_ctrl_c_ends_with_the_uninterrupted_weights(
    tmp_path, stage, lr_schedule, _data, _resume_clf
):
    X, y = _data()
    flag = str(tmp_path / "fired")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    params = dict(stage=stage, lr_schedule=lr_schedule, checkpoint_dir=str(ckpt), resume=True)
    with pytest.raises(KeyboardInterrupt):
        _resume_clf(flag, **params).fit(X, y)
    (run,) = ckpt.iterdir()
    EPOCHS.clear()
    resumed = _resume_clf(flag, **params).fit(X, y)
    assert resumed.checkpoint_dir_ == str(run)
    # epoch 2 of the interrupted stage is trained again from its start, nothing before it
    done_before = [(s, e) for s in (1, 2) for e in range(1, 5) if (s, e) < (stage, 2)]
    assert not set(done_before) & set(EPOCHS) and (stage, 2) in EPOCHS
    reference = _resume_clf(flag, stage=stage, lr_schedule=lr_schedule).fit(X, y)
    _assert_same_weights(resumed, reference)
    assert resumed.best_epoch_ == reference.best_epoch_
    assert [row["train_loss"] for row in resumed.history_] == [
        row["train_loss"] for row in reference.history_
    ]
    assert [row["event_lr"] for row in resumed.stage1_history_] == [
        row["event_lr"] for row in reference.stage1_history_
    ]
    # a finished fit is not resumed again: a new folder
    assert _resume_clf(flag, **params).fit(X, y).checkpoint_dir_ != str(run)


def test_resume_with_another_cpu_thread_count_warns(tmp_path, _data, _resume_clf):
    X, y = _data()
    flag = str(tmp_path / "fired")
    params = dict(checkpoint_dir=str(tmp_path), resume=True)
    threads = torch.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        _resume_clf(flag, **params).fit(X, y)
    torch.set_num_threads(threads + 1)
    try:
        with pytest.warns(
            UserWarning,
            match=f"resumes with {threads + 1} torch CPU threads; the "
            f"interrupted fit used {threads}",
        ):
            _resume_clf(flag, **params).fit(X, y)
    finally:
        torch.set_num_threads(threads)


_KILLED_FIT = """
import sys
import torch
torch.set_num_threads(1)
# outside pytest, the fixtures' plain functions (tests/ is on PYTHONPATH)
from conftest import small_transfer_clf, transfer_images
from test_transfer_reliability import StopOnce, _resume_params
StopOnce.freeze = True
X, y = transfer_images()
small_transfer_clf(**_resume_params(transfer_images, sys.argv[1], **eval(sys.argv[2]))).fit(X, y)
"""


def _fit_and_kill(tmp_path, flag, params, env=None):
    """Run a fit in a subprocess and SIGKILL it where StopOnce freezes it."""
    script = tmp_path / "killed_fit.py"
    script.write_text(_KILLED_FIT)
    env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([ROOT, TESTS])}
    proc = subprocess.Popen(
        [sys.executable, str(script), flag, repr(params)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(flag):
            if proc.poll() is not None:
                pytest.fail(f"the fit ended before it was killed:\n{proc.stdout.read().decode()}")
            assert time.monotonic() < deadline, "the fit never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow  # a fit in a subprocess, killed mid-stage
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_fit_killed_with_sigkill_resumes_to_the_uninterrupted_weights(tmp_path, _data, _resume_clf):
    X, y = _data()
    flag = str(tmp_path / "fired")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    params = dict(checkpoint_dir=str(ckpt), resume=True)
    _fit_and_kill(tmp_path, flag, params)
    (run,) = ckpt.iterdir()
    assert os.path.isfile(run / "stage1" / "result.pt")
    assert os.path.isfile(run / "stage2" / "resume.pt")
    resumed = _resume_clf(flag, **params).fit(X, y)
    assert resumed.checkpoint_dir_ == str(run)
    # stage 1 was finished and is not trained again; stage 2 goes on from epoch 2
    assert EPOCHS == [(2, 2), (2, 3), (2, 4)]
    reference = _resume_clf(flag).fit(X, y)
    _assert_same_weights(resumed, reference)
    np.testing.assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))
    assert resumed.stage1_best_epoch_ == reference.stage1_best_epoch_


_FAULTED_FIT = """
import sys
import torch
# torch's CPU kernels split their sums by thread: bit-exactness needs the same count
torch.set_num_threads(int(sys.argv[2]))
# outside pytest, the fixtures' plain functions (tests/ is on PYTHONPATH)
from conftest import small_transfer_clf, transfer_images
from test_transfer_reliability import CountEpochs, _resume_params
X, y = transfer_images()
small_transfer_clf(**_resume_params(transfer_images, None, callbacks=[CountEpochs()],
    checkpoint_dir=sys.argv[1], resume=True)).fit(X, y)
"""


@pytest.fixture(scope="module")
def uninterrupted(_data, _resume_clf):
    """The fit the killed-and-resumed ones must reproduce, and its probabilities."""
    X, y = _data()
    fitted = _resume_clf(None, callbacks=[CountEpochs()]).fit(X, y)
    return fitted, fitted.predict_proba(X)


# (kill point, first epoch the resumed fit trains): a kill inside an epoch, before or
# between its checkpoint files, after stage 1's training or its result, in both stages
KILL_POINTS = [
    ("stage1:epoch2:batch1", (1, 2)),
    ("stage1:epoch2:best", (1, 2)),
    ("stage1:epoch2", (1, 3)),
    ("stage1:trained", (2, 1)),
    ("stage1:saved", (2, 1)),
    ("stage2:epoch1:batch2", (2, 1)),
    ("stage2:epoch2:saving", (2, 2)),
    ("stage2:epoch3", (2, 4)),
    ("stage2:epoch4:batch3", (2, 4)),
]


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("point, first", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_sigkill_anywhere_resumes_to_bitwise_the_uninterrupted_fit(
    tmp_path, uninterrupted, point, first, _data, _resume_clf
):
    script = tmp_path / "faulted_fit.py"
    script.write_text(_FAULTED_FIT)
    ckpt = tmp_path / "ckpt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([ROOT, TESTS]),
        "SKBREASTCAD_FAULT_AFTER": point,
    }
    proc = subprocess.run(
        [sys.executable, str(script), str(ckpt), str(torch.get_num_threads())],
        env=env,
        capture_output=True,
        timeout=900,
    )
    assert proc.returncode == -signal.SIGKILL, (proc.stdout + proc.stderr).decode()
    X, y = _data()
    EPOCHS.clear()
    params = dict(callbacks=[CountEpochs()], checkpoint_dir=str(ckpt), resume=True)
    resumed = _resume_clf(None, **params).fit(X, y)
    assert os.path.dirname(resumed.checkpoint_dir_) == str(ckpt)
    # nothing saved before the kill is trained again
    assert EPOCHS[0] == first
    reference, proba = uninterrupted
    state, expected = resumed.module_.state_dict(), reference.module_.state_dict()
    assert state.keys() == expected.keys()
    for key in expected:
        assert torch.equal(state[key], expected[key]), key
    np.testing.assert_array_equal(resumed.predict_proba(X), proba)
    assert resumed.best_epoch_ == reference.best_epoch_
    assert resumed.stage1_best_epoch_ == reference.stage1_best_epoch_


@pytest.mark.slow  # a fit in a subprocess, killed mid-stage
@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_temporary_folders_of_killed_fits_are_removed(tmp_path, monkeypatch, _data, _clf):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    flag = str(tmp_path / "fired")
    _fit_and_kill(tmp_path, flag, {}, env={"TMPDIR": str(scratch)})
    (leaked,) = scratch.glob("skbreastcad-tmpfit-*")
    assert (leaked / "stage1").is_dir()
    # a folder whose process is alive (this one) is left alone
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    alive = RunDir.create(None)
    X, y = _data()
    _clf(max_epochs=1).fit(X, y)
    # ours only: importing torchvision makes torch's own cache folder in the temp dir
    ours = sorted(p for p in scratch.iterdir() if p.name.startswith("skbreastcad-"))
    assert ours == [scratch / os.path.basename(alive.path)]
    alive.release()
    assert remove_dead_runs() == [alive.path]
    assert [p for p in scratch.iterdir() if p.name.startswith("skbreastcad-")] == []
    # a kept, resumable folder is never removed, even in the temporary folder
    kept = RunDir.create(str(scratch))
    kept.release()
    assert remove_dead_runs() == [] and os.path.isdir(kept.path)
    # a folder removed while another process claims it is not claimable, not an error
    gone = RunDir.create(None)
    gone.remove()
    assert RunDir.claim(gone.path) is None


def test_resume_needs_checkpoint_dir(_data, _clf):
    X, y = _data()
    with pytest.raises(ValueError, match="resume=True .* checkpoint_dir"):
        _clf(resume=True).fit(X, y)


def test_a_damaged_resume_file_restarts_the_stage_with_a_warning(tmp_path, _data, _resume_clf):
    X, y = _data()
    flag = str(tmp_path / "fired")
    params = dict(checkpoint_dir=str(tmp_path), resume=True, transfer="none", source_data=None)
    with pytest.raises(KeyboardInterrupt):
        _resume_clf(flag, **params).fit(X, y)
    (resume_file,) = glob.glob(str(tmp_path / "skbreastcad-fit-*" / "stage2" / "resume.pt"))
    with open(resume_file, "rb") as f:
        payload = f.read()
    with open(resume_file, "wb") as f:
        f.write(payload[: len(payload) // 2])
    EPOCHS.clear()
    with pytest.warns(UserWarning, match="resume file .* is damaged.*starts again from epoch 1"):
        resumed = _resume_clf(flag, **params).fit(X, y)
    assert EPOCHS[0] == (2, 1)
    _assert_same_weights(resumed, _resume_clf(flag, transfer="none", source_data=None).fit(X, y))


# -- damaged files ----------------------------------------------------------------
def _stage1_params(tmp_path, _data):
    return dict(
        transfer="two_stage",
        source_data=SourceData(*_data(n=30, seed=2)),
        max_epochs=1,
        memory=str(tmp_path),
        callbacks=[CountEpochs()],
    )


def _cache_entry(tmp_path):
    """The one entry of a stage-1 cache in ``tmp_path``: its folder."""
    (folder,) = glob.glob(str(tmp_path / CACHE_FOLDER / "*"))
    return pathlib.Path(folder)


def test_truncated_stage1_cache_entry_is_discarded_with_a_warning_and_retrained(
    tmp_path, _data, _clf
):
    X, y = _data()
    params = _stage1_params(tmp_path, _data)
    first = _clf(**params).fit(X, y)
    entry = _cache_entry(tmp_path) / "weights.safetensors"
    with open(entry, "rb") as f:
        payload = f.read()
    with open(entry, "wb") as f:
        f.write(payload[: len(payload) // 2])
    EPOCHS.clear()
    with pytest.warns(UserWarning, match="stage-1 cache entry .* is damaged.*trained again"):
        second = _clf(**params).fit(X, y)
    assert not second.stage1_from_cache_ and (1, 1) in EPOCHS
    _assert_same_weights(first, second)
    # the retrained entry replaced the damaged one
    assert _clf(**params).fit(X, y).stage1_from_cache_


@pytest.mark.parametrize(
    "where", ["weights.safetensors", "entry.json", "history", "state_digest", "missing record"]
)
def test_a_tampered_stage1_cache_entry_is_detected_warned_and_retrained(
    where, tmp_path, _data, _clf
):
    X, y = _data()
    params = _stage1_params(tmp_path, _data)
    first = _clf(**params).fit(X, y)
    folder = _cache_entry(tmp_path)
    record = json.loads((folder / "entry.json").read_text())
    if where == "weights.safetensors":
        # other weights of the same names, shapes and size: only the digest tells
        from safetensors.torch import load, save

        tensors = load((folder / where).read_bytes())
        name = next(k for k, v in tensors.items() if v.is_floating_point())
        tensors[name] = tensors[name] + 1.0
        tampered = save(tensors, metadata={"format": "pt"})
        assert len(tampered) == record["weights"]["size"]
        (folder / where).write_bytes(tampered)
        expected = "does not match the SHA-256"
    elif where == "entry.json":
        (folder / where).write_text("{not json")
        expected = "not valid JSON"
    elif where == "history":
        del record["history"]
        (folder / "entry.json").write_text(json.dumps(record))
        expected = "lacks the history"
    elif where == "state_digest":
        # a forged record naming the tampered weights' digest would still fail the state digest
        record["state_digest"] = "0" * 64
        (folder / "entry.json").write_text(json.dumps(record))
        expected = "do not match their digest"
    else:
        (folder / "entry.json").unlink()
        expected = "has no entry.json"
    EPOCHS.clear()
    with pytest.warns(UserWarning, match=f"stage-1 cache entry .* is damaged.*{expected}"):
        second = _clf(**params).fit(X, y)
    assert not second.stage1_from_cache_ and (1, 1) in EPOCHS
    _assert_same_weights(first, second)
    assert _clf(**params).fit(X, y).stage1_from_cache_


class _TouchOnUnpickle:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_no_file_in_the_stage1_cache_is_ever_unpickled(tmp_path, _data, _clf):
    X, y = _data()
    cache = tmp_path / "cache"
    params = dict(_stage1_params(cache, _data), memory=str(cache))
    marker = tmp_path / "marker"
    crafted = pickle.dumps(_TouchOnUnpickle(str(marker)))
    # where joblib.Memory kept the entry before, at any depth
    old = cache / "joblib" / "skbreastcad" / "models" / "_stage1" / "_stage1"
    for sub in ("0" * 32, "f" * 32):
        (old / sub).mkdir(parents=True)
        (old / sub / "output.pkl").write_bytes(crafted)
    (cache / "output.pkl").write_bytes(crafted)
    first = _clf(**params).fit(X, y)
    assert not first.stage1_from_cache_ and not marker.exists()
    # the entry holds JSON and safetensors only
    folder = _cache_entry(cache)
    assert sorted(p.name for p in folder.iterdir()) == ["entry.json", "weights.safetensors"]
    # a crafted pickle in place of either file: a damaged entry, never unpickled
    weights = (folder / "weights.safetensors").read_bytes()
    for name in ("weights.safetensors", "entry.json"):
        (folder / name).write_bytes(crafted)
        (folder / f"{name}.pkl").write_bytes(crafted)
        with pytest.warns(UserWarning, match="stage-1 cache entry .* is damaged"):
            again = _clf(**params).fit(X, y)
        assert not again.stage1_from_cache_ and not marker.exists()
        # retrained and stored again (the record's durations differ, the weights do not)
        assert (folder / "weights.safetensors").read_bytes() == weights
        assert json.loads((folder / "entry.json").read_text())["format"]
    assert _clf(**params).fit(X, y).stage1_from_cache_
    assert not marker.exists()


def test_a_stage1_cache_hit_predicts_exactly_as_the_fit_that_wrote_it(tmp_path, _data, _clf):
    X, y = _data()
    params = _stage1_params(tmp_path, _data)
    writer = _clf(**params).fit(X, y)
    reader = _clf(**params).fit(X, y)
    assert not writer.stage1_from_cache_ and reader.stage1_from_cache_
    np.testing.assert_array_equal(reader.predict_proba(X), writer.predict_proba(X))
    assert list(reader.stage1_history_) == list(writer.stage1_history_)
    assert reader.stage1_best_epoch_ == writer.stage1_best_epoch_
    _assert_same_weights(writer, reader)
    record = json.loads((_cache_entry(tmp_path) / "entry.json").read_text())
    assert (
        record["settings"]["backbone"] == "tiny_cnn" and record["settings"]["device_type"] == "cpu"
    )
    assert (
        len(record["weights"]["sha256"]) == 64 and record["best_epoch"] == writer.stage1_best_epoch_
    )


def test_a_memory_without_a_folder_trains_stage1_with_a_warning(_data, _clf):
    class NoFolder:
        def cache(self, func, **kwargs):
            return func

    X, y = _data()
    params = dict(transfer="two_stage", source_data=SourceData(*_data(n=30, seed=2)), max_epochs=1)
    with pytest.warns(UserWarning, match="no location folder"):
        assert not _clf(**params, memory=NoFolder()).fit(X, y).stage1_from_cache_


def test_truncated_weights_file_is_a_clear_error_before_training(tmp_path, _data, _clf):
    path = tmp_path / "tiny.pt"
    torch.save(build_backbone("tiny_cnn", num_classes=2).model.state_dict(), path)
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 2])
    X, y = _data()
    with pytest.raises(ValueError, match=f"weights: the checkpoint file '{path}' is damaged"):
        _clf(transfer="imagenet", weights=str(path), callbacks=[CountEpochs()]).fit(X, y)
    assert EPOCHS == []


def test_checkpoint_files_are_written_atomically_and_verified_on_read(tmp_path, monkeypatch):
    path = tmp_path / "state.pt"
    state = {"w": torch.arange(1000, dtype=torch.float32)}
    save_torch_file(state, path)
    assert torch.equal(load_torch_file(path)["w"], state["w"])

    # a write that dies half-way leaves the previous file intact, and no debris
    def dying_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(torch, "save", dying_save)
        with pytest.raises(KeyboardInterrupt):
            save_torch_file({"w": torch.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["state.pt"]
    assert torch.equal(load_torch_file(path)["w"], state["w"])
    # one flipped byte inside the tensor data, which torch.load alone reads silently
    payload = bytearray(path.read_bytes())
    offset = payload.find(state["w"].numpy().tobytes()[400:416])
    payload[offset] ^= 0xFF
    path.write_bytes(bytes(payload))
    assert zipfile.is_zipfile(path)
    with pytest.raises(ValueError, match=f"checkpoint file '{path}' is damaged.*checksum"):
        load_torch_file(path)
    with pytest.raises(ValueError, match="weights file .* is damaged"):
        read_checkpoint(str(path))


# -- validation split ---------------------------------------------------------------
def test_multiclass_validation_split_missing_a_class_fails_before_training(_data, _clf):
    X, _ = _data()
    y = np.array([0, 1] * 19 + [2, 2])  # with random_state=0 both 2s land in training
    with pytest.raises(
        ValueError, match="validation split of X holds no sample of 1 of its 3 classes"
    ):
        _clf(scoring="roc_auc", callbacks=[CountEpochs()]).fit(X, y)
    assert EPOCHS == []
    # the loss needs no particular class
    assert _clf(scoring="loss", max_epochs=1).fit(X, y).predict_proba(X).shape == (40, 3)
