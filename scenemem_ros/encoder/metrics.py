"""Evaluation metrics of slot reconstructions against one depth frame (numpy + scipy).

Definitions (shared by ``scenemem eval encoder``, the benchmark and the tests):

* **Depth points**: every valid pixel of the evaluated depth map (finite, > 0, <= max_depth),
  back-projected to the camera frame (a seeded random ``max_points`` of them on larger frames).
* **Slot surface samples**: the meshes of the *active* slots (existence > threshold) sampled
  uniformly by area at ``density`` samples per square metre (barycentric sampling, seeded;
  a slot gets at least ``min_per_slot`` and at most ``max_per_slot`` samples).
* **Chamfer-L1** (one-directional, points -> slots): the Euclidean distance of each depth point
  to its nearest surface sample (exact, k-d tree); the mean and median over the points.
* **F-score@tau** (tau = 5 cm): the harmonic mean of recall = share of depth points within tau
  of a surface sample, and precision = share of surface samples within tau of a depth point.
  ``precision`` uses *all* surface samples (strict: an unseen back side counts against it);
  ``precision_visible`` only samples the camera could have verified, i.e. those that project
  into the image onto a pixel with depth and are not more than tau behind it; ``fscore`` and
  ``fscore_visible`` pair each with the same recall.
* **Front share**: the share of surface samples that project onto a pixel with depth (single
  dropouts filled from their neighbours) and lie more than tau in front of it, i.e. in space
  the sensor saw as free. Samples outside the image or over pixels without depth are counted
  in the total but never as in front. The test is along the viewing ray, so at grazing
  incidence it is strict: a sample 2 cm above a floor seen at 20 degrees lies ~6 cm in front
  along its ray, though it is within tau of the surface (and counts for precision).
* **Front share off the surface**: the samples in front (as above) that are also more than tau
  (Euclidean) from every depth point: surface in seen-free space beyond the tolerance that
  precision grants, the same tolerance for both.
* **Front share against the true surface** (synthetic frames, which know their noise-free
  depth): the front share with the true depth in place of the sensor's. Sensor noise alone
  puts true surface in front of the sensor depth (with sigma = 0.002 z^2 the held-out frames'
  true visible surface scores ~7 % against their noisy depth), so only this form can tell
  a reconstruction apart from the noise below a few percent. NaN when no true depth is given.
* **Noise floor of the front share** (``noise_floor_front_share``): the front share, against
  the sensor depth, of the true visible surface itself (the noise-free depth map meshed
  pixel to pixel, no faces across occluding edges, sampled by area like the slots): what a
  perfect reconstruction of what the camera saw would score in the first form.
* **Ownership**: each depth point belongs to the active slot of its nearest sample;
  ``min_points_per_2048`` is the smallest number of points an active slot owns, rescaled to a
  frame of 2048 points (the loss's sample size), and ``starved_slots`` counts active slots
  below ``starved_points`` of those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial import cKDTree

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.sampling import sample_triangles, triangle_areas

TAU = 0.05
POINTS_REFERENCE = 2048


@dataclass(frozen=True)
class FrameMetrics:
    """Metrics of one frame (distances in metres, shares in [0, 1])."""

    chamfer_mean: float
    chamfer_median: float
    recall: float
    precision: float
    precision_visible: float
    fscore: float
    fscore_visible: float
    front_share: float
    front_off_surface_share: float
    front_share_true: float
    active_slots: int
    min_points_per_2048: float
    starved_slots: int
    points: int
    surface_samples: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _valid_depth(depth: np.ndarray, camera: PinholeCamera, max_depth: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) depth -> the float64 depth and (H, W) bool valid pixels (finite, > 0, <=
    max_depth); a depth whose shape is not the camera's is an ``EncoderError``."""
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != (camera.height, camera.width):
        raise EncoderError(f'depth shape {depth.shape} does not match the camera '
                           f'{camera.height}x{camera.width}')
    with np.errstate(invalid='ignore'):
        return depth, np.isfinite(depth) & (depth > 0) & (depth <= max_depth)


