"""Device-resident datasets and batch iterators for the skorch training loop.

skorch's default ``DataLoader`` gathers every batch sample by sample on the
host. Here the images already sit on the training device as one tensor, and
a batch is a single index-select, followed by batched augmentation on the
device.
"""

import numpy as np

from ..utils._optional import optional_import

with optional_import("TwoStageTransferClassifier"):
    import torch
    from torch.utils.data import Dataset

__all__ = ["BatchIterator", "TensorDataset"]


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
        for start, stop in self._bounds():
            rows = idx[start:stop]
            xb = ds.X.index_select(0, rows)
            yb = ds.y.index_select(0, rows)
            if self.augment is not None:
                xb = self.augment(xb, generator=self.generator)
            yield xb, yb
