"""The demo on the bundled scene: known apartment, a doorway blocked, noticed, rerouted.

1. the bundled scene is synthesised (``DEMO_SCENE``): its ground truth, the "before" walk the
   bundled memory (``models/memory_demo.npz``) was trained on, and an "after" bag in which one
   doorway is blocked;
2. the scenemem nodes start in this process on the bundled memory (real rclpy and DDS on
   loopback); a client asks for a plan from one side of that doorway to the other;
3. the after bag is replayed through DDS; the change detector publishes an override, the memory
   republishes ``/map``; the same request now goes around;
4. a summary is printed and ``demo.png`` drawn: the map before and after, the override, both
   paths.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from scenemem_ros.errors import SceneMemError
from scenemem_ros.training.drawing import draw_box, draw_grid, draw_path, save_figure
from scenemem_ros.training.synthesis import (
    AFTER_BAG,
    CHANGE_FILE,
    WORLD_DIR,
    SynthesisRequest,
    synthesize,
)
from scenemem_ros.world import load_change, load_world
from scenemem_ros.world.scene import World

REPO = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO / 'models' / 'memory_demo.npz'
DEMO_PARAMS = REPO / 'config' / 'memory.yaml'
# The bundled scene: regenerated bit-for-bit from this request on any machine with the same
# furniture package, so the repository carries the recipe, not the meshes.
DEMO_SCENE: dict[str, Any] = dict(seed=31, change='doorway_blocked', frames=200, width=320,
                                   height=240)
NAVIGATION_BAND = (0.1, 1.8)
ROBOT_RADIUS = 0.2
APPROACH = 1.2  # start and goal lie this far from the doorway, on either side (m)


def free_point_near(world: World, point: np.ndarray, clearance: float) -> np.ndarray:
    """The free ground-truth cell centre nearest ``point`` with ``clearance`` to all geometry."""
    from scipy import ndimage

    grid = world.occupancy_2d(*NAVIGATION_BAND, 0.05)
    distance = ndimage.distance_transform_edt(~grid.occupied) * grid.resolution
    free = np.argwhere(distance > clearance)
    if not len(free):
        raise SceneMemError('demo: the scene has no free cell')
    centres = np.asarray(grid.origin) + (free + 0.5) * grid.resolution
    return centres[np.argmin(np.linalg.norm(centres - point, axis=1))]


def doorway_ends(world: World, region_min: np.ndarray | Sequence[float],
                 region_max: np.ndarray | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Start and goal on either side of the doorway the blocker sits in."""
    centre = (np.asarray(region_min[:2]) + np.asarray(region_max[:2])) / 2
    doorway = min(world.layout.doorways,
                  key=lambda d: float(np.linalg.norm(d.box.centre[:2] - centre)))
    across = np.zeros(2)
    across[doorway.across_axis] = APPROACH
    middle = doorway.box.centre[:2]
    return (free_point_near(world, middle - across, ROBOT_RADIUS + 0.1),
            free_point_near(world, middle + across, ROBOT_RADIUS + 0.1))


def draw(out: Path, results: dict[str, Any], region: Any) -> Path:
    figure, axes = plt.subplots(1, 2, figsize=(13, 6))
    (spec_before, cells_before), (spec_after, cells_after) = results['_maps']
    before, after = results['_paths']
    for axis, spec, cells, title in (
            (axes[0], spec_before, cells_before, 'memory map before the replay'),
            (axes[1], spec_after, cells_after, 'memory map + detected override')):
        draw_grid(axis, cells, spec.origin, spec.resolution, title)
        draw_path(axis, before, 'tab:blue', f'plan before ({results["plan_before_m"]:.1f} m)')
    draw_path(axes[1], after, 'tab:green', f'plan after ({results["plan_after_m"]:.1f} m)')
    draw_box(axes[1], region.min, region.max, 'tab:red', 'true blocked region')
    for override in results['overrides']:
        low, high = override['region']['min'], override['region']['max']
        axes[1].add_patch(plt.Rectangle((low[0], low[1]), high[0] - low[0], high[1] - low[1],
                                        fill=False, edgecolor='magenta', linewidth=2,
                                        label=f'override {override["id"]}'))
    for axis in axes:
        axis.legend(loc='upper right', fontsize=8)
    return save_figure(figure, out / 'demo.png')


def run_demo(out: Path, playback_rate: float = 4.0) -> dict[str, Any]:
    """Synthesise the bundled scene, run the nodes, replay, replan, draw; returns a summary."""
    from scenemem_ros.ros.demo import DemoRequest, run_ros_demo

    started = time.perf_counter()
    out = Path(out)
    if not DEMO_MODEL.is_file():
        raise SceneMemError(f'the bundled memory {DEMO_MODEL} is missing')
    summary = synthesize(SynthesisRequest(out=out, overwrite=True, **DEMO_SCENE))
    world = load_world(out / WORLD_DIR)
    change = load_change(str(out / CHANGE_FILE))
    region = change.regions[0]
    start, goal = doorway_ends(world, region.min, region.max)
    results = run_ros_demo(DemoRequest(
        model=DEMO_MODEL, after_bag=out / AFTER_BAG, start_xy=(float(start[0]), float(start[1])),
        goal_xy=(float(goal[0]), float(goal[1])), params_file=DEMO_PARAMS,
        journal=out / 'overrides.journal', playback_rate=playback_rate))
    picture = draw(out, results, region)
    summary.update({key: value for key, value in results.items() if not key.startswith('_')})
    summary.update({'change': change.description, 'start': np.round(start, 2).tolist(),
                    'goal': np.round(goal, 2).tolist(), 'rerouted':
                    results['plan_after_m'] > results['plan_before_m'] + 0.5,
                    'picture': str(picture),
                    'total_seconds': round(time.perf_counter() - started, 2)})
    return summary
