"""Shared helpers of the encoder tests: a tiny model config and tiny synthetic frames."""

from scenemem_ros.encoder.config import (
    EncoderConfig,
    EncoderLossConfig,
    EncoderTrainConfig,
    SlotEncoderConfig,
)
from scenemem_ros.training.encoder_data import SyntheticSpec

TINY_MODEL = SlotEncoderConfig(slot_rows=2, slot_cols=3, num_prototypes=3, icosphere_level=1,
                               input_height=24, input_width=32, channels=(8, 8, 16),
                               head_hidden=16, position_frequencies=(1.0,))
TINY_SPEC = SyntheticSpec(worlds=2, clips_per_world=1, clip_length=3, width=32, height=24,
                          primitives=True)


def tiny_config(steps: int = 2, sequence_steps: int = 0, **train) -> EncoderConfig:
    """A model small enough to train for a few steps in a test."""
    return EncoderConfig(model=TINY_MODEL, loss=EncoderLossConfig(depth_points=64),
                         train=EncoderTrainConfig(steps=steps, sequence_steps=sequence_steps,
                                                  batch_size=2, device='cpu', threads=1,
                                                  checkpoint_every=1, **train))
