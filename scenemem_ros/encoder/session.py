"""Run a trained encoder on single frames: ``EncoderSession`` / ``encode_frame`` -> ``SlotSet``.

This is the API the change detector uses (pure numpy in and out, no ROS)::

    from scenemem_ros.encoder import EncoderSession, slots_to_boxes
    session = EncoderSession('models/encoder_demo.npz')          # CPU by default
    slot_set = session.encode_frame(depth, camera, camera_to_world)
    for box in slots_to_boxes(slot_set):                         # active slots only
        ...  # box.centre, box.half_extents, box.orientation_xyzw, box.yaw, box.id, ...

Slots are predicted in the camera's optical frame and moved to the world frame with the pose.
A session keeps slot identities across calls (``SlotTracker``), so a slot that stays in view
keeps its ``id`` (use it as the marker id).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from scenemem_ros.encoder.checkpoint import load_encoder
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.losses import make_targets
from scenemem_ros.encoder.model import SlotEncoder, SlotOutput
from scenemem_ros.encoder.refine import prune_starved, refine_slots
from scenemem_ros.encoder.sequence import SlotTracker
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import euler_to_matrix, matrix_to_quaternion

DEFAULT_MODEL_NAME = 'encoder_demo.npz'
MODEL_ENVIRONMENT = 'SCENEMEM_ENCODER_MODEL'


def default_model_path() -> Path:
    """The bundled encoder: $SCENEMEM_ENCODER_MODEL, the source tree's models/, or the
    installed share/scenemem_ros/models/."""
    if os.environ.get(MODEL_ENVIRONMENT):
        return Path(os.environ[MODEL_ENVIRONMENT])
    candidates = [Path(__file__).resolve().parents[2] / 'models' / DEFAULT_MODEL_NAME,
                  Path(sys.prefix) / 'share' / 'scenemem_ros' / 'models' / DEFAULT_MODEL_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


@dataclass(frozen=True, eq=False)
class SlotSet:
    """The K slots of one frame in the world frame (numpy; index k is the same slot in every
    array).

    Attributes:
        ids: (K,) int64 identity kept across frames by the session (-1: inactive slot).
        centres: (K, 3) centre of each slot mesh's bounding box (world, metres).
        half_extents: (K, 3) half sizes of that box along the slot's own axes (metres).
        rotations: (K, 3, 3) slot axes in the world (columns).
        yaw: (K,) rotation about world z of the slot axes (radians, z-y-x convention).
        scale: (K, 3) the slot's scale per axis (metres).
        translation: (K, 3) the slot's origin (the deformed sphere's centre) in the world.
        prototype: (K,) int64 index of the slot's largest prototype weight.
        prototype_weights: (K, P) softmax prototype weights.
        existence: (K,) existence probability.
        vertices: (K, V, 3) world-frame mesh vertices; faces: (F, 3) int64, shared.
        frame_id: the world frame's name.
    """

    ids: np.ndarray
    centres: np.ndarray
    half_extents: np.ndarray
    rotations: np.ndarray
    yaw: np.ndarray
    scale: np.ndarray
    translation: np.ndarray
    prototype: np.ndarray
    prototype_weights: np.ndarray
    existence: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    frame_id: str = 'map'

    def __len__(self) -> int:
        return int(len(self.existence))

    def active(self, threshold: float = 0.5) -> SlotSet:
        """Only the slots with existence above ``threshold``."""
        keep = self.existence > threshold
        return replace(self, **{name: getattr(self, name)[keep] for name in (
            'ids', 'centres', 'half_extents', 'rotations', 'yaw', 'scale', 'translation',
            'prototype', 'prototype_weights', 'existence', 'vertices')})


@dataclass(frozen=True, eq=False)
class SlotBox:
    """One slot as an oriented box (an RViz CUBE marker: pose = centre + orientation,
    scale = 2 * half_extents)."""

    id: int
    centre: np.ndarray
    half_extents: np.ndarray
    orientation_xyzw: np.ndarray
    yaw: float
    prototype: int
    existence: float


def slots_to_boxes(slot_set: SlotSet, threshold: float = 0.5) -> list[SlotBox]:
    """Active slots (existence > ``threshold``) as oriented boxes in the world frame."""
    active = slot_set.active(threshold)
    if len(active) == 0:
        return []
    quaternions = matrix_to_quaternion(active.rotations, tol=1e-3)
    return [SlotBox(id=int(active.ids[k]), centre=active.centres[k].copy(),
                    half_extents=active.half_extents[k].copy(),
                    orientation_xyzw=quaternions[k], yaw=float(active.yaw[k]),
                    prototype=int(active.prototype[k]), existence=float(active.existence[k]))
            for k in range(len(active))]


def slot_set_from_output(model: SlotEncoder, output: SlotOutput, camera_to_world: np.ndarray,
                         row: int = 0, ids: np.ndarray | None = None,
                         frame_id: str = 'map') -> SlotSet:
    """Frame ``row`` of a ``SlotOutput`` (camera frame) and its (4, 4) pose -> ``SlotSet``."""
    slots = output.slots.frames(slice(row, row + 1)).detach()
    with torch.no_grad():
        local = model.bank.blend(slots.prototype_weights)[0].double().cpu()  # (K, V, 3)
        rotation = euler_to_matrix(slots.rotation[0].double().cpu())  # (K, 3, 3)
    scale = slots.scale[0].double().cpu()
    low = (local.amin(dim=1) * scale).numpy()
    high = (local.amax(dim=1) * scale).numpy()
    pose = np.asarray(camera_to_world, dtype=np.float64)
    world_rotation = pose[:3, :3] @ rotation.numpy()
    translation = slots.translation[0].double().cpu().numpy() @ pose[:3, :3].T + pose[:3, 3]
    middle = (low + high) / 2
    centres = np.einsum('kij,kj->ki', world_rotation, middle) + translation
    vertices = output.vertices[row].detach().double().cpu().numpy() @ pose[:3, :3].T \
        + pose[:3, 3]
    weights = slots.prototype_weights[0].double().cpu().numpy()
    existence = slots.existence[0].double().cpu().numpy()
    count = len(existence)
    return SlotSet(
        ids=np.arange(count, dtype=np.int64) if ids is None else np.asarray(ids, np.int64),
        centres=centres, half_extents=(high - low) / 2, rotations=world_rotation,
        yaw=np.arctan2(world_rotation[:, 1, 0], world_rotation[:, 0, 0]),
        scale=scale.numpy(), translation=translation,
        prototype=weights.argmax(axis=1).astype(np.int64), prototype_weights=weights,
        existence=existence, vertices=vertices, faces=model.bank.faces.cpu().numpy(),
        frame_id=frame_id)


class EncoderSession:
    """A loaded encoder that turns depth frames into world-frame ``SlotSet``s.

    Args:
        checkpoint: encoder checkpoint (default: the bundled ``models/encoder_demo.npz``).
        device: torch device ('cpu' by default; 'cuda' when one is present).
        refine_steps: test-time refinement steps (None: the checkpoint's ``refine.steps``;
            0: amortised prediction only, the fast default). Starved slots are pruned either
            way (``RefineConfig.prune_share``).
        threads: CPU threads for torch (None leaves torch's setting).
        track: keep slot identities across calls (else ``ids`` is the slot index).
        frame_id: the world frame's name written into each ``SlotSet``.
    """

    def __init__(self, checkpoint: str | Path | None = None, device: str = 'cpu',
                 refine_steps: int | None = None, threads: int | None = None,
                 track: bool = True, frame_id: str = 'map') -> None:
        if threads:
            torch.set_num_threads(threads)
        self.path = Path(checkpoint) if checkpoint is not None else default_model_path()
        self.device = torch.device(device)
        self.model, self.config, self.info = load_encoder(self.path, self.device)
        refine = self.config.refine
        if refine_steps is not None:
            refine = replace(refine, steps=refine_steps)
        self.refine = refine
        self.tracker = SlotTracker(self.config.sequence) if track else None
        self.frame_id = frame_id
        self.last_seconds = 0.0

    def reset(self) -> None:
        """Forget slot identities (a new sequence starts)."""
        if self.tracker is not None:
            self.tracker.reset()

    def predict(self, depth: np.ndarray, camera: PinholeCamera,
                camera_to_world: np.ndarray | None = None,
                refine_steps: int | None = None) -> SlotOutput:
        """(H, W) depth, camera, optional (4, 4) pose -> camera-frame ``SlotOutput`` (B = 1)."""
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (camera.height, camera.width):
            raise EncoderError(f'depth shape {depth.shape} does not match the camera '
                               f'{camera.height}x{camera.width}')
        depth_t = torch.from_numpy(depth).to(self.device).unsqueeze(0)
        intrinsics = torch.tensor(camera.matrix, dtype=torch.float32,
                                  device=self.device).unsqueeze(0)
        pose = None
        if self.model.config.camera_vector:
            if camera_to_world is None:
                raise EncoderError('this encoder takes a camera vector: pass camera_to_world')
            pose = torch.tensor(np.asarray(camera_to_world), dtype=torch.float32,
                                device=self.device).unsqueeze(0)
        loss = self.config.loss
        with torch.no_grad():
            output = self.model(depth_t, intrinsics, pose, loss.samples_per_face)
        refine = self.refine if refine_steps is None else replace(self.refine,
                                                                  steps=refine_steps)
        if refine.steps or refine.prune_share:
            generator = torch.Generator(device=self.device).manual_seed(0)
            targets = make_targets(depth_t, intrinsics, replace(loss,
                                                                depth_points=refine.depth_points),
                                   self.model.config.max_depth, generator)
            output = refine_slots(self.model, output, targets, refine, loss)
            output = prune_starved(output, targets, refine.prune_share,
                                   loss.active_threshold, self.model.bank.faces,
                                   refine.prune_samples)
        return output

    def encode_frame(self, depth: np.ndarray, camera: PinholeCamera,
                     camera_to_world: np.ndarray) -> SlotSet:
        """(H, W) float32 depth in metres (NaN / 0 invalid), its ``PinholeCamera`` and the
        (4, 4) optical-to-world pose -> the frame's ``SlotSet`` in the world frame."""
        started = time.perf_counter()
        pose = np.asarray(camera_to_world, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise EncoderError(f'camera_to_world must be a finite (4, 4) matrix, got shape '
                               f'{pose.shape}')
        output = self.predict(depth, camera, pose)
        slot_set = slot_set_from_output(self.model, output, pose, frame_id=self.frame_id)
        if self.tracker is not None:
            active = slot_set.existence > self.config.loss.active_threshold
            ids = self.tracker.update(slot_set.translation, slot_set.prototype_weights, active)
            slot_set = replace(slot_set, ids=ids)
        self.last_seconds = time.perf_counter() - started
        return slot_set


_SESSIONS: dict[str, EncoderSession] = {}


def encode_frame(depth: np.ndarray, camera: PinholeCamera, camera_to_world: np.ndarray,
                 checkpoint: str | Path | None = None) -> SlotSet:
    """One-call form of ``EncoderSession.encode_frame`` on the CPU; sessions are cached per
    checkpoint (identities persist between calls with the same checkpoint)."""
    path = str(Path(checkpoint) if checkpoint is not None else default_model_path())
    if path not in _SESSIONS:
        _SESSIONS[path] = EncoderSession(path)
    return _SESSIONS[path].encode_frame(depth, camera, camera_to_world)
