"""The change detector: depth frames in, override updates out.

``ChangeDetector.process(depth, camera, camera_to_world, stamp)`` compares the frame with the
memory (``evidence``), groups changed voxels into connected clusters, follows each cluster from
frame to frame as a *track*, and publishes a track as an ``Override`` once it has been seen in
``confirm_frames`` frames. A published track is republished at once when it changes kind or
its box changes a lot (IoU with the published box below ``urgent_iou``), at most every
``republish_interval`` seconds when its box is only reshaped (IoU below ``republish_iou``), and
at least every ``refresh_period`` seconds while it is seen (so ``expires_at`` moves on); it is
deleted when its voxels are seen again as the memory has them (a person who walked away, a door
reopened). A removal and an addition of similar size are merged into one moved object, which
keeps the id of the removal or addition published first: a consumer sees that override
upgraded to ``object_moved`` rather than one override deleted and another one added. With a
slot encoder (``shape_encoder``) the two must also have the same shape (``shapes``): the
memory's object, encoded from the depth the memory expects, against the arrival, encoded from
the observed depth; a different object put down elsewhere stays an addition beside a removal.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import numpy as np

from scenemem_ros.changes.base import BaseGeometry
from scenemem_ros.changes.classify import (
    OVERRIDE_KIND,
    ChangeLabel,
    across_doorway,
    classify,
    cluster_box,
    opening_to_floor,
    similar,
)
from scenemem_ros.changes.clusters import cluster_voxels
from scenemem_ros.changes.config import ChangeDetectorConfig
from scenemem_ros.changes.evidence import EvidenceGrid, FrameEvidence, compare_frame
from scenemem_ros.changes.shapes import (
    ChangeShape,
    ShapeConfig,
    ShapeEncoder,
    SlotSurfaces,
    change_shape,
    merge_shapes,
    shape_distance,
)
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.memory.overrides import Box, Override, OverrideSource

# columns of the expected depth image that removal shapes are encoded from
EXPECTED_WIDTH = 160


class UpdateAction(enum.Enum):
    PUT = 'put'
    DELETE = 'delete'


@dataclass(frozen=True)
class OverrideUpdate:
    """One change to publish: put ``override`` or delete the override ``override_id``."""

    action: UpdateAction
    override_id: str
    override: Override | None = None


@dataclass
class Track:
    """A cluster of changed voxels followed over frames."""

    id: str
    addition: bool
    voxels: np.ndarray
    first_stamp: float
    last_stamp: float
    frames_seen: int = 1
    label: ChangeLabel | None = None
    box: Box | None = None
    published: Override | None = None
    published_stamp: float = -np.inf
    partner: str | None = None
    override_id: str | None = None
    # the voxels ``label`` and ``box`` were worked out from (they depend on nothing else)
    classified: np.ndarray | None = field(default=None, repr=False, compare=False)
    # what the slot encoder saw in the box (see ``shapes``), the detector frame of the last
    # look and how many looks there were
    shape: ChangeShape | None = field(default=None, repr=False, compare=False)
    shape_frame: int = -(10 ** 9)
    shape_looks: int = 0
    confirmed_frame: int | None = None

    @property
    def publishes_as(self) -> str:
        """The id of the track's override: its own, or the one a move took over."""
        return self.override_id or self.id


@dataclass(frozen=True)
class FrameReport:
    """What one call of ``process`` did.

    Attributes:
        updates: the override updates to publish, in order.
        evidence: the frame's raw evidence.
        tracks: live tracks after the frame.
        seconds: wall time of the call.
    """

    updates: list[OverrideUpdate]
    evidence: FrameEvidence
    tracks: int
    seconds: float


