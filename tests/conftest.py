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
