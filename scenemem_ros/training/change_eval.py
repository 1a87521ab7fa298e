"""``scenemem eval changes``: the change detector against scripted ground truth.

For each ``scenemem world`` folder with a change, the detector replays the "after" bag against
the memory. Definitions (../shared/guide/design.md):

- object level: a change counts as found when an override live at the end of the replay has
  the change's kind and overlaps one of its ground-truth regions with IoU >= 0.25 (a moved
  object: its region against the new place, or its ``moved_from`` against the old); every other
  live override is a false positive. precision = TP / (TP + FP), recall = TP / changes.
- voxel F1: ground-truth region boxes and live override boxes (region and ``moved_from``)
  rasterised on the detector's voxel grid, compared voxel by voxel.
- false overrides per 1000 frames: distinct overrides ever published while replaying a fresh
  walk (another trajectory seed, sensor noise on) through the unchanged world.
- frames to detect: from the change's first sight to the first publication of the override
  that matches (kind and IoU). First sight is the first frame in which at least
  ``sight_pixels`` pixels *show* the change: the world before and after it, rendered clean from
  that frame's pose, differ there by more than ``sight_tolerance`` and the surface seen before
  or after lies in a ground-truth region (pixels that merely land in a region's box on surface
  the change left alone, such as a new room's wall beside its new doorway, are not a sight; a
  world folder without ``after_world`` falls back to counting depth pixels in the regions);
  ``frames_to_first_override`` counts to the first override of any kind that touches a
  region (the robot is warned there, before the box has grown enough to match).
  ``frames_after_all_seen`` (reported beside it, not instead) counts to the same publication
  from the first frame by which *every* region has had its first sight: a move cannot be told
  from a removal before its new place is seen, and a new room's region holds the old wall's
  inner face, which the walk sees long before it looks through the new doorway.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from scenemem_ros.changes import (
    BaseGeometry,
    ChangeDetector,
    ChangeDetectorConfig,
    UpdateAction,
)
from scenemem_ros.changes.shapes import ShapeEncoder
from scenemem_ros.data.bag import read_sequence_bag
from scenemem_ros.data.frame import Frame
from scenemem_ros.errors import SceneMemError
from scenemem_ros.memory.checkpoint import load_memory
from scenemem_ros.memory.overrides import Box, Override
from scenemem_ros.training.synthesis import AFTER_BAG, AFTER_WORLD_DIR, CHANGE_FILE, WORLD_DIR
from scenemem_ros.world import load_change, load_world, plan_trajectory, render_sequence
from scenemem_ros.world.changes import ChangeRecord
from scenemem_ros.world.render import render_clean_depths

MATCH_IOU = 0.25


@dataclass(frozen=True)
class ChangeEvalConfig:
    """Evaluation settings.

    Attributes:
        unchanged_frames: length of the fresh walk through the unchanged world (0: none).
        unchanged_seed_offset: its trajectory seed is the world's seed plus this.
        sight_pixels: pixels showing the change that make a first sight.
        sight_tolerance: metres by which the depth before and after must differ for a pixel to
            show the change.
        pose_noise_m, pose_noise_deg: standard deviation of the Gaussian jitter added to each
            pose the detector gets (metres per axis; degrees of rotation about a random axis),
            drawn independently per frame from ``pose_noise_seed``: localisation error. Ground
            truth (first sight) keeps the true poses.
        pose_drift_m, pose_drift_deg, pose_drift_s: a 2D localiser's slowly varying error
            instead (or on top): x, y and yaw offsets of these standard deviations (metres per
            axis, degrees) that follow a first-order Gauss-Markov process with this time
            constant (seconds, on the frames' stamps), so consecutive frames are off alike.
    """

    unchanged_frames: int = 300
    unchanged_seed_offset: int = 1000
    sight_pixels: int = 50
    sight_tolerance: float = 0.10
    pose_noise_m: float = 0.0
    pose_noise_deg: float = 0.0
    pose_noise_seed: int = 0
    pose_drift_m: float = 0.0
    pose_drift_deg: float = 0.0
    pose_drift_s: float = 10.0

    def __post_init__(self) -> None:
        if not (self.pose_noise_m >= 0 and self.pose_noise_deg >= 0):
            raise SceneMemError(f'pose noise must be >= 0, got {self.pose_noise_m} m and '
                                f'{self.pose_noise_deg} deg')
        if not (self.pose_drift_m >= 0 and self.pose_drift_deg >= 0 and self.pose_drift_s > 0):
            raise SceneMemError(f'pose drift needs sizes >= 0 and a time constant > 0, got '
                                f'{self.pose_drift_m} m, {self.pose_drift_deg} deg, '
                                f'{self.pose_drift_s} s')


def gauss_markov(stamps: np.ndarray, sigma: float, time_constant: float, count: int,
                 rng: np.random.Generator) -> np.ndarray:
    """(N,) seconds -> (N, count) zero-mean first-order Gauss-Markov samples of standard
    deviation ``sigma``, correlated ``exp(-dt / time_constant)`` between consecutive stamps."""
    stamps = np.asarray(stamps, dtype=np.float64)
    values = np.zeros((len(stamps), count))
    if len(stamps) == 0 or sigma == 0:
        return values
    values[0] = rng.normal(scale=sigma, size=count)
    for i in range(1, len(stamps)):
        keep = np.exp(-max(stamps[i] - stamps[i - 1], 0.0) / time_constant)
        values[i] = keep * values[i - 1] + \
            np.sqrt(1 - keep * keep) * rng.normal(scale=sigma, size=count)
    return values


def jittered_poses(poses: np.ndarray, eval_config: ChangeEvalConfig,
                   stamps: np.ndarray | None = None) -> np.ndarray:
    """(N, 4, 4) poses and their (N,) stamps (s; needed for drift) -> (N, 4, 4) with the
    config's localisation jitter and drift (unchanged at 0)."""
    poses = np.array(poses, dtype=np.float64)
    if eval_config.pose_drift_m or eval_config.pose_drift_deg:
        if stamps is None or len(stamps) != len(poses):
            raise SceneMemError('pose drift needs one stamp per pose')
        rng = np.random.default_rng([eval_config.pose_noise_seed, 1])
        shift = gauss_markov(stamps, eval_config.pose_drift_m, eval_config.pose_drift_s, 2,
                             rng)
        yaw = gauss_markov(stamps, np.deg2rad(eval_config.pose_drift_deg),
                           eval_config.pose_drift_s, 1, rng)[:, 0]
        turns = Rotation.from_euler('z', yaw[:, None]).as_matrix()
        poses[:, :3, :3] = turns @ poses[:, :3, :3]
        poses[:, :2, 3] += shift
    if eval_config.pose_noise_m == 0 and eval_config.pose_noise_deg == 0:
        return poses
    rng = np.random.default_rng(eval_config.pose_noise_seed)
    count = len(poses)
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.deg2rad(rng.normal(scale=eval_config.pose_noise_deg, size=count))
    rotations = Rotation.from_rotvec(axes * angles[:, None]).as_matrix()
    poses[:, :3, :3] = rotations @ poses[:, :3, :3]
    poses[:, :3, 3] += rng.normal(scale=eval_config.pose_noise_m, size=(count, 3))
    return poses


def _as_box(region: Any) -> Box:
    return Box(tuple(np.asarray(region.min, dtype=float)), tuple(np.asarray(region.max, float)))


def matches(override: Override, record: ChangeRecord) -> bool:
    """The override has the record's kind and overlaps one of its regions (IoU >= 0.25)."""
    if override.label != record.kind.value:
        return False
    truth = [_as_box(r) for r in record.regions]
    if record.kind.value == 'object_moved' and override.moved_from is not None:
        return truth[1].intersection_over_union(override.region) >= MATCH_IOU and \
            truth[0].intersection_over_union(override.moved_from) >= MATCH_IOU
    return max(t.intersection_over_union(override.region) for t in truth) >= MATCH_IOU


def _raster(boxes: list[Box], base: BaseGeometry) -> np.ndarray:
    grid = base.grid
    centres_1d = [grid.origin[a] + (np.arange(grid.shape[a]) + 0.5) * grid.resolution
                  for a in range(3)]
    mask = np.zeros(grid.shape, dtype=bool)
    for box in boxes:
        inside = [(c >= lo) & (c <= hi) for c, lo, hi in zip(centres_1d, box.minimum,
                                                             box.maximum, strict=True)]
        mask |= inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
    return mask


def voxel_counts(overrides: list[Override], record: ChangeRecord,
                 base: BaseGeometry) -> tuple[int, int, int]:
    """(true positive, predicted, ground-truth) voxel counts."""
    predicted = [o.region for o in overrides] + [o.moved_from for o in overrides
                                                 if o.moved_from is not None]
    pred = _raster(predicted, base)
    truth = _raster([_as_box(r) for r in record.regions], base)
    return int((pred & truth).sum()), int(pred.sum()), int(truth.sum())


def _in_boxes(points: np.ndarray, boxes: list[Box]) -> np.ndarray:
    inside = np.zeros(len(points), dtype=bool)
    for box in boxes:
        inside |= np.all((points >= box.minimum) & (points <= box.maximum), axis=1)
    return inside


def _world_points(frame: Frame, depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    points = frame.camera.rays().numpy()[valid] * depth[valid][:, None]
    pose = frame.camera_to_world
    return points @ pose[:3, :3].T + pose[:3, 3]


def sight_pixels(frame: Frame, boxes: list[Box], clean: tuple[np.ndarray, np.ndarray] | None,
                 tolerance: float) -> int:
    """Pixels of ``frame`` that show a change inside ``boxes``: with ``clean`` = the (H, W)
    depths of the world before and after the change from this pose, pixels where they differ by
    more than ``tolerance`` and either surface lies in a box; without, depth pixels in a box."""
    if clean is None:
        assert frame.depth is not None
        valid = np.isfinite(frame.depth)
        return int(_in_boxes(_world_points(frame, frame.depth, valid), boxes).sum())
    before, after = clean
    both = np.isfinite(before) & np.isfinite(after)
    with np.errstate(invalid='ignore'):
        differs = np.where(both, np.abs(after - before) > tolerance,
                           np.isfinite(before) != np.isfinite(after))
    shown = np.zeros(before.shape, dtype=bool)
    for depth in (before, after):
        valid = differs & np.isfinite(depth)
        shown[valid] |= _in_boxes(_world_points(frame, depth, valid), boxes)
    return int(shown.sum())


def first_sight(frames: list[Frame], record: ChangeRecord, min_pixels: int,
                clean: list[tuple[np.ndarray, np.ndarray]] | None = None,
                tolerance: float = 0.10) -> int | None:
    """Index of the first frame with ``min_pixels`` pixels showing the change (see
    :func:`sight_pixels`; ``clean`` holds each frame's before and after depths)."""
    boxes = [_as_box(r) for r in record.regions]
    for index, frame in enumerate(frames):
        if frame.depth is None:
            continue
        pair = None if clean is None else clean[index]
        if sight_pixels(frame, boxes, pair, tolerance) >= min_pixels:
            return index
    return None


def clean_depth_pairs(world_dir: Path, frames: list[Frame]
                      ) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Each frame's clean depth in the world before and after the change (None without an
    ``after_world`` folder)."""
    if not (world_dir / AFTER_WORLD_DIR).is_dir() or not frames:
        return None
    poses = np.stack([f.camera_to_world for f in frames])
    camera = frames[0].camera
    before = render_clean_depths(load_world(world_dir / WORLD_DIR), camera, poses)
    after = render_clean_depths(load_world(world_dir / AFTER_WORLD_DIR), camera, poses)
    return list(zip(before, after, strict=True))


def detector_poses(frames: list[Frame], eval_config: ChangeEvalConfig) -> np.ndarray:
    """The (N, 4, 4) poses the detector gets for ``frames``: theirs, with the config's
    localisation jitter and drift."""
    return jittered_poses(np.stack([f.camera_to_world for f in frames]), eval_config,
                          np.array([f.stamp for f in frames]))


def replay(detector: ChangeDetector, frames: list[Frame], eval_config: ChangeEvalConfig
           ) -> tuple[dict[str, int], list[float]]:
    """Run the frames (poses jittered by the config); returns {override id: frame of its
    first publication} and frame times."""
    published: dict[str, int] = {}
    seconds = []
    poses = detector_poses(frames, eval_config)
    for index, frame in enumerate(frames):
        if frame.depth is None:
            raise SceneMemError('the change detector needs depth frames')
        report = detector.process(frame.depth, frame.camera, poses[index], frame.stamp)
        seconds.append(report.seconds)
        for update in report.updates:
            if update.action is UpdateAction.PUT:
                published.setdefault(update.override_id, index)
    return published, seconds


def _first_match_frame(detector_log: list[tuple[int, Override]], record: ChangeRecord
                       ) -> int | None:
    for index, override in detector_log:
        if matches(override, record):
            return index
    return None


def evaluate_world(base: BaseGeometry, config: ChangeDetectorConfig, world_dir: Path,
                   eval_config: ChangeEvalConfig, shape_encoder: ShapeEncoder | None = None
                   ) -> dict[str, Any]:
    """One changed world: the detector over its after bag, scored against its record."""
    record = load_change(str(world_dir / CHANGE_FILE))
    frames = list(read_sequence_bag(world_dir / AFTER_BAG).sequence)
    detector = ChangeDetector(base, config, shape_encoder=shape_encoder)
    log: list[tuple[int, Override]] = []
    seconds = []
    poses = detector_poses(frames, eval_config)
    for index, frame in enumerate(frames):
        assert frame.depth is not None
        report = detector.process(frame.depth, frame.camera, poses[index], frame.stamp)
        seconds.append(report.seconds)
        log += [(index, u.override) for u in report.updates
                if u.action is UpdateAction.PUT and u.override is not None]
    live = list(detector.live_overrides().values())
    found = [o for o in live if matches(o, record)]
    clean = clean_depth_pairs(world_dir, frames)
    sight = first_sight(frames, record, eval_config.sight_pixels, clean,
                        eval_config.sight_tolerance)
    sights = [first_sight(frames, replace(record, regions=(region,)), eval_config.sight_pixels,
                          clean, eval_config.sight_tolerance) for region in record.regions]
    all_seen = None if None in sights else max(s for s in sights if s is not None)
    published = _first_match_frame(log, record)
    touching = next((i for i, o in log if max(_as_box(r).intersection_over_union(o.region)
                                             for r in record.regions) > 0), None)
    tp_voxels, predicted_voxels, truth_voxels = voxel_counts(live, record, base)
    return {'world': str(world_dir), 'kind': record.kind.value, 'frames': len(frames),
            'found': bool(found), 'false_positives': len(live) - min(len(found), 1),
            'live_overrides': [{'id': o.id, 'label': o.label, 'region': o.region.to_dict(),
                                'confidence': round(o.confidence, 3)} for o in live],
            'first_sight_frame': sight, 'published_frame': published,
            'frames_to_detect': None if sight is None or published is None or not found
            else max(published - sight, 0),
            'all_regions_seen_frame': all_seen,
            'frames_after_all_seen': None if all_seen is None or published is None or not found
            else max(published - all_seen, 0),
            'frames_to_first_override': None if sight is None or touching is None
            else max(touching - sight, 0),
            'tp_voxels': tp_voxels, 'predicted_voxels': predicted_voxels,
            'truth_voxels': truth_voxels, 'ms_per_frame_p50': float(np.median(seconds) * 1e3)}


def unchanged_replay(base: BaseGeometry, config: ChangeDetectorConfig, world_dir: Path,
                     eval_config: ChangeEvalConfig, camera: Any,
                     shape_encoder: ShapeEncoder | None = None) -> dict[str, Any]:
    """False overrides on a fresh walk (another seed) through the unchanged world."""
    world = load_world(world_dir / WORLD_DIR)
    walk = plan_trajectory(world, seed=world.seed + eval_config.unchanged_seed_offset)
    keep = np.linspace(0, len(walk.stamps) - 1,
                       min(eval_config.unchanged_frames, len(walk.stamps))).round().astype(int)
    walk = type(walk)(walk.stamps[keep], walk.camera_to_world[keep])
    frames = list(render_sequence(world, walk, camera))
    published, seconds = replay(ChangeDetector(base, config, shape_encoder=shape_encoder),
                                frames, eval_config)
    return {'world': str(world_dir), 'frames': len(frames), 'false_overrides': len(published),
            'ms_per_frame_p50': float(np.median(seconds) * 1e3)}


def evaluate_changes(model: Path, worlds: list[Path], scene: str | None = None,
                     config: ChangeDetectorConfig | None = None,
                     eval_config: ChangeEvalConfig | None = None,
                     shape_encoder: ShapeEncoder | None = None) -> dict[str, Any]:
    """Score the detector on every changed world (all of one scene) and an unchanged replay;
    with ``shape_encoder`` (what the ROS node passes by default) moves are told from
    replacements by the slot shapes."""
    config = config or ChangeDetectorConfig()
    eval_config = eval_config or ChangeEvalConfig()
    if not worlds:
        raise SceneMemError('eval changes needs at least one world folder')
    for world_dir in worlds:
        if not (world_dir / CHANGE_FILE).is_file():
            raise SceneMemError(f'{world_dir} has no {CHANGE_FILE}: make it with '
                                f'`scenemem world --change KIND`')
    started = time.perf_counter()
    field, _ = load_memory(Path(model))
    names = field.scene_names()
    scene = scene or (names[0] if len(names) == 1 else None)
    if scene is None:
        raise SceneMemError(f'the memory holds scenes {names}: pass --scene')
    base = BaseGeometry.from_memory(field, scene, config)
    per_world = [evaluate_world(base, config, Path(w), eval_config, shape_encoder)
                 for w in worlds]
    camera = read_sequence_bag(Path(worlds[0]) / AFTER_BAG).sequence[0].camera
    unchanged = unchanged_replay(base, config, Path(worlds[0]), eval_config, camera,
                                 shape_encoder) if eval_config.unchanged_frames else None
    results = summarise(per_world, unchanged, time.perf_counter() - started)
    results['slot_shapes'] = shape_encoder is not None and config.move_shape_tolerance > 0
    results['pose_noise'] = {'metres': eval_config.pose_noise_m,
                             'degrees': eval_config.pose_noise_deg}
    results['pose_drift'] = {'metres': eval_config.pose_drift_m,
                             'degrees': eval_config.pose_drift_deg,
                             'time_constant_s': eval_config.pose_drift_s}
    return results


def _prf(tp: int, fp: int, positives: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def summarise(per_world: list[dict[str, Any]], unchanged: dict[str, Any] | None,
              seconds: float) -> dict[str, Any]:
    """Aggregate the per-world results into the JSON the CLI prints."""
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in per_world:
        by_kind[result['kind']].append(result)
    per_kind = {}
    for kind, results in sorted(by_kind.items()):
        tp = sum(r['found'] for r in results)
        fp = sum(r['false_positives'] for r in results)
        precision, recall, f1 = _prf(tp, fp, len(results))
        per_kind[kind] = {'changes': len(results), 'found': tp, 'false_positives': fp,
                          'precision': precision, 'recall': recall, 'f1': f1,
                          'frames_to_detect': [r['frames_to_detect'] for r in results],
                          'frames_after_all_seen': [r['frames_after_all_seen']
                                                    for r in results]}
    tp = sum(r['found'] for r in per_world)
    fp = sum(r['false_positives'] for r in per_world)
    precision, recall, f1 = _prf(tp, fp, len(per_world))
    voxel_tp = sum(r['tp_voxels'] for r in per_world)
    voxel_p, voxel_r, voxel_f1 = _prf(voxel_tp, sum(r['predicted_voxels'] for r in per_world)
                                      - voxel_tp, sum(r['truth_voxels'] for r in per_world))
    delays = [r['frames_to_detect'] for r in per_world if r['frames_to_detect'] is not None]
    after = [r['frames_after_all_seen'] for r in per_world
             if r['frames_after_all_seen'] is not None]
    timings = [r['ms_per_frame_p50'] for r in per_world]
    return {
        'precision': precision, 'recall': recall, 'f1': f1, 'voxel_f1': voxel_f1,
        'voxel_precision': voxel_p, 'voxel_recall': voxel_r,
        'false_per_1000_frames': None if unchanged is None
        else 1000.0 * unchanged['false_overrides'] / unchanged['frames'],
        'unchanged_frames': None if unchanged is None else unchanged['frames'],
        'frames_to_detect': max(delays) if delays else None,
        'frames_to_detect_median': float(np.median(delays)) if delays else None,
        'frames_after_all_seen': max(after) if after else None,
        'frames_to_first_override': [r['frames_to_first_override'] for r in per_world],
        'ms_per_frame_p50': float(np.median(timings)) if timings else None,
        'per_kind': per_kind, 'worlds': per_world, 'seconds': round(seconds, 1)}


def changes_table(results: dict[str, Any]) -> str:
    """The results as a text table."""
    lines = [f'{"kind":<16} {"changes":>7} {"found":>5} {"false":>5} {"P":>5} {"R":>5} '
             f'{"F1":>5}  frames to detect (after all regions seen)']
    for kind, row in results['per_kind'].items():
        lines.append(f'{kind:<16} {row["changes"]:>7} {row["found"]:>5} '
                     f'{row["false_positives"]:>5} {row["precision"]:>5.2f} '
                     f'{row["recall"]:>5.2f} {row["f1"]:>5.2f}  {row["frames_to_detect"]} '
                     f'({row["frames_after_all_seen"]})')
    false = results['false_per_1000_frames']
    lines += ['', f'object level  P {results["precision"]:.3f}  R {results["recall"]:.3f}  '
                  f'F1 {results["f1"]:.3f}',
              f'voxel F1      {results["voxel_f1"]:.3f}',
              f'false overrides per 1000 unchanged frames: '
              f'{"n/a" if false is None else f"{false:.2f}"} '
              f'({results["unchanged_frames"]} frames)',
              f'frames to detect (max / median): {results["frames_to_detect"]} / '
              f'{results["frames_to_detect_median"]}',
              f'frames to detect after every region was seen (max): '
              f'{results["frames_after_all_seen"]}',
              f'frames to the first override touching the change: '
              f'{results["frames_to_first_override"]}',
              f'detector ms per frame (p50): {results["ms_per_frame_p50"]:.1f}']
    return '\n'.join(lines)
