"""The demo on the bundled scene: scene -> bag -> picture (runtime steps join as they land)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from scenemem_ros.data.bag import bag_info
from scenemem_ros.training.drawing import draw_box, draw_depth, draw_grid, draw_path, save_figure
from scenemem_ros.training.synthesis import (
    AFTER_WORLD_DIR,
    BEFORE_BAG,
    CHANGE_FILE,
    WORLD_DIR,
    SynthesisRequest,
    synthesize,
)
from scenemem_ros.world import load_change, load_world, render_depth

# The bundled scene: regenerated bit-for-bit from this request on any machine with the same
# furniture package, so the repository carries the recipe, not the meshes.
DEMO_SCENE = dict(seed=31, change='doorway_blocked', frames=200, width=320, height=240)
NAVIGATION_BAND = (0.1, 1.8)


def run_demo(out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = Path(out)
    summary = synthesize(SynthesisRequest(out=out, overwrite=True, **DEMO_SCENE))
    world = load_world(out / WORLD_DIR)
    after = load_world(out / AFTER_WORLD_DIR)
    change = load_change(str(out / CHANGE_FILE))
    info = bag_info(out / BEFORE_BAG)
    figure, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    for axis, scene, title in ((axes[0], world, 'before: ground truth 5 cm'),
                               (axes[1], after, f'after: {change.kind.value}')):
        grid = scene.occupancy_2d(*NAVIGATION_BAND, 0.05)
        draw_grid(axis, grid.occupied, grid.origin, grid.resolution, title)
    from scenemem_ros.data.bag import read_sequence_bag

    sequence = read_sequence_bag(out / BEFORE_BAG).sequence
    walk = np.array([frame.camera_position[:2] for frame in sequence])
    draw_path(axes[0], walk, 'tab:blue', 'recorded walk')
    for region in change.regions:
        draw_box(axes[1], region.min, region.max, 'tab:red', 'changed region')
    axes[0].legend(loc='upper right')
    axes[1].legend(loc='upper right')
    middle = sequence[len(sequence) // 2]
    draw_depth(axes[2], render_depth(world, middle.camera, middle.camera_to_world),
               f'depth frame {len(sequence) // 2} ({middle.camera.width}x{middle.camera.height})')
    picture = save_figure(figure, out / 'demo.png')
    summary.update({'bag_messages': info.message_count,
                    'bag_duration_s': round(info.duration, 2), 'picture': str(picture),
                    'total_seconds': round(time.perf_counter() - started, 2)})
    return summary
