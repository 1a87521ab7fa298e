"""``scenemem eval memory``: fidelity of a trained memory beside Open3D TSDF fusion.

Both are measured on the same frames (the world's recorded walk) against the world's ground-truth
meshes, with the metric definitions of design.md:

- precision: share of predicted surface points within tau of the true surface;
- recall: share of true surface points inside the observed region within tau of the prediction;
- F-score: their harmonic mean; accuracy / completion: mean distances (cm) of those two sets;
- 2D grid IoU at 5 cm of the occupied cells in the navigation band, in the observed region.

The observed region is computed here from noise-free renders of the ground truth at the training
poses, independently of either method.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open3d as o3d

from scenemem_ros.data.frame import Frame
from scenemem_ros.memory.checkpoint import load_memory
from scenemem_ros.memory.field import SceneMemoryField
from scenemem_ros.memory.queries import bake, navigation_grid, surface_mesh
from scenemem_ros.memory.sampling import select_max_coverage
from scenemem_ros.training.memory_jobs import FrameSource
from scenemem_ros.training.synthesis import WORLD_DIR
from scenemem_ros.world import World, load_world, render_depth
from scenemem_ros.world.config import NoiseConfig, RenderConfig


@dataclass(frozen=True)
class FidelityConfig:
    """Evaluation settings.

    Attributes:
        grid_resolution: voxel size (m) of the 2D grids and of the TSDF volume.
        surface_resolution: voxel size (m) at which the memory's surface is extracted.
        band: the navigation height band (m) of the 2D grids.
        points_per_square_metre: density of ground-truth surface samples.
        visibility_tolerance: how far (m) a ground-truth point may sit from the rendered depth
            and still count as observed.
        max_frames: frames used (maximum-coverage choice, as in training).
        max_range: depth beyond this is ignored by both methods.
        tsdf_truncation_voxels: TSDF truncation in voxels.
    """

    grid_resolution: float = 0.05
    surface_resolution: float = 0.02
    band: tuple[float, float] = (0.1, 1.8)
    points_per_square_metre: float = 2500.0
    visibility_tolerance: float = 0.03
    max_frames: int = 300
    max_range: float = 8.0
    tsdf_truncation_voxels: float = 4.0


def surface_samples(mesh: o3d.geometry.TriangleMesh, density: float, seed: int = 0) -> np.ndarray:
    """(N, 3) points spread uniformly over ``mesh`` at ``density`` points per square metre."""
    if len(mesh.triangles) == 0:
        return np.zeros((0, 3))
    count = max(1000, int(mesh.get_surface_area() * density))
    o3d.utility.random.seed(seed)
    return np.asarray(mesh.sample_points_uniformly(count).points)


def distance_to_mesh(mesh: o3d.geometry.TriangleMesh, points: np.ndarray) -> np.ndarray:
    """(N,) unsigned distance (m) from each point to the mesh (inf for an empty mesh)."""
    if len(mesh.triangles) == 0 or len(points) == 0:
        return np.full(len(points), np.inf)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    # open3d's stub wrongly makes Tensor's dtype and device required.
    query = o3d.core.Tensor(points.astype(np.float32))  # type: ignore[call-overload]
    return scene.compute_distance(query).numpy()


def observed_ground_truth(world: World, frames: list[Frame], points: np.ndarray,
                          tolerance: float, max_range: float) -> np.ndarray:
    """(N,) bool: ground-truth points some training camera saw (in view, unoccluded, in range)."""
    seen = np.zeros(len(points), dtype=bool)
    exact = RenderConfig(noise=NoiseConfig(enabled=False))
    for frame in frames:
        depth = render_depth(world, frame.camera, frame.camera_to_world, exact)
        world_to_camera = np.linalg.inv(frame.camera_to_world)
        local = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
        z = local[:, 2]
        in_front = (z > 0.05) & (z < max_range)
        cam = frame.camera
        u = np.round(cam.fx * local[:, 0] / np.where(in_front, z, 1) + cam.cx).astype(int)
        v = np.round(cam.fy * local[:, 1] / np.where(in_front, z, 1) + cam.cy).astype(int)
        inside = in_front & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        index = np.nonzero(inside)[0]
        rendered = depth[v[index], u[index]]
        seen[index[np.abs(rendered - z[index]) < tolerance]] = True
    return seen


def fscore(predicted_to_truth: np.ndarray, truth_to_predicted: np.ndarray,
           tau: float) -> dict[str, float]:
    precision = float(np.mean(predicted_to_truth < tau)) if len(predicted_to_truth) else 0.0
    recall = float(np.mean(truth_to_predicted < tau)) if len(truth_to_predicted) else 0.0
    score = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {'precision': precision, 'recall': recall, 'fscore': score}


def tsdf_fusion(frames: list[Frame], voxel_size: float, truncation_voxels: float,
                max_range: float) -> tuple[Any, float]:
    """Open3D tensor VoxelBlockGrid TSDF of the frames; returns (grid, seconds)."""
    started = time.perf_counter()
    device = o3d.core.Device('CPU:0')
    # open3d's stubs miss the int -> SizeVector conversion of attr_channels and the defaults of
    # Tensor's dtype and device, hence the ignores below.
    grid = o3d.t.geometry.VoxelBlockGrid(
        attr_names=('tsdf', 'weight'), attr_dtypes=(o3d.core.float32, o3d.core.float32),
        attr_channels=((1), (1)),  # type: ignore[arg-type]
        voxel_size=voxel_size, block_resolution=16, block_count=100_000, device=device)
    for frame in frames:
        assert frame.depth is not None
        depth_array = np.nan_to_num(frame.depth, nan=0.0)
        depth = o3d.t.geometry.Image(o3d.core.Tensor(depth_array))  # type: ignore[call-overload]
        intrinsic = o3d.core.Tensor(  # type: ignore[call-overload]
            frame.camera.matrix, o3d.core.float64)
        extrinsic = o3d.core.Tensor(  # type: ignore[call-overload]
            np.linalg.inv(frame.camera_to_world), o3d.core.float64)
        blocks = grid.compute_unique_block_coordinates(depth, intrinsic, extrinsic, 1.0,
                                                       max_range)
        grid.integrate(blocks, depth, intrinsic, extrinsic, 1.0, max_range,
                       truncation_voxels)
    return grid, time.perf_counter() - started


def _legacy(mesh: Any) -> o3d.geometry.TriangleMesh:
    return mesh.to_legacy() if hasattr(mesh, 'to_legacy') else mesh


def _grid_iou(predicted: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    union = (predicted | truth) & region
    return float(((predicted & truth) & region).sum() / max(1, union.sum()))


def _cells_of_points(points: np.ndarray, origin: np.ndarray, resolution: float,
                     shape: tuple[int, ...], band: tuple[float, float]) -> np.ndarray:
    keep = (points[:, 2] >= band[0]) & (points[:, 2] <= band[1])
    index = np.floor((points[keep, :2] - origin) / resolution).astype(int)
    inside = ((index >= 0) & (index < np.array(shape))).all(axis=1)
    cells = np.zeros(shape, dtype=bool)
    cells[index[inside, 0], index[inside, 1]] = True
    return cells


def evaluate_memory(model: Path, world_dir: Path, scene: str | None = None,
                    config: FidelityConfig | None = None) -> dict[str, Any]:
    """All fidelity figures of one memory scene and of TSDF fusion of the same frames."""
    config = config or FidelityConfig()
    field, metadata = load_memory(model)
    source = FrameSource(world=world_dir)
    scene = scene or (field.scene_names()[0] if len(field.scene_names()) == 1
                      else source.default_scene_name())
    world = load_world(Path(world_dir) / WORLD_DIR)
    frames_all = list(source.read())
    chosen = select_max_coverage(frames_all, config.max_frames, 0.1, config.max_range)
    frames = [frames_all[i] for i in chosen]
    truth_mesh = _legacy(world.open3d_mesh())
    truth_points = surface_samples(truth_mesh, config.points_per_square_metre)
    seen = observed_ground_truth(world, frames, truth_points, config.visibility_tolerance,
                                 config.max_range)
    truth_seen = truth_points[seen]
    results: dict[str, Any] = {'scene': scene, 'frames': len(frames),
                               'truth_points_observed': int(seen.sum())}
    low, high = field.scene(scene).bounds
    started = time.perf_counter()
    fine = bake(field, scene, low, high, config.surface_resolution)
    memory_mesh = surface_mesh(fine)
    results['memory_surface_seconds'] = time.perf_counter() - started
    _surface_metrics(results, '', memory_mesh, truth_mesh, truth_seen, config)
    tsdf, tsdf_seconds = tsdf_fusion(frames, config.grid_resolution,
                                     config.tsdf_truncation_voxels, config.max_range)
    tsdf_mesh = _legacy(tsdf.extract_triangle_mesh())
    _surface_metrics(results, 'tsdf_', tsdf_mesh, truth_mesh, truth_seen, config)
    _grid_metrics(results, field, scene, world, frames, tsdf_mesh, config)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'tsdf.npz'
        tsdf.save(str(path))
        results['tsdf_bytes'] = path.stat().st_size
    results['model_bytes'] = Path(model).stat().st_size
    results['size_ratio'] = results['model_bytes'] / max(1, results['tsdf_bytes'])
    training = metadata.get('training', {}).get(scene, {})
    results['train_seconds'] = training.get('seconds')
    results['train_device'] = training.get('device')
    results['tsdf_seconds'] = tsdf_seconds
    return results


def _surface_metrics(results: dict[str, Any], prefix: str, mesh: o3d.geometry.TriangleMesh,
                     truth_mesh: o3d.geometry.TriangleMesh, truth_seen: np.ndarray,
                     config: FidelityConfig) -> None:
    predicted = surface_samples(mesh, config.points_per_square_metre, seed=1)
    predicted_to_truth = distance_to_mesh(truth_mesh, predicted)
    truth_to_predicted = distance_to_mesh(mesh, truth_seen)
    for tau, name in ((0.05, '5cm'), (0.02, '2cm')):
        scores = fscore(predicted_to_truth, truth_to_predicted, tau)
        results[f'{prefix}fscore_{name}'] = scores['fscore']
        results[f'{prefix}precision_{name}'] = scores['precision']
        results[f'{prefix}recall_{name}'] = scores['recall']
    results[f'{prefix}accuracy_cm'] = float(np.mean(predicted_to_truth) * 100) \
        if len(predicted_to_truth) else float('inf')
    results[f'{prefix}completion_cm'] = float(np.mean(truth_to_predicted) * 100) \
        if len(truth_to_predicted) else float('inf')


def _grid_metrics(results: dict[str, Any], field: SceneMemoryField, scene: str, world: World,
                  frames: list[Frame], tsdf_mesh: o3d.geometry.TriangleMesh,
                  config: FidelityConfig) -> None:
    resolution = config.grid_resolution
    started = time.perf_counter()
    spec, memory_cells = navigation_grid(field, scene, *config.band, resolution)
    results['map_seconds'] = time.perf_counter() - started
    origin = np.asarray(spec.origin)
    shape = tuple(spec.shape)
    truth = world.occupancy_2d(config.band[0], config.band[1], resolution,
                               xy_min=origin, xy_max=origin + np.array(shape) * resolution)
    truth_cells = truth.occupied[:shape[0], :shape[1]]
    region = _observed_columns(world, frames, origin, resolution, shape, config)
    results['observed_cells'] = int(region.sum())
    results['grid_iou_5cm'] = _grid_iou(memory_cells == 100, truth_cells, region)
    tsdf_points = surface_samples(tsdf_mesh, 40_000.0, seed=2) if len(tsdf_mesh.triangles) \
        else np.zeros((0, 3))
    tsdf_cells = _cells_of_points(tsdf_points, origin, resolution, shape, config.band)
    results['tsdf_grid_iou_5cm'] = _grid_iou(tsdf_cells, truth_cells, region)


def _observed_columns(world: World, frames: list[Frame], origin: np.ndarray, resolution: float,
                      shape: tuple[int, ...], config: FidelityConfig) -> np.ndarray:
    """(X, Y) bool: 2D cells whose band some camera ray crossed or ended in (exact depth)."""
    exact = RenderConfig(noise=NoiseConfig(enabled=False))
    region = np.zeros(shape, dtype=bool)
    step = resolution / 2
    for frame in frames:
        depth = render_depth(world, frame.camera, frame.camera_to_world, exact)[::4, ::4]
        camera = frame.camera.scaled(0.25)
        depth = depth[:camera.height, :camera.width]
        rays = camera.rays().numpy()[:depth.shape[0], :depth.shape[1]]
        valid = np.isfinite(depth) & (depth < config.max_range)
        directions = rays[valid] @ frame.camera_to_world[:3, :3].T
        ends = directions * depth[valid][:, None]
        lengths = np.linalg.norm(ends, axis=1)
        steps = int(np.ceil(lengths.max(initial=0) / step)) + 1
        t = np.minimum(np.arange(steps)[None, :] * step, lengths[:, None])
        points = frame.camera_position + (ends / np.maximum(lengths, 1e-9)[:, None])[:, None, :] \
            * t[..., None]
        region |= _cells_of_points(points.reshape(-1, 3), origin, resolution, shape, config.band)
    return region


def fidelity_table(results: dict[str, Any]) -> str:
    rows = [('surface F-score @5cm', 'fscore_5cm', 'tsdf_fscore_5cm', '{:.3f}'),
            ('surface F-score @2cm', 'fscore_2cm', 'tsdf_fscore_2cm', '{:.3f}'),
            ('accuracy (cm)', 'accuracy_cm', 'tsdf_accuracy_cm', '{:.2f}'),
            ('completion (cm)', 'completion_cm', 'tsdf_completion_cm', '{:.2f}'),
            ('2D grid IoU @5cm', 'grid_iou_5cm', 'tsdf_grid_iou_5cm', '{:.3f}'),
            ('on-disk bytes', 'model_bytes', 'tsdf_bytes', '{:,}'),
            ('build seconds', 'train_seconds', 'tsdf_seconds', '{:.1f}')]
    lines = [f'{"metric":<24}{"memory":>14}{"TSDF fusion":>14}']
    for label, mine, theirs, fmt in rows:
        values = [results.get(mine), results.get(theirs)]
        cells = [fmt.format(v) if isinstance(v, int | float) else '-' for v in values]
        lines.append(f'{label:<24}{cells[0]:>14}{cells[1]:>14}')
    lines.append(f'frames: {results["frames"]}, scene: {results["scene"]}, size ratio '
                 f'memory/TSDF: {results["size_ratio"]:.3f}')
    return '\n'.join(lines)


__all__ = ['FidelityConfig', 'evaluate_memory', 'fidelity_table']
