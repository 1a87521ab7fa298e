"""Pictures of encoded frames: slot meshes over the depth points (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from scenemem_ros.data.frame import Frame  # noqa: E402
from scenemem_ros.encoder.metrics import depth_points  # noqa: E402

MAX_POINTS = 20000


def _projected_triangles(meshes: list[np.ndarray], faces: np.ndarray, camera: Any,
                         colours: list[Any]) -> PolyCollection:
    """Filled, shaded slot triangles projected into the image, far ones painted first."""
    polygons, depths, colour_rows = [], [], []
    for mesh, colour in zip(meshes, colours, strict=True):
        triangles = mesh[faces]  # (F, 3, 3)
        keep = (triangles[..., 2] > 0.05).all(axis=1)
        triangles = triangles[keep]
        normal = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
        centre = triangles.mean(axis=1)
        facing = np.abs((normal * centre).sum(-1)) / (
            np.linalg.norm(normal, axis=1) * np.linalg.norm(centre, axis=1) + 1e-12)
        u = camera.fx * triangles[..., 0] / triangles[..., 2] + camera.cx
        v = camera.fy * triangles[..., 1] / triangles[..., 2] + camera.cy
        polygons.append(np.stack([u, v], axis=-1))
        depths.append(centre[:, 2])
        rgb = np.asarray(matplotlib.colors.to_rgb(colour))
        colour_rows.append(np.concatenate([rgb * (0.45 + 0.55 * facing[:, None]),
                                           np.full((len(facing), 1), 0.75)], axis=1))
    if not polygons:
        return PolyCollection([])
    order = np.argsort(-np.concatenate(depths))
    return PolyCollection(list(np.concatenate(polygons)[order]),
                          facecolors=np.concatenate(colour_rows)[order], edgecolors='none')


def draw_slots(path: Path, panels: list[tuple[Frame, Any, str]], faces: np.ndarray,
               threshold: float = 0.5) -> Path:
    """One row per (frame, camera-frame ``SlotOutput``, title): the depth image with the active
    slots' meshes projected on it (filled, shaded by how squarely they face the camera), and a
    top view (x right, z forward) of the depth points with the slot mesh vertices."""
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
        slot_colours = [colours(n % 20) for n in range(len(active))]
        image.add_collection(_projected_triangles([vertices[k] for k in active], faces, camera,
                                                  slot_colours))
        for colour, k in zip(slot_colours, active, strict=True):
            top.scatter(vertices[k][:, 0], vertices[k][:, 2], s=1.5, color=colour,
                        linewidths=0, alpha=0.8)
        image.set_xlim(0, camera.width - 1)
        image.set_ylim(camera.height - 1, 0)
        image.set_title(f'{title}: {len(active)} active slots over the depth')
        image.axis('off')
        top.set_title('top view: depth points (grey) and slot mesh vertices')
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
