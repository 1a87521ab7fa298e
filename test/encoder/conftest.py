"""Fixtures for the encoder tests: devices and a few tiny frames."""

import pytest
import torch
from encoder_test_support import TINY_MODEL, TINY_SPEC

from scenemem_ros.training.encoder_data import bank_from_clips, synthetic_clips


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=pytest.mark.gpu)])
def device(request) -> torch.device:
    """Each torch test runs on the CPU and, when one is present, on a CUDA device."""
    if request.param == 'cuda' and not torch.cuda.is_available():
        pytest.skip('CUDA is not available')
    return torch.device(request.param)


@pytest.fixture(scope='session')
def tiny_clips():
    """Two primitive worlds (a composition and an apartment), one clip of 3 frames each."""
    return synthetic_clips(TINY_SPEC)


@pytest.fixture(scope='session')
def tiny_bank(tiny_clips):
    return bank_from_clips([clip.frames for clip in tiny_clips], TINY_MODEL.input_height,
                           TINY_MODEL.input_width)
