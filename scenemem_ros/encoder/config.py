"""Frozen, validated configs of the slot encoder: model, losses, sequences, refinement, training.

Lengths are metres. Each config checks its fields in ``__post_init__`` and names the field and the
bad value when one is wrong. ``EncoderConfig`` bundles them and is saved inside every checkpoint
(``scenemem_ros.config.config_to_dict`` / ``config_from_dict`` round-trip it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from scenemem_ros.encoder.errors import EncoderError

TRANSLATION_FRAMES = ('anchor', 'camera')


def _require(ok: bool, config: object, name: str, rule: str) -> None:
    if not ok:
        raise EncoderError(f'{type(config).__name__}.{name} must be {rule}, '
                           f'got {getattr(config, name)!r}')


def _positive(config: object, *names: str) -> None:
    for name in names:
        _require(getattr(config, name) > 0, config, name, '> 0')


def _non_negative(config: object, *names: str) -> None:
    for name in names:
        _require(getattr(config, name) >= 0, config, name, '>= 0')


@dataclass(frozen=True)
class SlotEncoderConfig:
    """Architecture of the slot encoder (saved with its weights).

    Attributes:
        slot_rows, slot_cols: K = rows * cols slots; their clusters start on this grid of
            image cells (see ``encoder.model``).
        cluster_iterations: k-means rounds that move the clusters to the 3D points.
        num_prototypes: P, learned prototype shapes (offset fields of the icosphere).
        icosphere_level: subdivision level of the fixed sphere (2: 162 vertices, 3: 642).
        input_height, input_width: the depth map is resized to this before the CNN.
        channels: output channels of the stem and of each ResNet stage (each stage halves the
            resolution; the stem halves it too).
        blocks_per_stage: residual blocks per stage.
        head_hidden: width of the per-slot MLP head.
        position_frequencies: frequencies (radians per metre) of the sinusoidal encoding of each
            pixel's back-projected 3D point (Video-3D LLM's position-aware input).
        per_axis_scale: scale each slot per axis (else one uniform scale).
        min_scale, max_scale: the range of a slot's scale (metres; the unit sphere's radius).
        initial_scale: scale of a slot over a cell without depth before training moves it;
            other slots start from their cell's point spread.
        max_depth: depth beyond this is treated as invalid; also the input normalisation.
        camera_vector: feed a camera vector (gravity direction in the camera frame and the
            camera height) to the head; frames then need a camera-to-world pose.
        translation_frame: how the head's translation output moves a slot off its anchor.
            'anchor': along the anchor's principal axes, each in units of the anchor's extent
            on that axis (at least ``translation_floor``), like box regression relative to
            anchors in detectors: a flat cluster's slot moves little off its plane and freely
            within it. 'camera': TRANSLATION_RESIDUAL metres per unit along the camera axes
            (checkpoints written before this field existed).
        translation_floor: smallest extent (metres) of an axis in 'anchor' translation units.
        cluster_normal_weight: metres of k-means distance per unit difference of surface
            normal (0: cluster on 3D position alone). With it a cluster does not straddle a
            crease (floor and wall, table top and side), whose mean would hang in free space
            in front of both surfaces.
    """

    slot_rows: int = 6
    slot_cols: int = 8
    cluster_iterations: int = 4
    num_prototypes: int = 12
    icosphere_level: int = 2
    input_height: int = 120
    input_width: int = 160
    channels: tuple[int, ...] = (24, 32, 64, 96)
    blocks_per_stage: int = 1
    head_hidden: int = 128
    position_frequencies: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    per_axis_scale: bool = True
    min_scale: float = 0.02
    max_scale: float = 3.0
    initial_scale: float = 0.3
    max_depth: float = 10.0
    camera_vector: bool = False
    translation_frame: str = 'anchor'
    translation_floor: float = 0.05
    cluster_normal_weight: float = 0.5

    def __post_init__(self) -> None:
        _require(self.translation_frame in TRANSLATION_FRAMES, self, 'translation_frame',
                 f'one of {TRANSLATION_FRAMES}')
        _positive(self, 'translation_floor')
        _require(self.cluster_normal_weight >= 0, self, 'cluster_normal_weight', '>= 0')
        _positive(self, 'slot_rows', 'slot_cols', 'num_prototypes', 'head_hidden', 'min_scale',
                  'initial_scale', 'max_depth', 'blocks_per_stage')
        _require(self.cluster_iterations >= 0, self, 'cluster_iterations', '>= 0')
        _require(0 <= self.icosphere_level <= 4, self, 'icosphere_level', 'in [0, 4]')
        _require(self.input_height >= 16 and self.input_width >= 16, self, 'input_height',
                 'at least 16 (and input_width too)')
        _require(len(self.channels) >= 2 and all(c > 0 for c in self.channels), self, 'channels',
                 'at least two positive widths')
        _require(all(f > 0 for f in self.position_frequencies), self, 'position_frequencies',
                 'positive')
        _require(self.min_scale < self.initial_scale < self.max_scale, self, 'initial_scale',
                 'between min_scale and max_scale')

    @property
    def num_slots(self) -> int:
        """K, the number of slots per frame."""
        return self.slot_rows * self.slot_cols


@dataclass(frozen=True)
class EncoderLossConfig:
    """Per-frame losses (see ``encoder.losses``).

    Attributes:
        depth_points: depth points drawn per frame for the losses.
        samples_per_face: barycentric samples per mesh face used as slot surface points in the
            losses (1: face centres; 3, 4 or 6: denser patterns), beside the vertices.
        chunk_size: depth points per chunk of the nearest-neighbour search (memory bound).
        miss_distance: distance charged to a point when no slot exists (metres).
        min_point_share: an active slot should own at least this share of the frame's points.
        active_threshold: existence probability above which a slot counts as active.
        front_margin: slot surface more than this in front of the observed depth is penalised.
        front_cap: the front violation saturates softly at this depth (metres).
        front_lookup: how the front test reads the observed depth at a sample's projection:
            'nearest' pixel (gradient along the camera axis only) or 'bilinear' (also a
            gradient across the image, towards where the observed surface is nearer).
        front_area_weighted: weigh each slot's front penalty by its surface area (from its
            scale, relative to the frame's existence-weighted mean), as the metric counts
            area: every slot has the same number of surface samples, so without it a floor
            slot's in-front surface counts as much as a cup's.
        invalid_is_free: treat pixels without a depth return (after filling single-pixel
            dropouts) as free space up to ``max_depth`` for the front penalty.
        surface_truncation: the surface-to-points term saturates at this distance.
        chamfer_weight, min_share_weight, front_weight, laplacian_weight, edge_weight,
            surface_weight: weights of the terms in ``total``.
    """

    depth_points: int = 1024
    samples_per_face: int = 1
    chunk_size: int = 4096
    miss_distance: float = 1.0
    min_point_share: float = 0.005
    active_threshold: float = 0.5
    front_margin: float = 0.03
    front_cap: float = 0.3
    front_lookup: str = 'bilinear'
    front_area_weighted: bool = False
    invalid_is_free: bool = True
    surface_truncation: float = 1.0
    chamfer_weight: float = 1.0
    min_share_weight: float = 0.5
    front_weight: float = 7.0
    laplacian_weight: float = 0.5
    edge_weight: float = 0.5
    surface_weight: float = 2.0

    def __post_init__(self) -> None:
        _positive(self, 'depth_points', 'chunk_size', 'miss_distance', 'surface_truncation',
                  'front_cap')
        _require(self.samples_per_face in (1, 3, 4, 6), self, 'samples_per_face',
                 'one of 1, 3, 4, 6')
        _require(0 <= self.min_point_share < 1, self, 'min_point_share', 'in [0, 1)')
        _require(0 < self.active_threshold < 1, self, 'active_threshold', 'in (0, 1)')
        _require(self.front_lookup in ('nearest', 'bilinear'), self, 'front_lookup',
                 "'nearest' or 'bilinear'")
        _non_negative(self, 'front_margin', 'chamfer_weight', 'min_share_weight', 'front_weight',
                      'laplacian_weight', 'edge_weight', 'surface_weight')


@dataclass(frozen=True)
class SequenceLossConfig:
    """Phase two: slots matched across frames keep identity and move smoothly.

    Attributes:
        prototype_change_weight: weight of the squared change of a matched slot's prototype
            weights between consecutive frames.
        acceleration_weight: weight of the squared world-frame acceleration
            ``x[t+1] - 2 x[t] + x[t-1]`` of slots matched over three frames (parabolic motion
            is free, jerks are not).
        match_gate: matches whose world-frame centre distance exceeds this are refused (metres).
        match_prototype_cost: metres of matching cost per unit L1 change of prototype weights.
    """

    prototype_change_weight: float = 0.1
    acceleration_weight: float = 0.5
    match_gate: float = 0.5
    match_prototype_cost: float = 0.25

    def __post_init__(self) -> None:
        _non_negative(self, 'prototype_change_weight', 'acceleration_weight',
                      'match_prototype_cost')
        _positive(self, 'match_gate')


@dataclass(frozen=True)
class RefineConfig:
    """Optional test-time refinement: gradient steps on one frame's slot parameters.

    Attributes:
        steps: Adam steps (0 disables refinement: the amortised prediction is returned).
        learning_rate: Adam step size on the raw slot parameters.
        depth_points: depth points used by the refinement losses and by pruning.
        prune_share: after prediction (and refinement), an active slot that is the nearest
            surface of fewer than this share of ``depth_points`` depth points is switched off
            (existence 0), like non-maximum suppression in detectors; 0 disables. The default
            (~15 of 2048) leaves a margin over the metric's 10 of 2048, which draws its own
            points and surface samples (0.005 left 2 starved slots in 24 refined frames).
        prune_samples: surface points drawn uniformly by area over the active meshes to decide
            which slot is nearest each depth point when pruning (0: the meshes' own samples,
            a fixed number per slot, which under-represents large slots).
    """

    steps: int = 0
    learning_rate: float = 0.02
    depth_points: int = 2048
    prune_share: float = 0.0075
    prune_samples: int = 16384

    def __post_init__(self) -> None:
        _non_negative(self, 'steps', 'prune_samples')
        _positive(self, 'learning_rate', 'depth_points')
        _require(0 <= self.prune_share < 1, self, 'prune_share', 'in [0, 1)')


@dataclass(frozen=True)
class EncoderTrainConfig:
    """Training of the encoder (phase one on single frames, phase two on short sequences).

    Attributes:
        steps: optimiser steps of phase one (single frames).
        sequence_steps: optimiser steps of phase two (sequences), after phase one.
        sequence_length: frames per training sequence in phase two (>= 3 for acceleration).
        batch_size: frames (phase one) or sequences (phase two) per step and process.
        learning_rate, weight_decay: AdamW settings (cosine decay to 5 % over all steps).
        prototype_learning_rate: learning rate of the prototype offsets.
        grad_clip: gradient norm clip (0 disables).
        seed: seeds initialisation and batch order; each DDP rank adds its rank.
        checkpoint_every: steps between resumable snapshots (0: only at the end).
        device: torch device ('auto', 'cpu', 'cuda', 'cuda:1', ...).
        threads: CPU threads torch may use (0 keeps torch's default).
        true_depth_targets: when the frames carry their true depth (synthetic worlds), the
            losses compare the slots with it while the encoder sees the sensor depth: it
            learns where the surface is, not the noise (one-directional Chamfer against noisy
            points rewards slots as thick as the noise, whose front faces stand in seen-free
            space). Recorded frames have no true depth and use the sensor depth.
    """

    steps: int = 750
    sequence_steps: int = 50
    sequence_length: int = 3
    batch_size: int = 8
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    prototype_learning_rate: float = 2e-3
    grad_clip: float = 5.0
    seed: int = 0
    checkpoint_every: int = 200
    device: str = 'auto'
    threads: int = 2
    true_depth_targets: bool = True

    def __post_init__(self) -> None:
        _non_negative(self, 'steps', 'sequence_steps', 'weight_decay', 'grad_clip', 'seed',
                      'checkpoint_every', 'threads')
        _positive(self, 'batch_size', 'learning_rate', 'prototype_learning_rate')
        _require(self.sequence_length >= 3, self, 'sequence_length', '>= 3')
        _require(self.steps + self.sequence_steps > 0, self, 'steps', '> 0 or sequence_steps > 0')

    @property
    def total_steps(self) -> int:
        """Phase one plus phase two steps."""
        return self.steps + self.sequence_steps


@dataclass(frozen=True)
class EncoderConfig:
    """Everything about an encoder: model, losses, sequence phase, refinement, training."""

    model: SlotEncoderConfig = dataclasses.field(default_factory=SlotEncoderConfig)
    loss: EncoderLossConfig = dataclasses.field(default_factory=EncoderLossConfig)
    sequence: SequenceLossConfig = dataclasses.field(default_factory=SequenceLossConfig)
    refine: RefineConfig = dataclasses.field(default_factory=RefineConfig)
    train: EncoderTrainConfig = dataclasses.field(default_factory=EncoderTrainConfig)
