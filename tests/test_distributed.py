"""Data-parallel fits of TwoStageTransferClassifier: two processes on the CPU (gloo), launched
by torchrun from the test, against the single-process fit; a rank killed mid-stage resumes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("accelerate")

from skbreastcad.models import SourceData  # noqa: E402
from skbreastcad.models._data import BatchIterator, TensorDataset  # noqa: E402
from skbreastcad.models._distributed import (  # noqa: E402
    ShardedBatchIterator,
    _plain_batchnorm,
    _sync_batchnorm,
)
from skbreastcad.utils._faults import FAULT_RANK_VARIABLE, FAULT_VARIABLE  # noqa: E402

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

# Both stages, class weights (3 unbalanced source classes), the default augmentation on the
# device and the stage-1 cache in play; SGD because Adam's step normalisation turns the
# rounding noise of gradients that are zero in exact arithmetic (a convolution's bias in
# front of BatchNorm) into full-size steps, which would hide a real difference.
PARAMS = dict(
    backbone="tiny_cnn",
    transfer="two_stage",
    weights=None,
    source_params={"max_epochs": 2, "lr": 0.05},
    max_epochs=2,
    batch_size=6,
    lr=0.05,
    optimizer="sgd",
    random_state=0,
    device="cpu",
)

# the launched script: one process of a data-parallel fit; rank 0 saves the weights
WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    sys.path.insert(0, {tests!r})
    from conftest import transfer_images
    from skbreastcad.models import SourceData, TwoStageTransferClassifier

    from skbreastcad.models import _distributed

    # the epochs this process trains (a resumed fit trains only those left)
    epochs = []
    save = _distributed._SharedStageCheckpoint.on_epoch_end

    def counting(self, net, **kwargs):
        epochs.append([net.stage, len(net.history)])
        # one file per process: torchrun interleaves the processes' output
        with open(sys.argv[2] + ".epochs" + str(self.parallel.rank), "a") as log:
            log.write(f"{{net.stage}} {{len(net.history)}}\\n")
        return save(self, net, **kwargs)

    _distributed._SharedStageCheckpoint.on_epoch_end = counting
    params = json.loads(sys.argv[1])
    X, y = transfer_images(n=20, size=8)
    Xs, ys = transfer_images(n=22, size=8, n_classes=3, seed=3)
    clf = TwoStageTransferClassifier(source_data=SourceData(Xs, ys), accelerator="auto", **params)
    clf.fit(X, y)
    from skbreastcad.features import CNNLayerFeatures

    # 5 batches of 4 images dealt to 2 processes; every process gets all the features
    features = CNNLayerFeatures(
        "tiny_cnn", weights=None, batch_size=4, random_state=0, accelerator="auto"
    ).fit(X).transform(X)
    import os
    np.save(sys.argv[2] + ".features" + os.environ["RANK"] + ".npy", features)
    if os.environ["RANK"] == "0":
        torch.save(
            {{"weights": clf.module_.state_dict(),
              "proba": torch.from_numpy(clf.predict_proba(X)),
              "losses": [float(row["train_loss"]) for row in clf.history_],
              "world_size": torch.distributed.get_world_size(), "epochs": epochs}},
            sys.argv[2],
        )
    """
)


def _fit_data():
    from conftest import transfer_images

    return transfer_images(n=20, size=8), transfer_images(n=22, size=8, n_classes=3, seed=3)


def _launch(tmp_path, name, params, env=None, port=29531):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=TESTS))
    out = tmp_path / f"{name}.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        str(script),
        json.dumps(params),
        str(out),
    ]
    full_env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1", **(env or {})}
    # its own session: a hung launch is stopped with its workers, not only torchrun
    proc = subprocess.Popen(
        cmd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the launch hung:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), out


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def parallel_fit(tmp_path_factory):
    """The two-process fit of PARAMS (uninterrupted), as rank 0 saved it."""
    tmp = tmp_path_factory.mktemp("dp")
    memory = tmp / "stage1-cache"
    proc, out = _launch(tmp, "parallel", {**PARAMS, "memory": str(memory)}, port=_free_port())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    features = [np.load(f"{out}.features{rank}.npy") for rank in (0, 1)]
    return {**torch.load(out, weights_only=True), "memory": str(memory), "features": features}