def depth_points(depth: np.ndarray, camera: PinholeCamera, max_depth: float = np.inf
                 ) -> np.ndarray:
    """(H, W) depth -> (N, 3) float64 camera-frame points of the valid pixels."""
    depth, valid = _valid_depth(depth, camera, max_depth)
    v, u = np.nonzero(valid)
    z = depth[v, u]
    return np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], 1)


def surface_samples(vertices: np.ndarray, faces: np.ndarray, density: float = 40000.0,
                    min_per_slot: int = 200, max_per_slot: int = 250000, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(K, V, 3) slot meshes, (F, 3) faces -> (M, 3) area-uniform samples, (M,) slot index."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise EncoderError(f'vertices must be (K, V, 3), got {vertices.shape}')
    rng = np.random.default_rng(seed)
    chunks, owners = [], []
    for k, mesh in enumerate(vertices):
        corners = mesh[faces]  # (F, 3, 3)
        areas = triangle_areas(corners)
        count = int(np.clip(float(areas.sum()) * density, min_per_slot, max_per_slot))
        chunks.append(sample_triangles(corners, count, rng, areas))
        owners.append(np.full(count, k))
    if not chunks:
        return np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    return np.concatenate(chunks), np.concatenate(owners)


def _filled_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) depth with isolated invalid pixels filled by their largest valid neighbour."""
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
    known = np.where(valid, depth, 0.0)
    padded = np.pad(known, 1)
    neighbours = np.max(np.stack([padded[i:i + depth.shape[0], j:j + depth.shape[1]]
                                  for i in range(3) for j in range(3)]), axis=0)
    return np.where(valid, depth, np.where(neighbours > 0, neighbours, np.nan))


def _project(samples: np.ndarray, camera: PinholeCamera, depth: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) samples -> (M,) observed depth at their pixel (NaN: outside / unknown) and z."""
    z = samples[:, 2]
    safe = np.where(z > 1e-3, z, 1e-3)
    u = np.round(camera.fx * samples[:, 0] / safe + camera.cx).astype(np.int64)
    v = np.round(camera.fy * samples[:, 1] / safe + camera.cy).astype(np.int64)
    inside = (z > 1e-3) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    observed = np.full(len(samples), np.nan)
    observed[inside] = depth[v[inside], u[inside]]
    return observed, z


