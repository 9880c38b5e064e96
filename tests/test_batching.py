"""Chunked evaluation helpers shared by the feature transformers."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from skbreastcad.utils._batching import map_chunks, single_threaded_blas


def _blas_threads():
    np.ones((4, 4)) @ np.ones((4, 4))  # make sure numpy's BLAS is loaded
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


def test_map_chunks_keeps_the_order_of_the_chunks():
    out = map_chunks(lambda sl: np.arange(sl.start, sl.stop), 10, chunk_size=3, n_jobs=2)
    np.testing.assert_array_equal(out, np.arange(10))


def test_overlapping_blas_limits_from_two_threads_restore_the_original_setting():
    before = _blas_threads()
    if not before or max(before) == 1:
        pytest.skip("BLAS runs a single thread here: nothing to restore")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    inside = []

    def first():
        with single_threaded_blas():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with single_threaded_blas():
            b_in.set()
            a_out.wait(5)
            inside.append(_blas_threads())  # the first has left; this one still needs the limit

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert inside == [[1] * len(before)]
    # threadpool_limits used directly restores in the wrong order here and leaves 1 thread
    assert _blas_threads() == before
