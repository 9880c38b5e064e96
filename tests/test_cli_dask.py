"""``skbreastcad run --dask ADDRESS``: each fit asks for one GPU when the workers offer GPUs."""

import pytest

from skbreastcad._cli._shared import UsageError
from skbreastcad._cli.run import _dask

distributed = pytest.importorskip("dask.distributed")


def _gpu_left():
    """The GPU resource the running task left on its worker (0 while it holds the GPU)."""
    return distributed.get_worker().state.available_resources.get("GPU")


@pytest.fixture
def cluster(request):
    resources = request.param
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=False,
        dashboard_address=None,
        resources=resources,
    ) as cluster:
        yield cluster


@pytest.mark.parametrize("cluster", [{"GPU": 1}], indirect=True)
def test_fits_hold_a_gpu_of_workers_that_offer_one(cluster):
    from joblib import Parallel, delayed
    from joblib.parallel import get_active_backend

    with _dask(cluster.scheduler_address, None, "auto"):
        backend, _ = get_active_backend()
        assert backend.submit_kwargs == {"resources": {"GPU": 1}}
        # two threads per worker, one GPU each: a task runs only while it holds the GPU
        left = Parallel(n_jobs=-1, batch_size=1)(delayed(_gpu_left)() for _ in range(6))
    assert left == [0] * 6
    # on the CPU, the GPUs are not asked for
    with _dask(cluster.scheduler_address, None, "cpu"):
        assert get_active_backend()[0].submit_kwargs == {}


@pytest.mark.parametrize("cluster", [None], indirect=True)
def test_a_cuda_device_on_workers_without_gpus_is_an_error(cluster):
    with pytest.raises(UsageError, match="none of its 2 worker.*--resources GPU=1"):
        with _dask(cluster.scheduler_address, None, "cuda"):
            pass
    with _dask(cluster.scheduler_address, None, "auto"):
        pass
