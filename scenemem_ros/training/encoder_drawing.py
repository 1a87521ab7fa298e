"""Pictures of encoded frames: slot meshes over the depth points (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scenemem_ros.data.frame import Frame  # noqa: E402
from scenemem_ros.encoder.metrics import depth_points  # noqa: E402

MAX_POINTS = 20000


def _edges(faces: np.ndarray) -> np.ndarray:
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(pairs, axis=1), axis=0)


def draw_slots(path: Path, panels: list[tuple[Frame, Any, str]], faces: np.ndarray,
               threshold: float = 0.5) -> Path:
    """One row per (frame, camera-frame ``SlotOutput``, title): the depth image with the active
    slots' mesh edges projected on it, and a top view (x right, z forward) of the depth points
    with the slot meshes."""
    edges = _edges(faces)
    figure, axes = plt.subplots(len(panels), 2, figsize=(13, 4.6 * len(panels)), squeeze=False)
    colours = plt.get_cmap('tab20')
    for row, (frame, output, title) in enumerate(panels):
        assert frame.depth is not None
        camera = frame.camera
        vertices = output.vertices[0].detach().cpu().numpy()
        existence = output.slots.existence[0].detach().cpu().numpy()
        active = np.flatnonzero(existence > threshold)
        image = axes[row, 0]
        image.imshow(np.where(np.isfinite(frame.depth), frame.depth, np.nan), cmap='gray_r')
        top = axes[row, 1]
        points = depth_points(frame.depth, camera)
        if len(points) > MAX_POINTS:
            points = points[np.random.default_rng(0).choice(len(points), MAX_POINTS,
                                                             replace=False)]
        top.scatter(points[:, 0], points[:, 2], s=0.3, c='0.55', linewidths=0)
        for n, k in enumerate(active):
            colour = colours(n % 20)
            mesh = vertices[k]
            z = np.maximum(mesh[:, 2], 1e-3)
            u = camera.fx * mesh[:, 0] / z + camera.cx
            v = camera.fy * mesh[:, 1] / z + camera.cy
            segments_u = np.stack([u[edges[:, 0]], u[edges[:, 1]]])
            segments_v = np.stack([v[edges[:, 0]], v[edges[:, 1]]])
            image.plot(segments_u, segments_v, color=colour, linewidth=0.35, alpha=0.8)
            top.plot(np.stack([mesh[edges[:, 0], 0], mesh[edges[:, 1], 0]]),
                     np.stack([mesh[edges[:, 0], 2], mesh[edges[:, 1], 2]]), color=colour,
                     linewidth=0.3, alpha=0.7)
        image.set_xlim(0, camera.width - 1)
        image.set_ylim(camera.height - 1, 0)
        image.set_title(f'{title}: {len(active)} active slots over the depth')
        image.axis('off')
        top.set_title('top view: depth points (grey) and slot meshes')
        top.set_xlabel('x (m)')
        top.set_ylabel('z, forward (m)')
        top.set_aspect('equal')
        low, high = np.percentile(points, [1, 99], axis=0)
        top.set_xlim(low[0] - 0.3, high[0] + 0.3)
        top.set_ylim(max(0.0, low[2] - 0.3), high[2] + 0.3)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
