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


def _overlap(owner_leaves_first):
    """Two threads overlap inside the guard; both stay alive until the check."""
    before = _blas_threads()
    if not before or max(before) == 1:
        pytest.skip("BLAS runs a single thread here: nothing to limit or restore")
    first_in, second_in, first_out, second_out, checked = (threading.Event() for _ in range(5))
    seen = {}

    def first():
        with single_threaded_blas():
            first_in.set()
            second_in.wait(5)
            seen["both inside"] = _blas_threads()
            if not owner_leaves_first:
                second_out.wait(5)
        first_out.set()
        checked.wait(5)  # alive while the main thread checks (threadpoolctl 3.8 ownership)

    def second():
        first_in.wait(5)
        with single_threaded_blas():
            second_in.set()
            if owner_leaves_first:
                first_out.wait(5)
        second_out.set()
        checked.wait(5)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_out.wait(10)
    second_out.wait(10)
    after = _blas_threads()
    checked.set()
    for t in threads:
        t.join(10)
    return before, seen["both inside"], after


@pytest.mark.parametrize("owner_leaves_first", [True, False])
def test_overlapping_blas_limits_from_two_threads_restore_the_original_setting(owner_leaves_first):
    # The first thread in sets the limit and must restore it itself: with
    # threadpoolctl >= 3.8 a restore from the second thread is ignored while
    # the first is alive, which left BLAS on one thread for good.
    before, inside, after = _overlap(owner_leaves_first)
    assert inside == [1] * len(before)
    assert after == before
