"""Chunked, optionally parallel and progress-reporting evaluation over an image batch."""

import threading
from contextlib import contextmanager

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from threadpoolctl import threadpool_limits

__all__ = ["map_chunks", "single_threaded_blas"]

_blas_lock = threading.Lock()
_blas_owner = None


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while this thread works, for chunk-parallel kernels.

    BLAS thread counts are process-wide, so concurrent callers (e.g. a
    threading-backend grid search) must not each save and restore them: two
    overlapping ``threadpool_limits`` calls restore in the wrong order and
    leave BLAS on one thread for good. Here only one thread at a time, the
    *owner*, holds a limit, and it restores the setting itself when it leaves.
    The thread that sets a limit must be the one that restores it: since
    threadpoolctl 3.8, OpenBLAS limits set from any other thread are ignored
    while the setting thread is alive. Callers that overlap the owner run
    inside its limit; one still running after the owner left runs with the
    original setting (more threads than cores for a while, never a lost
    setting). This covers BLAS builds with one process-wide thread pool
    (OpenBLAS with pthreads, as numpy and scipy wheels ship); where the limit
    is per thread (an OpenMP BLAS), the chunks' worker threads keep theirs.
    """
    global _blas_owner
    with _blas_lock:
        owner = _blas_owner is None
        if owner:
            _blas_owner = threading.get_ident()
    if not owner:
        yield
        return
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        with _blas_lock:
            _blas_owner = None


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
