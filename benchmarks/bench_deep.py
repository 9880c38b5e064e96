"""Throughput of the deep estimators against a plain PyTorch loop on the same model.

Two measurements, each set against a hand-written PyTorch loop with the same
model, weights, batch size, input size and data, in the same run:

- inference: ``CNNLayerFeatures.transform`` (the backbone's embedding, i.e. the
  input of its classification layer) against a loop that converts each uint8
  batch on the device, normalises it, runs the network without its head and
  copies the features back;
- training: one epoch of ``TwoStageTransferClassifier`` (skorch loop: device
  tensors, shuffling, history, callbacks; no validation split, constant LR)
  against a loop of index-select, forward, cross-entropy, backward and Adam
  steps over the same device tensors.

Both sides use bf16 autocast and channels_last when ``--amp``/``--channels-last``
resolve to on (by default: autocast on GPU only, channels_last on GPU and CPU;
``--channels-last off`` against ``on`` measures the layout itself). Images are random uint8 at the input
size, so no resizing happens on either side. Each rate is the best of
``--repeat`` timed passes after a warm-up pass.

``--distributed`` measures data-parallel training instead: the same
``TwoStageTransferClassifier(accelerator="auto")`` fit launched by ``torchrun``
with 1 and with 2 processes (``--processes``), over the same global batches;
the rate is the images of the second epoch over its duration on rank 0.

Usage::

    python benchmarks/bench_deep.py --device cpu                       # CPU smoke settings
    python benchmarks/bench_deep.py --device cuda --backbone vgg16 --size 224 --batch-size 256 --n-images 4096
    python benchmarks/bench_deep.py --distributed --device cpu         # 1 and 2 processes (gloo)
    python benchmarks/bench_deep.py --distributed --device cuda --processes 1 2 4 8
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from skbreastcad.features import CNNLayerFeatures
from skbreastcad.models import TwoStageTransferClassifier
from skbreastcad.nn._device import autocast, resolve_device, use_amp, use_channels_last


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(func, device):
    sync(device)
    start = time.perf_counter()
    func()
    sync(device)
    return time.perf_counter() - start


def paired_rates(ours, plain, n_images, repeat, device):
    """Best img/s of each side, the two timed alternately so that load changes
    on a shared machine hit both alike. ``ours()`` may return its own duration."""
    ours()
    plain()  # warm-up: kernels, allocator, autotuning
    best_ours = best_plain = np.inf
    for _ in range(repeat):
        own_list = []
        elapsed = timed(lambda own_list=own_list: own_list.append(ours()), device)
        best_ours = min(best_ours, own_list[0] if own_list[0] is not None else elapsed)
        best_plain = min(best_plain, timed(plain, device))
    return n_images / best_ours, n_images / best_plain


def plain_inference(model, images, batch_size, device, amp, channels_last):
    """Hand-written feature extraction: head removed, same preprocessing."""
    backbone = model.backbone
    mean, std = model.mean, model.std
    head = next(
        name for name, m in reversed(list(backbone.named_modules())) if isinstance(m, nn.Linear)
    )
    body = _without_head(backbone, head)

    def run():
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                x = (
                    torch.from_numpy(images[start : start + batch_size])
                    .to(device)
                    .float()
                    .div_(255)
                    .unsqueeze(1)
                )
                x = (x - mean) / std
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast(device, amp):
                    feats = body(x)
                out.append(feats.float().cpu())
        return torch.cat(out)

    return run


def _without_head(backbone, head):
    import copy

    body = copy.deepcopy(backbone)
    body.set_submodule(head, nn.Identity())
    return body


def plain_training_epoch(model, X_dev, y_dev, batch_size, device, amp, lr, seed):
    """One epoch of a plain PyTorch training loop over device tensors."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)

    def run():
        model.train()
        perm = torch.randperm(len(X_dev), generator=generator).to(device)
        for start in range(0, len(perm), batch_size):
            rows = perm[start : start + batch_size]
            if len(rows) < 2:
                continue
            xb, yb = X_dev.index_select(0, rows), y_dev.index_select(0, rows)
            optimizer.zero_grad()
            with autocast(device, amp):
                logits = model(xb)
            loss = criterion(logits.float(), yb)
            loss.backward()
            optimizer.step()

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default)")
    parser.add_argument(
        "--backbone", default=None, help="default: resnet18 on CPU, resnet50 on GPU"
    )
    parser.add_argument(
        "--size", type=int, default=None, help="input side (default 64 on CPU, 224 on GPU)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default 32 on CPU, 256 on GPU"
    )
    parser.add_argument(
        "--n-images", type=int, default=None, help="default 128 on CPU, 4096 on GPU"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--amp", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--channels-last", default="auto", choices=["auto", "on", "off"])
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 on CPU, torch's default on GPU)",
    )
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel training throughput for each of --processes (launched by torchrun)",
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--distributed-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.distributed_worker:
        return distributed_worker(args)
    if args.distributed:
        return distributed_main(args, argv)

    device = resolve_device(args.device)
    gpu = device.type == "cuda"
    backbone = args.backbone or ("resnet50" if gpu else "resnet18")
    size = args.size or (224 if gpu else 64)
    batch_size = args.batch_size or (256 if gpu else 32)
    n_images = args.n_images or (4096 if gpu else 128)
    if args.threads or not gpu:
        # one thread on CPU: on a shared machine, spinning OpenMP workers make
        # multi-threaded timings of small batches swing by 5x between runs
        torch.set_num_threads(args.threads or 1)
    amp = {"auto": "auto", "on": True, "off": False}[args.amp]
    channels_last = {"auto": "auto", "on": True, "off": False}[args.channels_last]
    amp_on, cl_on = use_amp(amp, device), use_channels_last(channels_last, device)
    if gpu:
        torch.backends.cudnn.benchmark = True

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n_images, size, size), dtype=np.uint8)
    y = np.arange(n_images) % 2
    name = (
        torch.cuda.get_device_name(device)
        if gpu
        else f"CPU, {torch.get_num_threads()} torch threads"
    )
    print(f"device: {device} ({name})")
    print(
        f"backbone={backbone} input={size}x{size} batch={batch_size} images={n_images} "
        f"amp(bf16)={amp_on} channels_last={cl_on} repeat={args.repeat}"
    )

    # -- inference ---------------------------------------------------------------
    est = CNNLayerFeatures(
        backbone,
        weights=None,
        input_size="native",
        batch_size=batch_size,
        device=str(device),
        amp=amp,
        channels_last=channels_last,
        random_state=0,
    ).fit(X[:batch_size])
    model = est._model_on(device, cl_on)
    plain = plain_inference(model, X, batch_size, device, amp_on, cl_on)
    np.testing.assert_allclose(plain()[: len(X)].numpy(), est.transform(X), rtol=2e-2, atol=2e-2)

    def ours_inference():
        est.transform(X)

    ours_inf, plain_inf = paired_rates(ours_inference, plain, n_images, args.repeat, device)

    # -- training ------------------------------------------------------------------
    from skbreastcad.nn import build_backbone
    from skbreastcad.nn._image_model import ImageModel
    from skbreastcad.nn._input import to_unit_tensor

    torch.manual_seed(0)
    built = build_backbone(backbone, None, num_classes=2)
    net = ImageModel(built.model, built.mean, built.std, None, channels_last=cl_on).to(device)
    if cl_on:
        net = net.to(memory_format=torch.channels_last)
    X_dev = to_unit_tensor(X, "dtype", device)
    y_dev = torch.as_tensor(y, device=device)
    plain_epoch = plain_training_epoch(net, X_dev, y_dev, batch_size, device, amp_on, 1e-4, 0)

    durations = []

    def ours_epoch():
        # a 2-epoch fit; skorch's duration of its second epoch (kernels warm)
        clf = TwoStageTransferClassifier(
            backbone,
            transfer="none",
            weights=None,
            input_size="native",
            batch_size=batch_size,
            max_epochs=2,
            lr=1e-4,
            optimizer="adam",  # the plain loop's optimizer, unweighted loss
            weight_decay=0.0,
            balance=None,
            lr_schedule="constant",
            early_stopping=None,
            validation_fraction=None,
            device=str(device),
            amp=amp,
            channels_last=channels_last,
            random_state=0,
        ).fit(X, y)
        durations.append(clf.history_[-1, "dur"])
        return durations[-1]

    ours_train, plain_train = paired_rates(ours_epoch, plain_epoch, n_images, args.repeat, device)

    print()
    print(f"{'':28s}{'skbreastcad':>14s}{'plain PyTorch':>16s}{'ratio':>8s}")
    print(f"{'inference (img/s)':28s}{ours_inf:14.1f}{plain_inf:16.1f}{ours_inf / plain_inf:8.2f}")
    print(
        f"{'training epoch (img/s)':28s}{ours_train:14.1f}{plain_train:16.1f}{ours_train / plain_train:8.2f}"
    )
    print(
        f"(skorch epoch durations, s: {[round(d, 2) for d in durations]}; the first fit is the warm-up)"
    )


