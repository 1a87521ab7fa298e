"""Fixtures for the geometry tests."""

import pytest
import torch


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=pytest.mark.gpu)])
def device(request) -> torch.device:
    """Each torch test runs on the CPU and, when one is present, on a CUDA device."""
    if request.param == 'cuda' and not torch.cuda.is_available():
        pytest.skip('CUDA is not available')
    return torch.device(request.param)
