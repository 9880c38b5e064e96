"""Chunked, optionally parallel and progress-reporting evaluation over an image batch."""

import threading
from contextlib import contextmanager

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from threadpoolctl import threadpool_limits

__all__ = ["map_chunks", "single_threaded_blas"]

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limits = None


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while any caller is inside, then restore it.

    ``threadpool_limits`` saves and restores the process-wide setting per call:
    two overlapping calls from different threads restore in the wrong order and
    leave BLAS on one thread for good. Here the first caller to enter sets the
    limit and the last one to leave restores it.
    """
    global _blas_users, _blas_limits
    with _blas_lock:
        if _blas_users == 0:
            _blas_limits = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limits.restore_original_limits()
                _blas_limits = None


def map_chunks(func, n_samples, *, chunk_size, n_jobs=None, verbose=0, desc=None):
    """Apply ``func(slice)`` to consecutive slices of ``range(n_samples)``.

    Results (arrays with the samples along axis 0) are concatenated in order.
    Chunks run in threads: our kernels spend their time in NumPy/SciPy calls
    that release the GIL, so threads scale without copying the batch.

    Parameters
    ----------
    func : callable
        ``func(slice) -> ndarray`` of shape ``(slice_len, ...)``.
    n_samples : int
    chunk_size : int
        Samples per chunk; bounds peak memory.
    n_jobs : int or None, default=None
        Threads to use, with joblib's meaning (None = 1, -1 = all cores).
    verbose : int, default=0
        When positive, show a tqdm progress bar over chunks.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    out : ndarray
    """
    chunk_size = max(1, int(chunk_size))
    slices = [slice(i, min(i + chunk_size, n_samples)) for i in range(0, n_samples, chunk_size)]
    if verbose and len(slices) > 1:
        from tqdm.auto import tqdm

        progress = tqdm(total=n_samples, desc=desc, unit="img")
    else:
        progress = None

    def run(sl):
        out = func(sl)
        if progress is not None:
            progress.update(sl.stop - sl.start)
        return out

    try:
        if effective_n_jobs(n_jobs) == 1 or len(slices) == 1:
            results = [run(sl) for sl in slices]
        else:
            results = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(run)(sl) for sl in slices)
    finally:
        if progress is not None:
            progress.close()
    return np.concatenate(results, axis=0)
