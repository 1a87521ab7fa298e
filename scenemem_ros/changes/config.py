"""Configuration of the change detector (one frozen dataclass, mapped onto ROS parameters)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from scenemem_ros.changes.errors import ChangeDetectionError


@dataclass(frozen=True)
class ChangeDetectorConfig:
    """How depth frames are compared with the memory and turned into overrides.

    Attributes:
        resolution: edge (m) of the evidence voxels.
        addition_width: images are looked at for additions with every n-th pixel of each
            row and column, n chosen so that about this many columns remain (160: every 4th
            pixel of a 640x480 image, every 2nd of 320x240).
        removal_width: the same for the comparison with the memory's expected depth, which
            costs a ray cast per pixel.
        min_range, max_range: depth (m) outside which pixels are ignored.
        margin: depth difference (m) within which observed and expected depth agree ...
        margin_per_m2: ... plus this times depth squared (the sensor's depth-squared noise).
        edge_jump: relative depth jump that marks a depth edge (flying pixels; ignored).
        min_pixels: pixels that must agree in a voxel for it to gain evidence in one frame.
        strong_pixels: a voxel that this many pixels support in one frame (and, for a
            removal, that at most a quarter as many see where the memory has it) counts as
            changed at once instead of after ``on_frames`` frames; a glimpse through a new
            doorway or of a new object is then enough (0: off).
        strong_cluster_voxels: removal voxels that each at least ``min_pixels`` pixels see
            through (and at most a quarter as many see where the memory has it) and that form
            one 26-connected patch of at least this many voxels in a single frame go one frame
            short of changed, even with fewer than ``strong_pixels`` each; a second frame that
            edge of the range, where rays are sparse, is then enough). Misaligned views of a
            jittered pose see past depth edges in thin strips, far smaller (0: off).
        patch_frames: frames that must see such a patch before it counts as changed: 1 takes
            a single frame's glimpse (in a frame that passes ``min_agreement``), 2 waits for a
            second frame.
        min_agreement: the one-frame shortcuts (``strong_pixels``, a one-frame patch) are
            taken only from frames in which at least this share of the pixels compared with
            the memory's expected depth agree with it. A frame paired with a wrong pose
            disagrees almost everywhere (share 0-0.2 in the synthetic walks with a pose half a
            second off); exact and 5 cm / 1 deg jittered poses give 0.98-0.99 (median) and a
            real change only lowers it in its part of the view. Such a frame still adds
            ordinary evidence, which has to recur (0: no check). A frame that skips the
            comparison (``removal_every`` > 1) cannot be checked and counts as agreeing.
        on_frames: frames of evidence after which a voxel counts as changed ...
        max_score: ... and the cap on its evidence, so that it takes at most this many
            contradicting frames to forget it (hysteresis: changed until the score is 0).
        min_cluster_voxels: changed voxels a connected cluster needs to become a candidate.
        cluster_gap: changed voxels closer than this (m) belong to one cluster (the two faces
            of a box seen from either side, with the unseen inside between them).
        min_incidence: cosine of the angle between a ray and the surface it meets below
            which the pixel is not compared (grazing rays turn small offsets into large
            depth differences).
        confirm_frames: frames a candidate must be seen in before it is published.
        floor_height, floor_snap: a cluster whose bottom is within ``floor_snap`` of the floor
            is extended down to it (objects stand on the floor; its top face is what is seen).
        z_min, z_max: the height band that counts for the 2D tests (doorway, new room).
        robot_radius: gaps narrower than twice this are closed in the doorway test.
        doorway_window: half-size (m) of the window the doorway test looks at.
        min_region_area: free area (m^2) a side of a doorway needs to count as a room.
        move_volume_ratio: a removal and an addition whose box volumes differ by less than
            this factor (and heights by less than ``move_height_tolerance``) are one move.
        move_height_tolerance: see above (m).
        move_shape_tolerance: with a slot encoder (``ChangeDetector.shape_encoder``), the pair
            must also have the same shape: what the slots that cover the removal (from the
            memory's expected depth) and the addition (observed) describe must lie within this
            mean surface distance (m) of each other, up to a shift and a turn on the floor.
            Otherwise a chair taken away and a box put down elsewhere make one 'move' (0: box
            test only).
        shape_every: frames between two looks at the shape of a change in view (each costs
            one encoder pass per side, and a ray cast of the expected depth for removals).
        shape_tries: looks at a change's shape, at most (pairs are judged on the latest shape
            seen). A change whose looks all came back empty is paired by its boxes alone;
            until then (and for at most ``shape_tries * shape_every`` frames after the change
            was confirmed) a change without a shape is not paired.
        ttl: seconds a detected override lives after it was last seen (0: forever).
        refresh_period: seconds between republications of a live override's ``last_seen``.
        republish_iou: a published override is republished when its box's IoU with the
            published box falls below this (kind changes, moves and deletions always are) ...
        urgent_iou: ... at once when it falls below this one (the box grew or moved a lot),
            otherwise at most once per ``republish_interval`` seconds, so that a box that
            keeps being reshaped slightly does not republish the map on every frame.
        republish_interval: see above (s; 0: no damping).
        pose_jitter_deg: how far (degrees of view) the camera pose may be off, jitter of the
            localisation included. Removal evidence is not taken within this angle of a depth
            edge of the memory's expected image, and the depth margin grows by the depth change
            such a turn makes on a slanted surface (0: poses are exact).
        removal_every: compare with the memory's expected depth (the ray cast that removals
            need) on every n-th frame only; additions are looked for on every frame. Frames
            without the comparison leave removal evidence as it is.
    """

    resolution: float = 0.1
    addition_width: int = 160
    removal_width: int = 160
    min_range: float = 0.2
    max_range: float = 6.0
    margin: float = 0.1
    margin_per_m2: float = 0.01
    edge_jump: float = 0.05
    min_pixels: int = 2
    strong_pixels: int = 8
    strong_cluster_voxels: int = 32
    patch_frames: int = 1
    min_agreement: float = 0.5
    on_frames: int = 3
    max_score: int = 6
    min_cluster_voxels: int = 16
    cluster_gap: float = 0.4
    min_incidence: float = 0.25
    confirm_frames: int = 2
    floor_height: float = 0.0
    floor_snap: float = 0.3
    z_min: float = 0.1
    z_max: float = 1.8
    robot_radius: float = 0.2
    doorway_window: float = 2.0
    min_region_area: float = 1.0
    move_volume_ratio: float = 4.0
    move_height_tolerance: float = 0.5
    move_shape_tolerance: float = 0.08
    shape_every: int = 5
    shape_tries: int = 3
    ttl: float = 600.0
    refresh_period: float = 30.0
    republish_iou: float = 0.9
    urgent_iou: float = 0.5
    republish_interval: float = 5.0
    removal_every: int = 1
    pose_jitter_deg: float = 0.5

    def stride(self, image_width: int, target_width: int) -> int:
        """The pixel stride that leaves about ``target_width`` columns of an image."""
        return max(1, round(image_width / target_width))

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if not math.isfinite(value):
                raise ChangeDetectionError(f'ChangeDetectorConfig.{spec.name} must be finite, '
                                           f'got {value!r}')
        positive = ('resolution', 'addition_width', 'removal_width', 'max_range', 'min_pixels',
                    'on_frames',
                    'max_score', 'min_cluster_voxels', 'confirm_frames', 'doorway_window',
                    'min_region_area', 'move_volume_ratio', 'removal_every', 'shape_every',
                    'shape_tries')
        for name in positive:
            if getattr(self, name) <= 0:
                raise ChangeDetectionError(f'ChangeDetectorConfig.{name} must be > 0, got '
                                           f'{getattr(self, name)!r}')
        non_negative = ('cluster_gap', 'min_incidence', 'min_range', 'margin', 'margin_per_m2',
                        'edge_jump', 'floor_snap',
                        'robot_radius', 'move_height_tolerance', 'ttl', 'refresh_period',
                        'strong_pixels', 'strong_cluster_voxels', 'republish_interval',
                        'pose_jitter_deg', 'move_shape_tolerance')
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ChangeDetectionError(f'ChangeDetectorConfig.{name} must be >= 0, got '
                                           f'{getattr(self, name)!r}')
        if self.max_range <= self.min_range:
            raise ChangeDetectionError(f'ChangeDetectorConfig needs max_range > min_range, got '
                                       f'{self.min_range} and {self.max_range}')
        if self.max_score < self.on_frames:
            raise ChangeDetectionError(f'ChangeDetectorConfig.max_score ({self.max_score}) must '
                                       f'be >= on_frames ({self.on_frames})')
        if self.z_max <= self.z_min:
            raise ChangeDetectionError(f'ChangeDetectorConfig needs z_max > z_min, got '
                                       f'{self.z_min} and {self.z_max}')
        if self.strong_pixels and self.strong_pixels < self.min_pixels:
            raise ChangeDetectionError(f'ChangeDetectorConfig.strong_pixels ({self.strong_pixels})'
                                       f' must be 0 or >= min_pixels ({self.min_pixels})')
        if not 1 <= self.patch_frames <= self.on_frames:
            raise ChangeDetectionError(f'ChangeDetectorConfig.patch_frames must be in '
                                       f'1..on_frames ({self.on_frames}), got '
                                       f'{self.patch_frames!r}')
        for name in ('republish_iou', 'urgent_iou', 'min_agreement'):
            if not 0 <= getattr(self, name) <= 1:
                raise ChangeDetectionError(f'ChangeDetectorConfig.{name} must be in [0, 1], got '
                                           f'{getattr(self, name)!r}')
        if self.urgent_iou > self.republish_iou:
            raise ChangeDetectionError(f'ChangeDetectorConfig.urgent_iou ({self.urgent_iou}) '
                                       f'must be <= republish_iou ({self.republish_iou})')
        if self.move_volume_ratio < 1:
            raise ChangeDetectionError(f'ChangeDetectorConfig.move_volume_ratio must be >= 1, '
                                       f'got {self.move_volume_ratio}')
