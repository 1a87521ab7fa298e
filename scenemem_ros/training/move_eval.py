"""``scenemem eval moves``: does the detector tell a moved object from a different one?

For each seed, two scripted changes of one generated apartment:

- *moved*: an object moved to a free spot (``world.move_object``): one ``object_moved``
  override should be live at the end, matching the new place and the old one (IoU >= 0.25,
  as in ``scenemem eval changes``);
- *replaced*: an object taken away and a different one of similar size (volume within 2x,
  height within 0.3 m) put down elsewhere (``world.replace_object``): no ``object_moved``
  override should be live at the end; a detector that compares boxes alone calls it a move.

The robot walks the changed apartment (``frames`` noisy depth frames); the detector compares
them with the exact geometry of the apartment before the change (no trained memory, so that
the memory's own errors stay out of this test), once with boxes alone and once with the slot
encoder's shapes. A case *tests pairing* when the detector confirmed both an addition and a
removal in both runs (only then can it pair them) and, with shapes, no change was still
waiting for its shape when the walk ended; the others are reported and left out of the rates,
so both modes are scored on the same cases.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scenemem_ros.changes import BaseGeometry, ChangeDetector, ChangeDetectorConfig, ChangeLabel
from scenemem_ros.changes.shapes import ShapeConfig
from scenemem_ros.data.frame import Frame
from scenemem_ros.geometry.voxels import VoxelGrid
from scenemem_ros.training.change_eval import matches
from scenemem_ros.training.synthesis import subsample, world_config
from scenemem_ros.world import World, generate_world, plan_trajectory, render_sequence
from scenemem_ros.world.changes import ChangeKind, ChangeRecord, apply_change, replace_object
from scenemem_ros.world.config import RenderConfig
from scenemem_ros.world.render import default_camera

MODES = ('boxes', 'shapes')


@dataclass(frozen=True)
class MoveEvalConfig:
    """Evaluation settings.

    Attributes:
        seeds: one apartment (and one of each change) per seed.
        frames: depth frames of the walk through the changed apartment.
        width, height: image size (noisy synthetic depth).
        primitives: furnish with boxes and cylinders instead of catalogue furniture.
    """

    seeds: tuple[int, ...] = tuple(range(1, 11))
    frames: int = 200
    width: int = 320
    height: int = 240
    primitives: bool = False


def exact_base(world: World, config: ChangeDetectorConfig) -> BaseGeometry:
    """The detector's base geometry from a world's exact surfaces (every voxel known)."""
    bounds = world.bounds
    grid = VoxelGrid.from_bounds(np.asarray(bounds.min) - 0.2, np.asarray(bounds.max) + 0.2,
                                 config.resolution)
    index = np.stack(np.meshgrid(*(np.arange(n) for n in grid.shape), indexing='ij'), -1)
    centres = np.asarray(grid.origin) + (index.reshape(-1, 3) + 0.5) * grid.resolution
    occupied = (world.distance(centres) < 0.5 * grid.resolution * np.sqrt(3))
    return BaseGeometry.from_voxels(grid, occupied.reshape(grid.shape),
                                    np.ones(grid.shape, bool), world.open3d_mesh().to_legacy(),
                                    config)


def _walk(world: World, seed: int, config: MoveEvalConfig) -> list[Frame]:
    trajectory = subsample(plan_trajectory(world, seed=seed), config.frames)
    camera = default_camera(config.width, config.height)
    return list(render_sequence(world, trajectory, camera, RenderConfig()).frames)


def replay_case(base: BaseGeometry, frames: list[Frame], config: ChangeDetectorConfig,
                encoder: Any | None, shape_config: ShapeConfig | None = None
                ) -> dict[str, Any]:
    """Replay ``frames`` (with the shape encoder when given); what is live at the end."""
    detector = ChangeDetector(base, config, shape_encoder=encoder,
                              shape_config=shape_config or ShapeConfig())
    started = time.perf_counter()
    for frame in frames:
        assert frame.depth is not None  # rendered frames carry depth
        detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
    seconds = time.perf_counter() - started
    tracks = [t for t in detector.tracks.values() if t.box is not None]
    additions = [t for t in tracks if t.label is ChangeLabel.OBJECT_ADDED]
    removals = [t for t in tracks if t.label is ChangeLabel.OBJECT_REMOVED]
    distances = [d for a in additions for r in removals
                 if (d := detector.shape_distance(r, a)) is not None]
    paired = [t for t in additions if t.partner is not None]
    by_shapes = sum(1 for t in paired if t.shape is not None and
                    (partner := detector.tracks.get(t.partner or '')) is not None and
                    partner.shape is not None)
    return {'live': list(detector.live_overrides().values()),
            'both_sides_confirmed': bool(additions and removals),
            # a change still waiting for its shape when the walk ends is undecided
            'undecided': any(detector.shape_pending(t) for t in additions + removals),
            'pairs': len(paired), 'pairs_by_shapes': by_shapes,
            'shape_distance_m': round(min(distances), 4) if distances else None,
            'shape_ms_per_frame': round(1000 * detector.shape_seconds / len(frames), 2),
            'ms_per_frame': round(1000 * seconds / len(frames), 2)}


def _judge(kind: str, live: list[Any], record: ChangeRecord | None) -> dict[str, Any]:
    moved = [o for o in live if o.label == ChangeLabel.OBJECT_MOVED.value]
    if kind == 'moved':
        assert record is not None
        return {'moved_overrides': len(moved),
                'correct': any(matches(o, record) for o in moved)}
    return {'moved_overrides': len(moved), 'correct': not moved}


def evaluate_case(world: World, seed: int, kind: str, eval_config: MoveEvalConfig,
                  config: ChangeDetectorConfig, encoder: Any,
                  shape_config: ShapeConfig | None = None) -> dict[str, Any]:
    """One apartment, one change (``moved`` or ``replaced``), both detector modes."""
    rng = np.random.default_rng(seed)
    record: ChangeRecord | None
    if kind == 'moved':
        after, record = apply_change(world, ChangeKind.OBJECT_MOVED, seed=seed)
        description = record.description
    else:
        after, (gone, added) = replace_object(world, rng)
        record, description = None, f'{gone.description}; {added.description}'
    base = exact_base(world, config)
    frames = _walk(after, seed, eval_config)
    result: dict[str, Any] = {'seed': seed, 'kind': kind, 'change': description}
    for mode in MODES:
        run = replay_case(base, frames, config, encoder if mode == 'shapes' else None,
                          shape_config)
        live = run.pop('live')
        result[mode] = {**run, **_judge(kind, live, record)}
    # one tested set for both modes: both sides confirmed in each, and decided by the end
    result['tests_pairing'] = all(result[mode]['both_sides_confirmed'] for mode in MODES) \
        and not any(result[mode]['undecided'] for mode in MODES)
    return result


def _rate(cases: list[dict[str, Any]], kind: str, mode: str) -> dict[str, Any]:
    tested = [c for c in cases if c['kind'] == kind and c['tests_pairing']]
    correct = sum(c[mode]['correct'] for c in tested)
    return {'tested': len(tested), 'correct': correct,
            'rate': round(correct / len(tested), 3) if tested else None}


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode: moves found (of moved cases that test pairing) and replacements kept apart."""
    summary: dict[str, Any] = {}
    for mode in MODES:
        summary[mode] = {'moves_found': _rate(cases, 'moved', mode),
                         'replacements_kept_apart': _rate(cases, 'replaced', mode)}
    for kind in ('moved', 'replaced'):
        distances = [c['shapes']['shape_distance_m'] for c in cases
                     if c['kind'] == kind and c['shapes']['shape_distance_m'] is not None]
        summary[f'shape_distance_m_{kind}'] = sorted(distances)
    summary['shape_ms_per_frame_mean'] = round(float(np.mean(
        [c['shapes']['shape_ms_per_frame'] for c in cases])), 2) if cases else None
    return summary