def _single_fit():
    from skbreastcad.models import TwoStageTransferClassifier

    (X, y), (Xs, ys) = _fit_data()
    clf = TwoStageTransferClassifier(source_data=SourceData(Xs, ys), **PARAMS)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clf.fit(X, y)
    finally:
        torch.set_num_threads(threads)
    return clf, X


@pytest.mark.slow  # two processes launched by torchrun
def test_two_processes_train_the_single_process_model(parallel_fit):
    assert parallel_fit["world_size"] == 2
    single, X = _single_fit()
    # Float sums split between two processes round differently: the weights agree to
    # about 1e-6 after the two stages here; 1e-4 (absolute) leaves room for the platform.
    weights = single.module_.state_dict()
    assert set(weights) == set(parallel_fit["weights"])
    for name, tensor in weights.items():
        other = parallel_fit["weights"][name]
        if tensor.is_floating_point():
            np.testing.assert_allclose(other.numpy(), tensor.numpy(), atol=1e-4, err_msg=name)
        else:
            assert torch.equal(other, tensor), name
    np.testing.assert_allclose(parallel_fit["proba"], single.predict_proba(X), atol=1e-4)
    np.testing.assert_allclose(
        parallel_fit["losses"], [row["train_loss"] for row in single.history_], rtol=1e-4
    )


@pytest.mark.slow  # two processes launched by torchrun
def test_cnn_features_shared_by_two_processes_equal_one_process(parallel_fit):
    from skbreastcad.features import CNNLayerFeatures

    (X, _), _ = _fit_data()
    alone = CNNLayerFeatures("tiny_cnn", weights=None, batch_size=4, random_state=0)
    # fixed-size batches: an image's features do not depend on which process ran it
    expected = alone.fit(X).transform(X)
    for features in parallel_fit["features"]:
        np.testing.assert_array_equal(features, expected)


@pytest.mark.slow  # three launches of two processes
def test_a_rank_killed_mid_stage_resumes(parallel_fit, tmp_path):
    params = {
        **PARAMS,
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "resume": True,
        "memory": parallel_fit["memory"],
    }
    # rank 1 dies in stage 2 after the first epoch was saved; torchrun stops rank 0
    kill = {FAULT_VARIABLE: "stage2:epoch2:batch1", FAULT_RANK_VARIABLE: "1"}
    proc, out = _launch(tmp_path, "killed", params, env=kill, port=_free_port())
    assert proc.returncode != 0
    assert not out.exists()
    # stage 1 came from the cache the first fit's rank 0 wrote (one entry), on both ranks
    for rank in (0, 1):
        assert Path(f"{out}.epochs{rank}").read_text() == "2 1\n", proc.stdout[-3000:]
    entries = [p for p in Path(parallel_fit["memory"]).rglob("entry.json")]
    assert len(entries) == 1
    runs = list((tmp_path / "ckpt").iterdir())
    assert len(runs) == 1
    manifest = json.loads((runs[0] / "run.json").read_text())
    assert manifest["status"] in ("running", "interrupted"), manifest
    assert (runs[0] / "stage1" / "result.pt").exists()
    assert (runs[0] / "stage2" / "resume.pt").exists()

    proc, out = _launch(tmp_path, "resumed", params, port=_free_port())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    resumed = torch.load(out, weights_only=True)
    # the same folder, completed: stage 1 read back, stage 2 continued from epoch 1
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == [runs[0].name]
    assert json.loads((runs[0] / "run.json").read_text())["status"] == "complete"
    assert parallel_fit["epochs"] == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert resumed["epochs"] == [[2, 2]]
    # one thread per process in both runs: the resumed fit is the uninterrupted one, bit for bit
    for name, tensor in parallel_fit["weights"].items():
        assert torch.equal(resumed["weights"][name], tensor), name
    assert resumed["losses"] == parallel_fit["losses"]


