"""The slot encoder: depth map -> K slots (deformed-icosphere prototypes), losses, training.

Main entry points:
    SlotEncoder(config) -> model; model(depth, intrinsics) -> SlotOutput (camera frame)
    PrototypeBank, icosphere(level)                           fixed sphere + learned offsets
    frame_losses(output, targets, config) -> dict[str, Tensor]
    sequence_losses(...), SlotTracker, identity_consistency(...)   phase two
    fit_encoder(model, bank, config)                          training (DDP under torchrun)
    save_encoder / load_encoder                               checkpoints (.npz)
    EncoderSession(checkpoint).encode_frame(depth, camera, camera_to_world) -> SlotSet (world)
    slots_to_boxes(slot_set) -> list[SlotBox]                 for markers
    evaluate_frame(...) -> FrameMetrics                       Chamfer-L1, F-score@5cm, front
"""

from scenemem_ros.encoder.checkpoint import load_encoder, read_header, save_encoder
from scenemem_ros.encoder.config import (
    EncoderConfig,
    EncoderLossConfig,
    EncoderTrainConfig,
    RefineConfig,
    SequenceLossConfig,
    SlotEncoderConfig,
)
from scenemem_ros.encoder.errors import EncoderCheckpointError, EncoderError
from scenemem_ros.encoder.icosphere import Icosphere, icosphere
from scenemem_ros.encoder.losses import LOSS_KEYS, FrameTargets, frame_losses, make_targets
from scenemem_ros.encoder.metrics import FrameMetrics, evaluate_frame
from scenemem_ros.encoder.model import SlotEncoder, SlotOutput, parameter_count
from scenemem_ros.encoder.prototypes import PrototypeBank
from scenemem_ros.encoder.refine import refine_slots
from scenemem_ros.encoder.sequence import (
    SEQUENCE_LOSS_KEYS,
    SlotTracker,
    identity_consistency,
    match_slots,
    sequence_losses,
)
from scenemem_ros.encoder.session import (
    EncoderSession,
    SlotBox,
    SlotSet,
    default_model_path,
    encode_frame,
    slots_to_boxes,
)
from scenemem_ros.encoder.slots import Slots, slot_vertices
from scenemem_ros.encoder.train import EncoderFitReport, FrameBank, fit_encoder

__all__ = [
    'LOSS_KEYS', 'SEQUENCE_LOSS_KEYS', 'EncoderCheckpointError', 'EncoderConfig', 'EncoderError',
    'EncoderFitReport', 'EncoderLossConfig', 'EncoderSession', 'EncoderTrainConfig',
    'FrameBank', 'FrameMetrics', 'FrameTargets', 'Icosphere', 'PrototypeBank', 'RefineConfig',
    'SequenceLossConfig', 'SlotBox', 'SlotEncoder', 'SlotEncoderConfig', 'SlotOutput', 'SlotSet',
    'SlotTracker', 'Slots', 'default_model_path', 'encode_frame', 'evaluate_frame',
    'fit_encoder', 'frame_losses', 'icosphere', 'identity_consistency', 'load_encoder',
    'make_targets', 'match_slots', 'parameter_count', 'read_header', 'refine_slots',
    'save_encoder', 'sequence_losses', 'slot_vertices', 'slots_to_boxes',
]
