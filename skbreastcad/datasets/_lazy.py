"""Image sets read lazily from their files: an array-like of file paths, read and resized on demand."""

import os
import sys
from numbers import Integral
from pathlib import Path

import numpy as np

from ..utils._sklearn_compat import Interval, validate_params
from ._readers import read_image
from ._roi import cut_roi

__all__ = ["ImagePaths"]


def _default_num_workers():
    # more workers than the cores this process may use only queue behind each other
    # (and torch's DataLoader warns about it)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return min(4, cores)


@validate_params(
    {
        "paths": ["array-like"],
        "output_size": [Interval(Integral, 1, None, closed="left")],
        "num_workers": [Interval(Integral, 0, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def _check_args(paths, output_size, num_workers):
    """Parameter validation of :class:`ImagePaths` (scikit-learn's messages)."""


class ImagePaths:
    """An image set given as file paths, read and resized only when its images are needed.

    An array-like of shape ``(n_images, output_size, output_size)`` that holds
    no pixels: each image is read (:func:`read_image`) and resampled to
    ``output_size`` as a whole-image ROI, exactly as :func:`load_image_folder`
    reads an image without a mask, when a batch of it is needed. Indexing it
    with an integer array, a boolean mask or a slice gives another
    ``ImagePaths`` (cross-validation splits stay lazy); ``np.asarray`` reads
    every image. :class:`~skbreastcad.models.TwoStageTransferClassifier`
    trains and predicts on it batch by batch, reading the batches in torch
    ``DataLoader`` worker processes, so that no set has to fit in memory;
    other estimators read the whole set into memory.

    Parameters
    ----------
    paths : sequence of str or path-like
        The image files, one image per file, in the order of the samples.
        Every file must exist (checked here, without reading it); the first
        is read to learn the pixel type.
    output_size : int, default=64
        Side of the square images this set holds (see :func:`load_image_folder`).
    crops : array-like of shape (n_files, 3) or None, default=None
        The square cut from each file before it is resampled, as
        ``(center_row, center_col, side)`` in the file's pixels (zero-padded
        past its edge, as :func:`cut_roi` cuts), e.g. the box around a
        lesion mask that :func:`load_image_folder` crops to. None takes each
        whole image. A file may appear several times with different crops
        (one image with several lesions).
    num_workers : int or None, default=None
        Worker processes that read training and prediction batches; 0 reads
        them in the calling process. None uses up to 4, no more than the
        cores this process may run on.

    Attributes
    ----------
    paths : tuple of str
        The files of this set's images, in order.
    shape : tuple of int
        ``(n_images, output_size, output_size)``.
    dtype : numpy.dtype
        The pixel type (of the first file; a file of another type is an
        error when it is read).
    ndim : int
        Always 3.
    size : int
        Number of pixels of the whole set.

    See Also
    --------
    load_image_folder : The same images, read at once into an array.
    read_image : How each file is read.

    Notes
    -----
    The grey-level range (``min``, ``max``) needed to check a deep
    estimator's ``value_range`` is computed by reading the set once; it is
    kept per file and shared by the subsets taken from the set, so the
    folds of a cross-validation do not read their files again for it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbreastcad.datasets import ImagePaths
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.fromarray(np.full((40, 30), 60 * i, np.uint8)).save(folder / f"{i}.png")
    >>> images = ImagePaths(sorted(folder.glob("*.png")), output_size=16, num_workers=0)
    >>> images.shape, images.dtype
    ((3, 16, 16), dtype('uint8'))
    >>> subset = images[[0, 2]]
    >>> type(subset).__name__, int(np.asarray(subset)[1, 8, 8])
    ('ImagePaths', 120)
    """

    def __init__(self, paths, *, output_size=64, crops=None, num_workers=None):
        if isinstance(paths, (str, os.PathLike)):
            raise TypeError(
                f"paths must be a sequence of image files, not one path ({str(paths)!r}); "
                "e.g. sorted(pathlib.Path(folder).glob('*.png'))."
            )
        _check_args(list(paths), output_size, num_workers)
        files = tuple(os.fspath(p) for p in paths)
        if not files:
            raise ValueError("ImagePaths needs at least one image file; got an empty sequence.")
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of the {len(files)} image file(s) are missing or not files: "
                f"{', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}"
            )
        self._crops = None if crops is None else _check_crops(crops, len(files))
        self._files = files
        self._rows = np.arange(len(files))
        self.output_size = int(output_size)
        self.num_workers = num_workers
        # per file (by position in _files): (min, max) of its resized image, shared by subsets
        self._levels = {}
        self._dtype = self._read_one(0).dtype

    # -- array-like ------------------------------------------------------------------
    @property
    def paths(self):
        """The files of this set's images, in order (tuple of str)."""
        return tuple(self._files[i] for i in self._rows)

    @property
    def shape(self):
        """``(n_images, output_size, output_size)``."""
        return (len(self._rows), self.output_size, self.output_size)

    @property
    def dtype(self):
        """The pixel type (that of the first file)."""
        return self._dtype

    @property
    def ndim(self):
        """Number of dimensions: always 3."""
        return 3

    @property
    def size(self):
        """Number of pixels of the whole set."""
        return int(np.prod(self.shape))

    def __len__(self):
        return len(self._rows)

    def __repr__(self):
        return (
            f"ImagePaths(<{len(self)} files>, output_size={self.output_size}, "
            f"num_workers={self.num_workers})"
        )

    def __getitem__(self, key):
        if isinstance(key, tuple):
            # scikit-learn's _safe_indexing asks for images[rows, ...]
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(
                    "ImagePaths is indexed by image only (an int, a slice, an integer array or "
                    f"a boolean mask); got {key!r}. Read the images first (np.asarray) to index pixels."
                )
        if isinstance(key, Integral) and not isinstance(key, (bool, np.bool_)):
            return self._read_one(self._rows[key])
        if isinstance(key, slice):
            rows = self._rows[key]
        else:
            key = np.asarray(key)
            if key.dtype == bool:
                if key.shape != (len(self),):
                    raise IndexError(
                        f"A boolean mask must have one value per image ({len(self)}); got shape "
                        f"{key.shape}."
                    )
            elif key.dtype.kind not in "iu" and key.size:
                raise IndexError(
                    f"ImagePaths is indexed by integers or booleans; got an array of {key.dtype}."
                )
            elif key.ndim != 1:
                raise IndexError(f"Index arrays must be 1-D; got shape {key.shape}.")
            rows = self._rows[key.astype(np.intp) if key.dtype != bool else key]
        return self._subset(rows)

    def _subset(self, rows):
        subset = object.__new__(type(self))
        subset.__dict__.update(self.__dict__)
        subset._rows = np.asarray(rows, dtype=np.intp)
        return subset

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("ImagePaths holds no pixels: np.asarray must read (copy) them.")
        out = self.read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)

    # -- reading ---------------------------------------------------------------------
    def _read_one(self, position):
        path = self._files[position]
        image = read_image(path)
        if self._crops is None:
            # the whole image as one square ROI, as load_image_folder takes an image without a mask
            row, col, side = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2, max(image.shape)
        else:
            row, col, side = self._crops[position]
            side = int(side)
        roi, _ = cut_roi(image, row, col, side, self.output_size)
        dtype = getattr(self, "_dtype", roi.dtype)
        if roi.dtype != dtype:
            raise ValueError(
                f"Image {path} holds {roi.dtype} pixels, but the set's first image "
                f"{self._files[0]} holds {dtype}: convert the images to one bit depth first."
            )
        self._levels.setdefault(int(position), (roi.min(), roi.max()))
        return roi

    def read(self, indices):
        """Read images of this set into memory.

        Parameters
        ----------
        indices : array-like of int
            Positions in this set.

        Returns
        -------
        images : ndarray of shape (len(indices), output_size, output_size)
            The images, of this set's ``dtype``.
        """
        rows = self._rows[np.asarray(indices, dtype=np.intp)]
        out = np.empty((len(rows), self.output_size, self.output_size), dtype=self._dtype)
        for k, position in enumerate(rows):
            out[k] = self._read_one(position)
        return out

    def iter_batches(self, batches):
        """Read batches of images, in worker processes when ``num_workers`` is positive.

        Parameters
        ----------
        batches : iterable of array-like of int
            The positions (in this set) of each batch's images.

        Yields
        ------
        images : ndarray of shape (batch_size, output_size, output_size)
            Each batch, in the order of ``batches``.
        """
        batches = [np.asarray(b, dtype=np.intp) for b in batches]
        workers = _default_num_workers() if self.num_workers is None else self.num_workers
        if workers == 0 or len(batches) < 2:
            for batch in batches:
                yield self.read(batch)
            return
        from torch import Generator
        from torch.utils.data import DataLoader

        loader = DataLoader(
            _BatchReader(self),
            batch_size=None,
            sampler=batches,
            num_workers=min(workers, len(batches)),
            collate_fn=_as_is,
            multiprocessing_context=_worker_start_method(),
            # drawn for the workers' seeds: a generator of its own leaves torch's global
            # random state (dropout, initialisation) as an in-memory fit leaves it
            generator=Generator().manual_seed(0),
        )
        yield from loader

    def _grey_levels(self):
        """``(min, max)`` grey levels of the set, reading (once) the files not read yet."""
        unread = [i for i, p in enumerate(self._rows) if int(p) not in self._levels]
        # read in the workers, in batches of up to 32 files
        blocks = [unread[i : i + 32] for i in range(0, len(unread), 32)]
        for block, images in zip(blocks, self.iter_batches(blocks), strict=True):
            for position, image in zip(self._rows[block], images, strict=True):
                self._levels[int(position)] = (image.min(), image.max())
        levels = [self._levels[int(p)] for p in self._rows]
        return min(lo for lo, _ in levels), max(hi for _, hi in levels)

    def min(self):
        """The lowest grey level of the set (reads the files not read yet).

        Returns
        -------
        low : scalar of this set's dtype
            The lowest grey level.
        """
        return self._grey_levels()[0]

    def max(self):
        """The highest grey level of the set (reads the files not read yet).

        Returns
        -------
        high : scalar of this set's dtype
            The highest grey level.
        """
        return self._grey_levels()[1]

    def fingerprint_key(self):
        """What identifies this set's content without reading it.

        Each file's absolute path, size in bytes and modification time (ns),
        with ``output_size`` and ``dtype``: a file rewritten in place changes
        its time, so a resumed fit never continues on other data.

        Returns
        -------
        key : list
            Plain values, for hashing.
        """
        key = [("ImagePaths", self.output_size, self._dtype.str)]
        for position in self._rows:
            path = os.path.abspath(self._files[position])
            status = os.stat(path)
            entry = (path, status.st_size, status.st_mtime_ns)
            if self._crops is not None:
                # the same file cut elsewhere is other data
                entry += tuple(float(v) for v in self._crops[position])
            key.append(entry)
        return key


def _check_crops(crops, n_files):
    """``crops`` as a float array of shape (n_files, 3), or a clear error."""
    try:
        array = np.asarray(crops, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"crops must be numbers (center_row, center_col, side), one row per file: {exc}"
        ) from None
    if array.shape != (n_files, 3):
        raise ValueError(
            f"crops must hold one (center_row, center_col, side) per file, shape ({n_files}, 3); "
            f"got shape {array.shape}."
        )
    if not np.isfinite(array).all():
        raise ValueError("crops holds NaN or infinite values.")
    sides = array[:, 2]
    if (sides < 1).any() or (sides != np.round(sides)).any():
        bad = int(np.flatnonzero((sides < 1) | (sides != np.round(sides)))[0])
        raise ValueError(
            f"crops' sides must be positive integers; row {bad} has side {float(sides[bad])}."
        )
    return array


def _worker_start_method():
    """How the reading workers start: chosen here, not inherited from the calling process.

    A joblib (loky) worker of ``GridSearchCV(n_jobs=...)`` sets its own start
    method, with which torch cannot start processes. Fork is the quickest on
    Linux; from Python 3.12 it warns in a process with threads (torch's), so
    a fork server starts them there, and spawn elsewhere (macOS, Windows).
    """
    if sys.platform.startswith("linux"):
        return "fork" if sys.version_info < (3, 12) else "forkserver"
    return "spawn"


def _as_is(batch):
    # the batch is already one array: torch's default collation would make it a tensor
    return batch


class _BatchReader:
    """A map-style dataset whose items are whole batches: ``reader[positions]`` is their images."""

    def __init__(self, images):
        self.images = images

    def __getitem__(self, positions):
        return self.images.read(positions)

    def __len__(self):
        return len(self.images)
