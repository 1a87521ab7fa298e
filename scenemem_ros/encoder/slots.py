"""Slots: per-frame object hypotheses as padded tensors, and their meshes.

A slot (camera optical frame: x right, y down, z forward, metres) has a scale (per axis, or the
same on all three), a translation, a rotation as yaw, pitch, roll (``R = Rz(yaw) Ry(pitch)
Rx(roll)`` about the camera axes, ``geometry.euler_to_matrix``), prototype logits and an
existence probability. Its mesh is ``R (scale * blend(softmax(logits))) + translation``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.prototypes import PrototypeBank
from scenemem_ros.geometry.transforms import euler_to_matrix


class Slots(NamedTuple):
    """K slots of B frames in the camera frame.

    scale (B, K, 3) metres (equal columns for uniform scale), translation (B, K, 3) metres,
    rotation (B, K, 3) yaw, pitch, roll in radians, prototype_logits (B, K, P),
    existence (B, K) probabilities in (0, 1).
    """

    scale: torch.Tensor
    translation: torch.Tensor
    rotation: torch.Tensor
    prototype_logits: torch.Tensor
    existence: torch.Tensor

    @property
    def prototype_weights(self) -> torch.Tensor:
        """(B, K, P) softmax of the logits."""
        return torch.softmax(self.prototype_logits, dim=-1)

    @property
    def num_slots(self) -> int:
        return int(self.existence.shape[1])

    def detach(self) -> Slots:
        return Slots(*(t.detach() for t in self))

    def frames(self, rows: torch.Tensor | slice | int) -> Slots:
        """Slots of a subset of the frames (first dimension)."""
        return Slots(*(t[rows] for t in self))


def check_slots(slots: Slots) -> None:
    """Raise EncoderError unless the tensors have consistent (B, K, ...) shapes."""
    batch, count = slots.existence.shape
    for name, tensor, tail in (('scale', slots.scale, 3), ('translation', slots.translation, 3),
                               ('rotation', slots.rotation, 3)):
        if tuple(tensor.shape) != (batch, count, tail):
            raise EncoderError(f'Slots.{name} must be ({batch}, {count}, {tail}), '
                               f'got {tuple(tensor.shape)}')
    if slots.prototype_logits.shape[:2] != (batch, count):
        raise EncoderError(f'Slots.prototype_logits must be ({batch}, {count}, P), '
                           f'got {tuple(slots.prototype_logits.shape)}')


def matrix_to_euler(rotation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotations -> (..., 3) yaw, pitch, roll with ``R = Rz Ry Rx`` (the inverse of
    ``geometry.euler_to_matrix``; pitch in [-pi/2, pi/2], kept just inside it so that the
    gradient stays finite)."""
    sine = (-rotation[..., 2, 0]).clamp(-1 + 1e-6, 1 - 1e-6)
    pitch = torch.asin(sine)
    yaw = torch.atan2(rotation[..., 1, 0], rotation[..., 0, 0])
    roll = torch.atan2(rotation[..., 2, 1], rotation[..., 2, 2])
    return torch.stack([yaw, pitch, roll], dim=-1)


def slot_vertices(slots: Slots, bank: PrototypeBank) -> torch.Tensor:
    """(B, K, ...) slots -> (B, K, V, 3) camera-frame mesh vertices (faces: ``bank.faces``)."""
    local = bank.blend(slots.prototype_weights)
    return place(local, slots)


def place(local: torch.Tensor, slots: Slots) -> torch.Tensor:
    """(B, K, M, 3) slot-local points -> (B, K, M, 3) camera-frame points."""
    rotation = euler_to_matrix(slots.rotation)  # (B, K, 3, 3)
    scaled = local * slots.scale.unsqueeze(-2)
    return torch.einsum('bkij,bkmj->bkmi', rotation, scaled) + slots.translation.unsqueeze(-2)


def transform_slots_to_world(vertices: torch.Tensor, camera_to_world: torch.Tensor
                             ) -> torch.Tensor:
    """(B, K, M, 3) camera-frame points, (B, 4, 4) poses -> (B, K, M, 3) world-frame points."""
    rotation = camera_to_world[:, :3, :3].to(vertices)
    translation = camera_to_world[:, :3, 3].to(vertices)
    return torch.einsum('bij,bkmj->bkmi', rotation, vertices) + translation[:, None, None, :]