def test_sharded_batches_are_the_slices_of_the_global_batches():
    X = torch.arange(11, dtype=torch.float32).view(11, 1, 1, 1)
    y = torch.arange(11)
    ds = TensorDataset(X, y, np.arange(11))

    def batches(cls, **kwargs):
        gen = torch.Generator().manual_seed(3)
        it = cls(ds, 4, shuffle=True, generator=gen, augment=lambda x, generator: x, **kwargs)
        return [yb.tolist() for _, yb in it]

    whole = batches(BatchIterator)
    parts = [batches(ShardedBatchIterator, rank=r, world_size=3) for r in range(3)]
    assert len(whole) == 3 and all(len(p) == len(whole) for p in parts)
    for b, batch in enumerate(whole):
        assert sum((p[b] for p in parts), []) == batch
    assert sorted(sum(whole, [])) == list(range(11))


def test_batchnorm_is_synchronised_only_while_training_data_parallel():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    bn = model[1]
    weight = bn.weight
    assert _sync_batchnorm(model, 1) is model and type(bn) is nn.BatchNorm2d
    _sync_batchnorm(model, 2)
    assert type(bn) is not nn.BatchNorm2d and isinstance(bn, nn.BatchNorm2d)
    # without a process group it is a plain BatchNorm layer
    x = torch.randn(4, 1, 3, 3)
    expected = nn.functional.batch_norm(
        model[0](x), None, None, bn.weight, bn.bias, training=True, eps=bn.eps
    )
    torch.testing.assert_close(model(x), expected)
    _plain_batchnorm(model)
    assert type(bn) is nn.BatchNorm2d and bn.weight is weight


def test_auto_trains_alone_outside_a_launch(monkeypatch, _data, _clf):
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    X, y = _data(n=16, size=8)
    plain = _clf(max_epochs=1, validation_fraction=None).fit(X, y)
    auto = _clf(max_epochs=1, validation_fraction=None, accelerator="auto").fit(X, y)
    for name, tensor in plain.module_.state_dict().items():
        assert torch.equal(auto.module_.state_dict()[name], tensor), name


def test_bad_accelerator_is_an_error(_data, _clf):
    X, y = _data(n=16, size=8)
    with pytest.raises(ValueError, match="accelerator"):
        _clf(accelerator="yes").fit(X, y)


def test_an_accelerator_of_one_process_trains_the_plain_model(_data, _clf):
    from accelerate import Accelerator

    # the accelerated loop in this process: skorch's AccelerateMixin, the global-batch loss,
    # the shared checkpoint callback; a validation split, early stopping and class weights
    X, y = _data(n=24, size=8)
    params = dict(max_epochs=2, validation_fraction=0.25, scoring="roc_auc", augment="flips")
    plain = _clf(**params).fit(X, y)
    accelerated = _clf(**params, accelerator=Accelerator(cpu=True)).fit(X, y)
    for name, tensor in plain.module_.state_dict().items():
        other = accelerated.module_.state_dict()[name]
        if tensor.is_floating_point():
            # the loss is summed, then divided: the last bits differ from a mean
            torch.testing.assert_close(other, tensor, atol=1e-5, rtol=1e-5, msg=name)
        else:
            assert torch.equal(other, tensor), name
    assert accelerated.best_epoch_ == plain.best_epoch_
    np.testing.assert_allclose(
        [row["valid_score"] for row in accelerated.history_],
        [row["valid_score"] for row in plain.history_],
    )
    assert type(accelerated.module_.backbone.bn1) is torch.nn.BatchNorm2d


class _FakeAccelerator:
    """What data_parallel reads of an Accelerator: it sees one process."""

    process_index = 0
    num_processes = 1
    is_main_process = True
    device = "cpu"

    def prepare(self, *args):
        return args

    def backward(self, loss):
        loss.backward()


def test_an_accelerator_that_misses_the_launch_is_an_error(monkeypatch, _data, _clf):
    monkeypatch.setenv("WORLD_SIZE", "2")
    X, y = _data(n=16, size=8)
    with pytest.raises(ValueError, match="trains with 1 process.*launched as one of 2"):
        _clf(accelerator=_FakeAccelerator()).fit(X, y)


def test_a_batch_smaller_than_the_processes_is_an_error(monkeypatch, _data, _clf):
    accelerator = _FakeAccelerator()
    accelerator.num_processes = 4
    monkeypatch.setenv("WORLD_SIZE", "4")
    X, y = _data(n=16, size=8)
    with pytest.raises(ValueError, match="batch_size=2 is smaller than the 4 processes"):
        _clf(batch_size=2, accelerator=accelerator).fit(X, y)
