import os
import warnings

import pytest
import torch

warnings.filterwarnings("ignore", message=r".*torch\.jit.*")


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("GVIN_SLOW") == "1"
    skip_slow = pytest.mark.skip(reason="slow: set GVIN_SLOW=1 to run")
    skip_cuda = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)


CLI_TINY = ["--size", "7", "--counts", "24", "8", "8", "--depth", "8", "--hidden", "8", "--batch-size", "8"]
"""A tiny DT-VIN run of the ``gvin`` command (tests/test_cli.py and others)."""


@pytest.fixture(scope="session")
def trained_cli_run(tmp_path_factory):
    """One ``gvin train`` of :data:`CLI_TINY` for the whole session: ``(folder, printed output)``;
    the run is ``folder/"run"``, its data ``folder/"data"``. Copy it before changing it."""
    import contextlib
    import io

    from gvin.cli import main

    base = tmp_path_factory.mktemp("trained_cli_run")
    args = ["train", "--model", "dtvin", *CLI_TINY, "--epochs", "1", "--root", str(base / "data"),
            "--out", str(base / "run")]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(args) == 0
    return base, printed.getvalue()


@pytest.fixture(scope="session")
def maze_data(tmp_path_factory):
    """``maze_data(split="train", **options)``: a :class:`~gvin.datasets.MazeDataset` generated once per
    session and settings (one cache folder for every test module)."""
    from gvin.datasets import MazeDataset

    root = tmp_path_factory.mktemp("maze_data")

    def make(split: str = "train", **options):
        return MazeDataset(root, split=split, log=False, **options)

    return make


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: tiny kernels (small graphs, thousands of little solver calls)
    run fastest on one, and two busy cores make them stall for seconds with two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_gather_paths_agree(model, data) -> None:
    """``model`` plans ``data`` with the same values and parameter gradients (of the moves'
    log-probabilities) on its gather paths (``use_stencil=True``) as on the scatter path."""
    results = []
    for use_stencil in (True, False):
        model.use_stencil = use_stencil
        model.zero_grad()
        out = model(data)
        out.log_probs[data.move].sum().backward()
        results.append((out.v.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (v_gather, g_gather), (v_scatter, g_scatter) = results
    torch.testing.assert_close(v_gather, v_scatter)
    assert len(g_gather) == len(g_scatter) > 0
    for a, b in zip(g_gather, g_scatter):
        torch.testing.assert_close(a, b)
