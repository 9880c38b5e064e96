"""Device-resident datasets and batch iterators for the skorch training loop.

skorch's default ``DataLoader`` gathers every batch sample by sample on the
host. Here the images already sit on the training device as one tensor, and
a batch is a single index-select, followed by batched augmentation on the
device.
"""

import numpy as np

from ..nn._input import to_unit_tensor
from ..utils._optional import optional_import

with optional_import("TwoStageTransferClassifier"):
    import torch
    from torch.utils.data import Dataset

__all__ = ["BatchIterator", "LazyDataset", "TensorDataset"]


class TensorDataset(Dataset):
    """Rows ``indices`` of device tensors ``X`` (n, 1, H, W) and ``y`` (n,)."""

    def __init__(self, X, y, indices):
        self.X = X
        self.y = y
        self.indices = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=X.device)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = self.indices[i]
        return self.X[j], self.y[j]

    def batches(self, rows):
        """Yield ``(X_batch, y_batch)`` for each tensor of row numbers in ``rows``."""
        for r in rows:
            yield self.X.index_select(0, r), self.y.index_select(0, r)


class LazyDataset(Dataset):
    """Rows ``indices`` of an image set read from disk, as unit tensors (n, 1, H, W) on ``device``.

    Parameters
    ----------
    images : ImagePaths
        The whole set; batches are read with its ``iter_batches``.
    y : tensor of shape (n,)
        The labels, on the training device.
    indices : array-like of int
    value_range : "dtype" or (float, float)
    """

    def __init__(self, images, y, indices, value_range):
        self.images = images
        self.y = y
        self.value_range = value_range
        self.indices = torch.as_tensor(np.asarray(indices, dtype=np.int64))

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = int(self.indices[i])
        x = to_unit_tensor(self.images.read([j]), self.value_range, self.y.device)[0]
        return x, self.y[j]

    def batches(self, rows):
        """Yield ``(X_batch, y_batch)`` for each tensor of row numbers in ``rows``."""
        rows = [r.cpu() for r in rows]
        # the unit scaling is elementwise: a batch scaled alone equals its rows of the
        # whole set scaled at once, bit for bit
        for r, images in zip(rows, self.images.iter_batches(r.numpy() for r in rows), strict=True):
            x = to_unit_tensor(images, self.value_range, self.y.device)
            yield x, self.y.index_select(0, r.to(self.y.device))


class BatchIterator:
    """Yield ``(X_batch, y_batch)`` from a :class:`TensorDataset`.

    Parameters
    ----------
    dataset : TensorDataset
    batch_size : int
    shuffle : bool, default=False
    augment : callable or None, default=None
        ``augment(images, generator)`` applied to each batch (training only).
    generator : torch.Generator or None, default=None
        CPU generator for shuffling and augmentation.
    """

    def __init__(self, dataset, batch_size, shuffle=False, augment=None, generator=None):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = generator

    def _bounds(self):
        n = len(self.dataset)
        starts = list(range(0, n, self.batch_size))
        # BatchNorm cannot train on a batch of one image: fold it into the previous batch
        if self.shuffle and len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()
        return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]

    def __len__(self):
        return len(self._bounds())

    def __iter__(self):
        ds = self.dataset
        idx = ds.indices
        if self.shuffle:
            perm = torch.randperm(len(idx), generator=self.generator).to(idx.device)
            idx = idx[perm]
        rows = [idx[start:stop] for start, stop in self._bounds()]
        for xb, yb in ds.batches(rows):
            if self.augment is not None:
                xb = self.augment(xb, generator=self.generator)
            yield xb, yb