@dataclass
class ChangeDetector:
    """Stateful detector over one base geometry (not thread-safe: one caller at a time).

    ``shape_encoder`` (optional): depth frame -> world-frame slots, used to tell a moved object
    from a different one (``ChangeDetectorConfig.move_shape_tolerance``).
    """

    base: BaseGeometry
    config: ChangeDetectorConfig = field(default_factory=ChangeDetectorConfig)
    shape_encoder: ShapeEncoder | None = None
    shape_config: ShapeConfig = field(default_factory=ShapeConfig)

    def __post_init__(self) -> None:
        self.evidence = EvidenceGrid(self.base, self.config)
        self.tracks: dict[str, Track] = {}
        self.frames = 0
        self._next_id = 0
        # the detector's own clock: the frames' stamps plus an offset that grows whenever
        # they jump back
        self.latest_stamp = -np.inf
        self._time_offset = 0.0
        # the last clustering per side: (changed voxels, their clusters); evidence often stays
        # the same for many frames while a change is in view
        self._cluster_cache: dict[bool, tuple[np.ndarray, list[np.ndarray]]] = {}
        # shape distances by the ids of the pair of shapes compared (shapes are replaced, never
        # changed); each entry holds the two shapes, so that their ids cannot be reused while
        # it lives
        self._distances: dict[tuple[int, int], tuple[ChangeShape, ChangeShape, float]] = {}
        self.shape_seconds = 0.0
        # encoder calls that raised (the look then finds no shape) and the latest error
        self.shape_errors = 0
        self.last_shape_error = ''

    # ------------------------------------------------------------------ public
    def process(self, depth: np.ndarray, camera: PinholeCamera, camera_to_world: np.ndarray,
                stamp: float) -> FrameReport:
        """(H, W) float32 depth (m), its intrinsics, (4, 4) optical-frame pose, stamp (s)."""
        started = time.perf_counter()
        # a bag replayed again or a simulator reset sends time back: the detector's clock goes
        # on from where it was, advancing with the new stamps (tracks, republication and
        # expiry never see time reversed)
        stamp = float(stamp) + self._time_offset
        if stamp < self.latest_stamp:
            self._time_offset += self.latest_stamp - stamp
            stamp = self.latest_stamp
        self.latest_stamp = stamp
        evidence = compare_frame(self.base, self.config, depth, camera, camera_to_world,
                                 compare_removals=self.frames % self.config.removal_every == 0)
        self.evidence.update(evidence, np.asarray(depth, dtype=np.float32), camera,
                             camera_to_world)
        self.frames += 1
        updates: list[OverrideUpdate] = []
        for addition in (True, False):
            updates += self._follow(addition, stamp)
        confirmed = self._confirmed()
        self._look_at_shapes(confirmed, np.asarray(depth, dtype=np.float32), camera,
                             np.asarray(camera_to_world, dtype=np.float64))
        updates += self._pair_moves(confirmed)
        updates += self._publish(stamp)
        return FrameReport(updates, evidence, len(self.tracks), time.perf_counter() - started)

    def live_overrides(self) -> dict[str, Override]:
        """The overrides published and not deleted since, by id."""
        return {t.published.id: t.published for t in self.tracks.values() if t.published}

    def reset(self) -> list[OverrideUpdate]:
        """Forget all evidence; returns the deletions of every published override."""
        deletions = [OverrideUpdate(UpdateAction.DELETE, override_id)
                     for override_id in self.live_overrides()]
        self.evidence.reset()
        self.tracks.clear()
        self._cluster_cache.clear()
        self._distances.clear()
        self.latest_stamp, self._time_offset = -np.inf, 0.0
        return deletions

    # ------------------------------------------------------------------ tracks
    def _clusters(self, addition: bool) -> list[np.ndarray]:
        """Clusters (flat voxel indices, each at least ``min_cluster_voxels``) of the changed
        voxels of one side, joined across gaps up to ``cluster_gap``; reused while the changed
        set stays the same."""
        key = self.evidence.changed_indices(addition)
        if key.size == 0:
            return []
        cached = self._cluster_cache.get(addition)
        if cached is not None and np.array_equal(cached[0], key):
            return list(cached[1])
        reach = int(np.ceil(self.config.cluster_gap / 2 / self.base.grid.resolution))
        clusters = cluster_voxels(key, self.base.grid.shape, reach,
                                  self.config.min_cluster_voxels)
        for cluster in clusters:
            cluster.setflags(write=False)  # shared with the cache
        self._cluster_cache[addition] = (key, clusters)
        return list(clusters)

    def _follow(self, addition: bool, stamp: float) -> list[OverrideUpdate]:
        updates: list[OverrideUpdate] = []
        tracks = [t for t in self.tracks.values() if t.addition == addition]
        seen: set[str] = set()
        for voxels in self._clusters(addition):
            owners = [t for t in tracks if np.isin(voxels, t.voxels, assume_unique=True).any()]
            if owners:
                owners.sort(key=lambda t: (t.first_stamp, t.id))
                track = owners[0]
                if track.id in seen:
                    track.voxels = np.union1d(track.voxels, voxels)
                else:
                    track.voxels = voxels
                    track.frames_seen += 1
                track.last_stamp = stamp
                for merged in owners[1:]:
                    if merged.id in seen:
                        continue
                    updates += self._drop(merged)
                    tracks.remove(merged)
            else:
                track = Track(self._new_id(), addition, voxels, stamp, stamp)
                self.tracks[track.id] = track
                tracks.append(track)
            seen.add(track.id)
        for track in tracks:
            if track.id not in seen and track.id in self.tracks:
                updates += self._drop(track)
        return updates

    def _drop(self, track: Track) -> list[OverrideUpdate]:
        del self.tracks[track.id]
        if track.partner and track.partner in self.tracks:
            self.tracks[track.partner].partner = None
        if track.published is not None:
            return [OverrideUpdate(UpdateAction.DELETE, track.published.id)]
        return []

    def _new_id(self) -> str:
        self._next_id += 1
        return f'det-{self._next_id}'

    # ------------------------------------------------------------------ publication
    def _confirmed(self) -> list[Track]:
        confirmed = []
        for track in self.tracks.values():
            if track.frames_seen >= self.config.confirm_frames:
                if track.confirmed_frame is None:
                    track.confirmed_frame = self.frames
                if not self._classified(track):
                    track.label = classify(self.base, self.config, track.voxels, track.addition)
                    track.box = cluster_box(self.base, self.config, track.voxels)
                    if track.label is ChangeLabel.DOORWAY_BLOCKED:
                        track.box = across_doorway(self.base, track.box)
                    elif track.label is ChangeLabel.NEW_ROOM:
                        track.box = opening_to_floor(self.base, self.config, track.box,
                                                     self.evidence.surface_in_place)
                    track.classified = track.voxels
                confirmed.append(track)
        return confirmed

    @staticmethod
    def _classified(track: Track) -> bool:
        """True when the track's label and box were worked out from its current voxels."""
        previous = track.classified
        return previous is not None and track.label is not None and track.box is not None \
            and (previous is track.voxels or np.array_equal(previous, track.voxels))

    # ------------------------------------------------------------------ moves
    @property
    def _uses_shapes(self) -> bool:
        return self.shape_encoder is not None and self.config.move_shape_tolerance > 0

    def _in_view(self, box: Box, camera: PinholeCamera, camera_to_world: np.ndarray) -> bool:
        """True when the box's centre projects into the image within the depth range."""
        centre = (np.asarray(box.minimum) + np.asarray(box.maximum)) / 2
        local = camera_to_world[:3, :3].T @ (centre - camera_to_world[:3, 3])
        if not self.config.min_range < local[2] < self.config.max_range:
            return False
        u = camera.fx * local[0] / local[2] + camera.cx
        v = camera.fy * local[1] / local[2] + camera.cy
        return bool(-0.5 <= u < camera.width - 0.5 and -0.5 <= v < camera.height - 0.5)

    def _slots(self, addition: bool, depth: np.ndarray, camera: PinholeCamera,
               camera_to_world: np.ndarray) -> SlotSurfaces:
        """The frame's slots: of the observed depth for additions, of the depth the memory
        expects from the same pose for removals (ray cast at ``EXPECTED_WIDTH`` columns at
        most: the encoder resamples to 160 x 120 anyway)."""
        assert self.shape_encoder is not None
        if addition:
            return self.shape_encoder(depth, camera, camera_to_world)
        small = camera.scaled(min(1.0, EXPECTED_WIDTH / camera.width))
        expected = self.base.renderer.render(small, camera_to_world, self.config.max_range)
        return self.shape_encoder(expected, small, camera_to_world)

    def _look_at_shapes(self, confirmed: list[Track], depth: np.ndarray,
                        camera: PinholeCamera, camera_to_world: np.ndarray) -> None:
        """Encode the frame (once per side) for unpaired additions and removals in view whose
        last look is ``shape_every`` frames old and that have had fewer than ``shape_tries``
        looks, and keep the latest shape each shows (a change costs at most ``shape_tries``
        looks, however long it stays in view)."""
        if not self._uses_shapes:
            return
        started = time.perf_counter()
        slots: dict[bool, SlotSurfaces | None] = {}
        failed: set[bool] = set()
        for track in confirmed:
            if track.partner is not None or track.box is None or track.label not in (
                    ChangeLabel.OBJECT_ADDED, ChangeLabel.OBJECT_REMOVED) or \
                    self.frames - track.shape_frame < self.config.shape_every or \
                    track.shape_looks >= self.config.shape_tries or \
                    not self._in_view(track.box, camera, camera_to_world):
                continue
            shape = None
            # an encoder that fails (or slots it cannot be read from) costs this look only;
            # the error is counted and kept for the node to log, detection goes on
            try:
                if track.addition not in slots and track.addition not in failed:
                    slots[track.addition] = self._slots(track.addition, depth, camera,
                                                        camera_to_world)
                frame_slots = slots.get(track.addition)
                if frame_slots is not None:
                    shape = change_shape(frame_slots, track.box, self.shape_config,
                                         self.config.floor_height)
            except Exception as error:
                failed.add(track.addition)
                self.shape_errors += 1
                self.last_shape_error = f'{type(error).__name__}: {error}'
            track.shape_frame = self.frames
            track.shape_looks += 1
            if shape is not None:
                track.shape = shape if track.shape is None or self.shape_config.views <= 1 \
                    else merge_shapes(track.shape, shape, self.shape_config)
        self.shape_seconds += time.perf_counter() - started

    def shape_pending(self, track: Track) -> bool:
        """True while a track without a shape may still get one before it is paired: fewer
        than ``shape_tries`` looks, and fewer than ``shape_tries * shape_every`` frames since
        it was confirmed (a change that left the view is not waited for)."""
        if not self._uses_shapes or track.shape is not None or \
                track.shape_looks >= self.config.shape_tries:
            return False
        since = self.frames - (track.confirmed_frame if track.confirmed_frame is not None
                               else self.frames)
        return since < self.config.shape_tries * self.config.shape_every

    def shape_distance(self, first: Track, second: Track) -> float | None:
        """Distance (m) between the two tracks' shapes (None: either has none); cached."""
        if first.shape is None or second.shape is None:
            return None
        key = (id(first.shape), id(second.shape))
        if key not in self._distances:
            if len(self._distances) > 256:
                self._distances.clear()
            self._distances[key] = (first.shape, second.shape,
                                    shape_distance(first.shape, second.shape, self.shape_config))
        return self._distances[key][2]

    def _pair_moves(self, confirmed: list[Track]) -> list[OverrideUpdate]:
        updates: list[OverrideUpdate] = []
        added = [t for t in confirmed if t.label is ChangeLabel.OBJECT_ADDED and not t.partner
                 and not self.shape_pending(t)]
        removed = [t for t in confirmed
                   if t.label is ChangeLabel.OBJECT_REMOVED and not t.partner
                   and not self.shape_pending(t)]
        for gone in removed:
            # (0, shape distance) for pairs whose shapes agree, (1, volume difference) for
            # pairs with a side whose shape could not be seen; different shapes never pair
            ranked: list[tuple[tuple[int, float], Track]] = []
            for candidate in added:
                if candidate.box is None or gone.box is None or \
                        not similar(candidate.box, gone.box, self.config):
                    continue
                distance = self.shape_distance(gone, candidate) if self._uses_shapes else None
                if distance is None:
                    ranked.append(((1, abs(candidate.box.volume() - gone.box.volume())),
                                   candidate))
                elif distance <= self.config.move_shape_tolerance:
                    ranked.append(((0, distance), candidate))
            if not ranked:
                continue
            arrival = min(ranked, key=lambda pair: pair[0])[1]
            added.remove(arrival)
            arrival.partner, gone.partner = gone.id, arrival.id
            if gone.published is None:
                continue
            # the move is the removal's override, upgraded; an addition already published
            # under its own id is folded into it
            arrival.override_id = gone.published.id
            if arrival.published is not None:
                updates.append(OverrideUpdate(UpdateAction.DELETE, arrival.published.id))
                arrival.published = None
            gone.published = None
        return updates

    def _override(self, track: Track, stamp: float) -> Override | None:
        assert track.box is not None and track.label is not None
        label, moved_from = track.label, None
        if track.partner is not None:
            if not track.addition:
                return None  # published by its arriving partner
            partner = self.tracks.get(track.partner)
            if partner is not None and partner.box is not None:
                label, moved_from = ChangeLabel.OBJECT_MOVED, partner.box
        scores = self.evidence.scores[track.addition][track.voxels]
        confidence = float(np.clip(scores.mean() / self.config.max_score, 0.0, 1.0))
        expires = stamp + self.config.ttl if self.config.ttl > 0 else None
        first_seen = track.first_stamp
        if moved_from is not None and track.partner in self.tracks:
            first_seen = min(first_seen, self.tracks[track.partner].first_stamp)
        return Override(id=track.publishes_as, kind=OVERRIDE_KIND[label], region=track.box,
                        source=OverrideSource.DETECTED, confidence=confidence,
                        first_seen=first_seen, last_seen=stamp, expires_at=expires,
                        moved_from=moved_from, label=label.value)

    def _publish(self, stamp: float) -> list[OverrideUpdate]:
        updates = []
        for track in list(self.tracks.values()):
            if track.frames_seen < self.config.confirm_frames or track.box is None:
                continue
            override = self._override(track, stamp)
            if override is None or track.last_stamp != stamp:
                continue
            since = stamp - track.published_stamp
            similarity = self._similarity(track.published, override)
            urgent = similarity is None or similarity < self.config.urgent_iou
            reshaped = similarity is not None and similarity < self.config.republish_iou and \
                since >= self.config.republish_interval
            if urgent or reshaped or since >= self.config.refresh_period:
                track.published = override
                track.published_stamp = stamp
                updates.append(OverrideUpdate(UpdateAction.PUT, override.id, override))
        return updates

    @staticmethod
    def _similarity(previous: Override | None, override: Override) -> float | None:
        """The lower IoU of the region and ``moved_from`` boxes (None: a new override or kind)."""
        if previous is None or previous.id != override.id or previous.kind != override.kind \
                or previous.label != override.label \
                or (previous.moved_from is None) != (override.moved_from is None):
            return None
        similarity = previous.region.intersection_over_union(override.region)
        if previous.moved_from is not None and override.moved_from is not None:
            similarity = min(similarity,
                             previous.moved_from.intersection_over_union(override.moved_from))
        return similarity
