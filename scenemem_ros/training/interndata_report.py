"""The InternData-N1 real-trajectory report (docs/interndata.md): memory, 2D grid and a plan.

Trains the scene memory on the real Matterport3D trajectory of InternData-N1 (the example under
shared/data, read by ``READERS['interndata']``), bakes its 2D navigation grid for the robot's
height band, and plans between the two free cells farthest apart with ``scenemem_ros.planning``;
an independent Dijkstra (scipy) on the same cells and moves checks the plan is shortest.

Run::

    python -m scenemem_ros.training.interndata_report [--data DIR] [--memory CKPT] [--retrain]
        [--steps 1000] [--figure docs/interndata.png] [--json]

With an existing ``--memory`` checkpoint of the scene the training is skipped and its recorded
time is reported (train it with ``scenemem train memory --dataset interndata DIR --out CKPT
--steps 1000 --seed 0``, which is what ``--retrain`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_DATA = (Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
                / 'interndata_n1_example')


@dataclass(frozen=True)
class ReportConfig:
    """What the report measures.

    Attributes:
        steps: training steps when the memory is (re)trained (>= 1).
        seed: training seed.
        resolution: 2D grid cell in metres (> 0).
        band: height band (min, max) above the floor, metres, that the robot occupies.
        robot_radius: planner inflation in metres (>= 0).
    """

    steps: int = 1000
    seed: int = 0
    resolution: float = 0.05
    band: tuple[float, float] = (0.1, 0.8)
    robot_radius: float = 0.15

    def __post_init__(self) -> None:
        from scenemem_ros.errors import SceneMemError

        if self.steps < 1:
            raise SceneMemError(f'ReportConfig.steps must be >= 1, got {self.steps}')
        if not self.resolution > 0:
            raise SceneMemError(f'ReportConfig.resolution must be > 0, got {self.resolution}')
        if not self.band[1] > self.band[0]:
            raise SceneMemError(f'ReportConfig.band must be (min, max) with max > min, got '
                                f'{self.band}')
        if not self.robot_radius >= 0:
            raise SceneMemError(f'ReportConfig.robot_radius must be >= 0, got '
                                f'{self.robot_radius}')


def farthest_free_pair(free: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) bool free cells, (X, Y) component labels -> two (2,) cells of the largest
    component far apart: the one farthest from its centroid, then the one farthest from that."""
    sizes = np.bincount(labels[free])
    sizes[0] = 0
    cells = np.argwhere(labels == int(np.argmax(sizes)))
    first = cells[np.argmax(np.linalg.norm(cells - cells.mean(axis=0), axis=1))]
    second = cells[np.argmax(np.linalg.norm(cells - first, axis=1))]
    return first, second