def _settings(args, device):
    gpu = device.type == "cuda"
    return (
        args.backbone or ("resnet50" if gpu else "resnet18"),
        args.size or (224 if gpu else 64),
        args.batch_size or (256 if gpu else 32),
        args.n_images or (4096 if gpu else 128),
    )


def distributed_worker(args):
    """One process of a launched data-parallel fit; rank 0 prints its epoch rates as JSON."""
    import json
    import os

    device = resolve_device(args.device)
    backbone, size, batch_size, n_images = _settings(args, device)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (n_images, size, size), dtype=np.uint8)
    y = np.arange(n_images) % 2
    rates = []
    for _ in range(args.repeat):
        clf = TwoStageTransferClassifier(
            backbone,
            transfer="none",
            weights=None,
            input_size="native",
            batch_size=batch_size,
            max_epochs=2,
            lr=1e-4,
            validation_fraction=None,
            device=str(device),
            accelerator="auto",
            random_state=0,
        ).fit(X, y)
        # the second epoch: kernels warm, process group connected
        rates.append(n_images / clf.history_[-1, "dur"])
    if os.environ.get("RANK", "0") == "0":
        print("RESULT " + json.dumps({"rates": rates}), flush=True)


def distributed_main(args, argv):
    """Launch :func:`distributed_worker` with each number of processes and tabulate."""
    import json
    import os
    import subprocess
    import sys

    device = resolve_device(args.device)
    backbone, size, batch_size, n_images = _settings(args, device)
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--distributed"]
    if "--processes" in forwarded:
        i = forwarded.index("--processes")
        del forwarded[i : i + 1 + len(args.processes)]
    print(
        f"data-parallel training: backbone={backbone} input={size}x{size} "
        f"global batch={batch_size} images={n_images} device={device} repeat={args.repeat}"
    )
    print(
        f"machine: {os.cpu_count()} CPU cores"
        + (f", {torch.cuda.device_count()} GPUs" if device.type == "cuda" else "")
    )
    rows = []
    for n in args.processes:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(n),
            os.path.abspath(__file__),
            "--distributed-worker",
            *forwarded,
        ]
        # one CPU thread per process on the CPU, as torchrun sets for more than one
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            print(proc.stdout[-2000:], proc.stderr[-4000:])
            raise SystemExit(f"the {n}-process run failed (exit {proc.returncode})")
        rows.append((n, max(json.loads(line[7:])["rates"])))
    base = rows[0][1]
    print()
    print(f"{'processes':>10s}{'img/s':>10s}{'speed-up':>10s}")
    for n, rate in rows:
        print(f"{n:10d}{rate:10.1f}{rate / base:10.2f}")


if __name__ == "__main__":
    main()