def evaluate_moves(eval_config: MoveEvalConfig, config: ChangeDetectorConfig,
                   encoder_path: Path | None = None, threads: int | None = None,
                   progress: Any = None, shape_config: ShapeConfig | None = None
                   ) -> dict[str, Any]:
    """Every seed's moved and replaced cases; ``summary`` holds the rates per mode."""
    from scenemem_ros.encoder import EncoderSession

    session = EncoderSession(encoder_path, track=False, threads=threads)
    cases = []
    for seed in eval_config.seeds:
        world = generate_world(seed, world_config(eval_config.primitives))
        for kind in ('moved', 'replaced'):
            cases.append(evaluate_case(world, seed, kind, eval_config, config,
                                       session.encode_frame, shape_config))
            if progress is not None:
                progress(cases[-1])
    return {'config': {'seeds': list(eval_config.seeds), 'frames': eval_config.frames,
                       'size': f'{eval_config.width}x{eval_config.height}',
                       'primitives': eval_config.primitives,
                       'move_shape_tolerance': config.move_shape_tolerance,
                       'shape_views': (shape_config or ShapeConfig()).views,
                       'encoder': str(session.path)},
            'cases': cases, 'summary': summarise(cases)}


def moves_table(results: dict[str, Any]) -> str:
    """The summary as a text table."""
    summary = results['summary']
    lines = [f"{'pairing':<8} {'moves found':>14} {'replacements kept apart':>24}"]
    for mode in MODES:
        found, apart = summary[mode]['moves_found'], summary[mode]['replacements_kept_apart']
        lines.append(f"{mode:<8} {found['correct']:>6}/{found['tested']:<7} "
                     f"{apart['correct']:>14}/{apart['tested']:<9}")
    lines.append('shape distance (m), moved:    '
                 + ' '.join(f'{d:.3f}' for d in summary['shape_distance_m_moved']))
    lines.append('shape distance (m), replaced: '
                 + ' '.join(f'{d:.3f}' for d in summary['shape_distance_m_replaced']))
    lines.append(f"encoder + shape cost: {summary['shape_ms_per_frame_mean']} ms per frame "
                 f"(mean over the walk)")
    return '\n'.join(lines)