def dijkstra_length(moves: np.ndarray, start: np.ndarray, goal: np.ndarray) -> float:
    """Shortest path length in cells from ``start`` to ``goal`` over the (X, Y) uint8 move
    masks of ``scenemem_ros.planning`` (an independent solver: scipy's Dijkstra)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    from scenemem_ros.planning import MOVE_CELLS, MOVES

    size_x, size_y = moves.shape
    rows, cols, weights = [], [], []
    for k, (dx, dy) in enumerate(MOVES.tolist()):
        x, y = np.nonzero(moves & (1 << k))
        rows.append(x * size_y + y)
        cols.append((x + dx) * size_y + (y + dy))
        weights.append(np.full(len(x), MOVE_CELLS[k]))
    count = size_x * size_y
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(count, count)).tocsr()
    distances = dijkstra(graph, indices=int(start[0] * size_y + start[1]))
    return float(distances[int(goal[0] * size_y + goal[1])])


def run_report(data: Path, memory: Path, config: ReportConfig, retrain: bool = False,
               figure: Path | None = None) -> dict[str, Any]:
    """Train (or load) the memory, bake the grid, plan; returns the report's numbers."""
    from scipy.ndimage import binary_dilation

    from scenemem_ros.data.readers import InternDataReader
    from scenemem_ros.memory.checkpoint import load_memory
    from scenemem_ros.memory.queries import navigation_grid
    from scenemem_ros.planning import PlannerConfig, PlanningGrid, plan
    from scenemem_ros.training.memory_jobs import FrameSource, memory_config, train_memory

    reader = InternDataReader(data)
    source = FrameSource(dataset='interndata', dataset_path=data)
    scene = source.default_scene_name()
    if retrain or not memory.exists():
        memory.unlink(missing_ok=True)
        train_memory(source, memory, memory_config(steps=config.steps, seed=config.seed),
                     scene, progress=False)
    field, metadata = load_memory(memory)
    training = metadata['training'][scene]

    floor = float(np.median(reader.base_poses[:, 2, 3]))
    started = time.perf_counter()
    spec, cells = navigation_grid(field, scene, floor + config.band[0], floor + config.band[1],
                                  config.resolution)
    bake_seconds = time.perf_counter() - started
    grid = PlanningGrid(cells, spec.origin, spec.resolution,
                        PlannerConfig(robot_radius=config.robot_radius))
    start_cell, goal_cell = farthest_free_pair(grid.free, grid.labels)
    centre = np.asarray(spec.origin) + 0.5 * spec.resolution
    start_xy, goal_xy = centre + start_cell * spec.resolution, centre + goal_cell * spec.resolution
    result = plan(grid, start_xy, goal_xy)
    reference = dijkstra_length(grid.moves, start_cell, goal_cell) * spec.resolution
    # the scene's real cloud in the band, where the grid is observed: on occupied cells?
    low, high = floor + config.band[0], floor + config.band[1]
    cloud = reader.cloud[(reader.cloud[:, 2] >= low) & (reader.cloud[:, 2] <= high)]
    inside = spec.contains_point(cloud[:, :2])
    index = spec.point_to_index(cloud[inside, :2])
    values = cells[index[:, 0], index[:, 1]]
    seen = values != -1
    near_occupied = binary_dilation(cells >= 50)[index[:, 0], index[:, 1]]
    report = {
        'data': str(reader.folder), 'scene': scene,
        'frames_used': len(reader), 'frames_declared': reader.declared_frames,
        'missing_columns': reader.missing_columns,
        'training_steps': training['steps'], 'training_seconds': round(training['seconds'], 1),
        'final_loss': training['final_loss'], 'device': training['device'],
        'floor_z': round(floor, 3), 'band': [round(floor + b, 3) for b in config.band],
        'grid_shape': list(spec.shape), 'resolution': spec.resolution,
        'grid_size_m': [round(n * spec.resolution, 2) for n in spec.shape],
        'bake_seconds': round(bake_seconds, 1),
        'observed_share': round(float((cells != -1).mean()), 4),
        'free_share': round(float((cells == 0).mean()), 4),
        'occupied_share': round(float((cells >= 50).mean()), 4),
        'plannable_share': round(float(grid.free.mean()), 4),
        'band_cloud_points_observed': int(seen.sum()),
        'band_cloud_on_occupied': round(float((values[seen] >= 50).mean()), 4),
        'band_cloud_within_one_cell_of_occupied': round(float(near_occupied[seen].mean()), 4),
        'robot_radius': config.robot_radius,
        'start_xy': [round(float(v), 3) for v in start_xy],
        'goal_xy': [round(float(v), 3) for v in goal_xy],
        'straight_line_m': round(float(np.linalg.norm(goal_xy - start_xy)), 3),
        'plan_success': bool(result.success), 'plan_message': result.message,
        'plan_length_m': round(result.length, 3),
        'dijkstra_length_m': round(reference, 3),
        'length_over_optimal': round(result.length / reference, 6) if reference > 0 and
        math.isfinite(reference) else None,
        'plan_ms': round(1e3 * result.seconds, 2),
    }
    if figure is not None:
        draw_report(figure, spec, cells, grid.blocked, reader.base_poses[:, :2, 3], result.path,
                    start_xy, goal_xy, cloud[inside][seen], report)
    return report


def draw_report(path: Path, spec: Any, cells: np.ndarray, blocked: np.ndarray,
                trajectory: np.ndarray, route: np.ndarray, start: np.ndarray, goal: np.ndarray,
                cloud: np.ndarray, report: dict[str, Any]) -> Path:
    """The grid (unknown grey, free white, occupied black, inflation pale red), the scene's
    real cloud in the band (orange dots), the camera's base trajectory, and the plan."""
    from scenemem_ros.training.drawing import draw_grid, draw_path, plt, save_figure

    figure, axis = plt.subplots(figsize=(7, 8))
    draw_grid(axis, cells, spec.origin, spec.resolution,
              f'InternData-N1 1LXtFkjw3qL: memory grid {spec.shape[0]}x{spec.shape[1]} at '
              f'{spec.resolution * 100:.0f} cm')
    inflation = np.ma.masked_where(~(blocked & (cells == 0)), np.ones(cells.shape))
    extent = (spec.origin[0], spec.origin[0] + cells.shape[0] * spec.resolution,
              spec.origin[1], spec.origin[1] + cells.shape[1] * spec.resolution)
    axis.imshow(inflation.T, origin='lower', extent=extent, cmap='Reds', vmin=0, vmax=3,
                alpha=0.6, interpolation='nearest')
    axis.plot(cloud[:, 0], cloud[:, 1], '.', color='tab:orange', markersize=1.5,
              label='path.ply points in the band')
    draw_path(axis, trajectory, 'tab:blue', f'camera base, {len(trajectory)} frames')
    draw_path(axis, route, 'tab:red', f'plan {report["plan_length_m"]:.2f} m')
    axis.plot(*start, 'o', color='tab:green', label='start')
    axis.plot(*goal, 's', color='tab:purple', label='goal')
    axis.legend(loc='upper right', fontsize=8)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA,
                        help='InternData-N1 trajectory (or a folder above exactly one)')
    parser.add_argument('--memory', type=Path, default=Path('/tmp/interndata_memory.npz'),
                        help='memory checkpoint: reused if it exists, else trained')
    parser.add_argument('--retrain', action='store_true', help='train even if --memory exists')
    parser.add_argument('--steps', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--figure', type=Path, default=Path('docs/interndata.png'))
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    args = parser.parse_args(argv)
    report = run_report(args.data, args.memory, ReportConfig(steps=args.steps, seed=args.seed),
                        args.retrain, args.figure)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print('\n'.join(f'{key:>20}: {value}' for key, value in report.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