def _front_and_visible(samples: np.ndarray, camera: PinholeCamera, depth: np.ndarray,
                       tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) samples, (H, W) depth -> (M,) bool in front of the depth by more than tau along
    the ray, and (M,) bool over known depth and not more than tau behind it."""
    observed, z = _project(samples, camera, _filled_depth(np.asarray(depth, np.float64)))
    known = np.isfinite(observed)
    return known & (z < observed - tau), known & (z <= observed + tau)


def depth_surface_mesh(depth: np.ndarray, camera: PinholeCamera, max_depth: float = np.inf,
                       max_jump: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) depth -> (H * W, 3) camera-frame vertices (one per pixel, NaN where invalid) and
    (F, 3) faces: two triangles per 2 x 2 block of valid pixels whose depths differ by at most
    ``max_jump`` of the smallest of them (no faces across occluding edges)."""
    depth, valid = _valid_depth(depth, camera, max_depth)
    z = np.where(valid, depth, np.nan)
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    vertices = np.stack([(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z],
                        -1).reshape(-1, 3)
    corners = np.stack([z[:-1, :-1], z[:-1, 1:], z[1:, :-1], z[1:, 1:]])  # (4, H-1, W-1)
    with np.errstate(invalid='ignore'):
        low, high = np.min(corners, axis=0), np.max(corners, axis=0)
        blocks = np.isfinite(low) & np.isfinite(high) & (high - low <= max_jump * low)
    rows, cols = np.nonzero(blocks)
    top_left = rows * camera.width + cols
    top_right, bottom_left = top_left + 1, top_left + camera.width
    bottom_right = bottom_left + 1
    faces = np.concatenate([np.stack([top_left, bottom_left, top_right], 1),
                            np.stack([top_right, bottom_left, bottom_right], 1)])
    return vertices, faces


def noise_floor_front_share(depth: np.ndarray, true_depth: np.ndarray, camera: PinholeCamera,
                            tau: float = TAU, max_depth: float = 10.0,
                            density: float = 40000.0, max_samples: int = 400_000,
                            seed: int = 0) -> float:
    """(H, W) sensor depth and its (H, W) noise-free depth -> the share of the true visible
    surface (sampled by area, at most ``max_samples`` points) that lies more than ``tau`` in
    front of the sensor depth along the ray: the front share's floor for a perfect
    reconstruction."""
    if np.shape(true_depth) != np.shape(depth):
        raise EncoderError(f'true depth shape {np.shape(true_depth)} does not match the depth '
                           f'{np.shape(depth)}')
    vertices, faces = depth_surface_mesh(true_depth, camera, max_depth)
    if len(faces) == 0:
        raise EncoderError('the true depth has no surface to measure the noise floor on')
    corners = vertices[faces]
    areas = triangle_areas(corners)
    count = int(np.clip(float(areas.sum()) * density, 1, max_samples))
    samples = sample_triangles(corners, count, np.random.default_rng(seed), areas)
    return float(_front_and_visible(samples, camera, depth, tau)[0].mean())


def evaluate_frame(depth: np.ndarray, camera: PinholeCamera, vertices: np.ndarray,
                   faces: np.ndarray, existence: np.ndarray, threshold: float = 0.5,
                   tau: float = TAU, max_depth: float = 10.0, density: float = 40000.0,
                   starved_points: int = 10, seed: int = 0, max_points: int = 100_000,
                   true_depth: np.ndarray | None = None) -> FrameMetrics:
    """(H, W) depth, its camera, (K, V, 3) camera-frame slot meshes with (F, 3) faces and (K,)
    existence (and optionally the (H, W) noise-free depth) -> ``FrameMetrics`` (definitions in
    the module docstring)."""
    points = depth_points(depth, camera, max_depth)
    if len(points) == 0:
        raise EncoderError('the frame has no valid depth to evaluate against')
    if len(points) > max_points:
        points = points[np.random.default_rng(seed).choice(len(points), max_points,
                                                            replace=False)]
    active = np.flatnonzero(np.asarray(existence) > threshold)
    samples, owner = surface_samples(np.asarray(vertices)[active], np.asarray(faces), density,
                                     seed=seed)
    if len(samples) == 0:
        return FrameMetrics(
            chamfer_mean=float('inf'), chamfer_median=float('inf'), recall=0.0, precision=0.0,
            precision_visible=0.0, fscore=0.0, fscore_visible=0.0, front_share=0.0,
            front_off_surface_share=0.0, front_share_true=0.0, active_slots=0,
            min_points_per_2048=0.0, starved_slots=0, points=len(points), surface_samples=0)
    distance, nearest = cKDTree(samples).query(points, workers=1)
    back, _ = cKDTree(points).query(samples, workers=1, distance_upper_bound=tau * 1.0001)
    close = back <= tau
    front, visible = _front_and_visible(samples, camera, depth, tau)
    front_true = float('nan')
    if true_depth is not None:
        if np.shape(true_depth) != np.shape(depth):
            raise EncoderError(f'true depth shape {np.shape(true_depth)} does not match the '
                               f'depth {np.shape(depth)}')
        front_true = float(_front_and_visible(samples, camera, true_depth, tau)[0].mean())
    recall = float(np.mean(distance <= tau))
    precision = float(np.mean(close))
    precision_visible = float(np.mean(close[visible])) if visible.any() else 0.0

    def f(p: float) -> float:
        return 2 * p * recall / (p + recall) if p + recall > 0 else 0.0

    counts = np.bincount(owner[nearest], minlength=len(active)).astype(np.float64)
    per_2048 = counts * POINTS_REFERENCE / len(points)
    return FrameMetrics(
        chamfer_mean=float(distance.mean()), chamfer_median=float(np.median(distance)),
        recall=recall, precision=precision, precision_visible=precision_visible,
        fscore=f(precision), fscore_visible=f(precision_visible),
        front_share=float(front.mean()),
        front_off_surface_share=float((front & ~close).mean()), front_share_true=front_true,
        active_slots=len(active),
        min_points_per_2048=float(per_2048.min()) if len(active) else 0.0,
        starved_slots=int((per_2048 < starved_points).sum()), points=len(points),
        surface_samples=len(samples))
