"""Egocentric occupancy and visibility: configs, binning, naive-loop and DDA references."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from export_fixtures import CAMERA, room_frames, room_pose, surface_distance

from scenemem_ros.data.frame import Frame, Sequence
from scenemem_ros.export import (
    ExportError,
    OccupancyExportConfig,
    compute_occupancy,
    world_from_ego,
)
from scenemem_ros.export.occupancy import SphericalBins, _Visibility
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.raycast import traverse_rays
from scenemem_ros.geometry.transforms import invert_rigid, is_rigid, look_at

SMALL = OccupancyExportConfig(voxel_size=0.1, pc_range=(-2.0, 0.0, -1.2, 2.0, 4.0, 1.4),
                              history_len=1, history_step=1, pixel_stride=1)


def ego_voxel_world_centres(export, index: int, grid: np.ndarray) -> np.ndarray:
    """(K, 3) world centres of the True cells of an ego grid of frame ``index``."""
    cells = np.argwhere(grid)
    local = export.grid.index_to_centre(cells)
    pose = export.world_from_ego[index]
    return local @ pose[:3, :3].T + pose[:3, 3]


@pytest.mark.parametrize('field, value', [
    ('voxel_size', 0.0), ('voxel_size', float('nan')), ('history_len', 0),
    ('history_step', 0), ('pixel_stride', 0), ('angular_resolution', -1.0), ('fps', 0.0),
    ('max_splat_radius', -1), ('pc_range', (0.5, 0.0, -0.6, 2.0, 5.6, 1.8)),
    ('pc_range', (-2.0, 0.0, -0.6, 2.0, 5.61, 1.8)),
    ('pc_range', (2.0, 0.0, -0.6, -2.0, 5.6, 1.8)),
    ('pc_range', (1.0, 2.0)),
])
def test_config_names_the_bad_field(field, value):
    with pytest.raises(ExportError, match=field):
        OccupancyExportConfig(**{field: value})


def test_default_grid_is_l3roccs():
    config = OccupancyExportConfig()
    assert config.ego_grid.shape == (100, 140, 60)  # L3ROcc occ_size at 4 cm
    assert config.ego_grid.origin == (-2.0, 0.0, -0.6)
    assert config.reach == pytest.approx(math.sqrt(2.0**2 + 5.6**2 + 1.8**2))


def test_ego_frame_is_upright_at_the_camera_facing_its_heading():
    rng = np.random.default_rng(0)
    for _ in range(50):
        eye = rng.normal(size=3)
        target = eye + rng.normal(size=3)
        pose = look_at(eye, target)
        ego = world_from_ego(pose)
        assert is_rigid(ego, 1e-9)
        np.testing.assert_allclose(ego[:3, 2], [0.0, 0.0, 1.0])
        np.testing.assert_allclose(ego[:3, 3], eye)
        forward = pose[:3, 2] * [1.0, 1.0, 0.0]
        np.testing.assert_allclose(ego[:3, 1], forward / np.linalg.norm(forward), atol=1e-12)
        # the camera sits in the ego frame with only pitch and roll: its x axis stays level
        local = invert_rigid(ego) @ pose
        assert local[2, 0] == pytest.approx(0.0, abs=1e-12)
    down = look_at([0.0, 0.0, 2.0], [0.0, 0.0, 0.0], up=(1.0, 0.0, 0.0))
    ego = world_from_ego(down)
    assert is_rigid(ego, 1e-9) and ego[:3, 1] @ -down[:3, 1] > 0.99  # image up is forward


def test_bins_agree_with_exact_angles():
    bins = SphericalBins(0.01)
    rng = np.random.default_rng(1)
    d = rng.normal(size=(20000, 3))
    azimuth = np.arctan2(d[:, 0], d[:, 1])
    elevation = np.arctan2(d[:, 2], np.hypot(d[:, 0], d[:, 1]))
    ia = np.clip(np.floor((azimuth + np.pi) / 0.01), 0, bins.n_azimuth - 1).astype(int)
    ie = np.clip(np.floor((elevation + np.pi / 2) / 0.01), 0, bins.n_elevation - 1).astype(int)
    got = bins.index(d[:, 0], d[:, 1], d[:, 2])
    assert (got == ie * bins.n_azimuth + ia).mean() > 0.99
    # a miss is only ever the neighbouring bin (azimuth wraps around)
    da = np.abs(got % bins.n_azimuth - ia)
    assert np.all(np.minimum(da, bins.n_azimuth - da) <= 1)
    assert np.all(np.abs(got // bins.n_azimuth - ie) <= 1)
    assert (bins.index(*d.T.astype(np.float32)) == got).mean() > 0.999


def naive_visibility(config: OccupancyExportConfig, depth: np.ndarray, camera: PinholeCamera,
                     ego_from_camera: np.ndarray, resolution: float) -> np.ndarray:
    """Loop version: every pixel's ray gives its bin (exact angles) a range; a voxel is visible
    when its centre is no farther than its bin's shortest range plus half a voxel diagonal."""
    shortest: dict[tuple[int, int], float] = {}
    for v in range(camera.height):
        for u in range(camera.width):
            z = depth[v, u]
            if not np.isfinite(z):
                continue
            p = ego_from_camera[:3, :3] @ [(u - camera.cx) / camera.fx * z,
                                           (v - camera.cy) / camera.fy * z, z]
            key = (math.floor((math.atan2(p[0], p[1]) + math.pi) / resolution),
                   math.floor((math.atan2(p[2], math.hypot(p[0], p[1])) + math.pi / 2)
                              / resolution))
            shortest[key] = min(shortest.get(key, math.inf), float(np.linalg.norm(p)))
    grid = config.ego_grid
    visible = np.zeros(grid.shape, dtype=bool)
    tolerance = 0.5 * math.sqrt(3) * grid.resolution
    for cell in np.ndindex(*grid.shape):
        x, y, z = grid.index_to_centre(np.array(cell))
        key = (math.floor((math.atan2(x, y) + math.pi) / resolution),
               math.floor((math.atan2(z, math.hypot(x, y)) + math.pi / 2) / resolution))
        visible[cell] = shortest.get(key, -1.0) >= math.sqrt(x * x + y * y + z * z) - tolerance
    return visible


def test_visibility_matches_a_naive_loop():
    camera = PinholeCamera(fx=30.0, fy=30.0, cx=19.5, cy=14.5, width=40, height=30)
    pose = room_pose(2)
    depth = room_frames(3, camera)[2].depth
    depth[10:14, 5:25] = np.nan  # a hole: no return there
    config = replace(SMALL, angular_resolution=0.05)
    ego_from_camera = invert_rigid(world_from_ego(pose)) @ pose
    ours = _Visibility(config, [camera]).from_depth(depth, camera, ego_from_camera)[0]
    expected = naive_visibility(config, depth, camera, ego_from_camera, 0.05).reshape(-1)
    assert expected.sum() > 1000
    assert (ours == expected).mean() > 0.995  # bin edges differ by ~1e-4 rad at most


def test_visibility_agrees_with_dda_ray_casting(frames):
    export = compute_occupancy(frames, SMALL)
    grid = SMALL.ego_grid
    for index, frame in enumerate(frames):
        ego_from_camera = invert_rigid(export.world_from_ego[index]) @ frame.camera_to_world
        v, u = np.mgrid[0:CAMERA.height, 0:CAMERA.width]
        z = frame.depth
        local = np.stack([(u - CAMERA.cx) / CAMERA.fx * z, (v - CAMERA.cy) / CAMERA.fy * z, z],
                         axis=-1).reshape(-1, 3)
        ends = local @ ego_from_camera[:3, :3].T
        traversed = traverse_rays(grid, np.zeros(3), ends).voxels
        reference = np.zeros(grid.num_cells, dtype=bool)
        reference[traversed] = True
        ours = export.visibility_grid(index).reshape(-1)
        iou = (ours & reference).sum() / (ours | reference).sum()
        assert iou > 0.85, iou
        assert (ours & ~reference).sum() < 0.05 * ours.sum()


def test_occupancy_lies_on_the_room_and_is_seen(frames):
    export = compute_occupancy(frames, SMALL)
    assert len(export) == len(frames) and export.occupancy.shape == (6, SMALL.ego_grid.num_cells)
    assert surface_distance(export.world_occupancy).max() < SMALL.voxel_size
    assert surface_distance(export.cloud).max() < 1e-3  # observed points, on the walls
    assert len(export.cloud) == len(export.world_occupancy)
    np.testing.assert_array_equal(  # each cloud point lies in its voxel
        np.floor(export.cloud / SMALL.voxel_size), np.floor(export.world_occupancy
                                                             / SMALL.voxel_size))
    for index in range(len(frames)):
        occupied, visible = export.occupancy_grid(index), export.visibility_grid(index)
        assert occupied.sum() > 100 and not (occupied & ~visible).any()  # no history
        centres = ego_voxel_world_centres(export, index, occupied)
        assert surface_distance(centres).max() < 1.5 * SMALL.voxel_size
        # the wall the camera looks at is occupied where the depth says so
        points = frames[index].world_points()
        local = (points - export.world_from_ego[index][:3, 3]) @ export.world_from_ego[index][
            :3, :3]
        inside = export.grid.contains_point(local)
        cells = export.grid.point_to_index(local[inside])
        assert occupied[tuple(cells.T)].mean() > 0.9


def test_history_merges_earlier_frames_visible_occupancy(frames):
    single = compute_occupancy(frames, SMALL)
    merged = compute_occupancy(frames, replace(SMALL, history_len=3, history_step=2))
    for index in range(len(frames)):
        now = single.occupancy_grid(index)
        with_history = merged.occupancy_grid(index)
        assert not (now & ~with_history).any()
        # history voxels are the world voxels seen by frames index-2, index-4 (even ones)
        history = [k for k in range(index - 1, -1, -1) if k % 2 == 0][:2]
        extra = ego_voxel_world_centres(merged, index, with_history & ~now)
        seen_before = np.concatenate([ego_voxel_world_centres(single, k, single.occupancy_grid(k))
                                      for k in history] or [np.zeros((0, 3))])
        if len(extra):
            assert history
            gaps = np.linalg.norm(extra[:, None] - seen_before[None], axis=2).min(axis=1)
            assert gaps.max() < 1.5 * SMALL.voxel_size
    assert merged.occupancy.nnz > single.occupancy.nnz


def test_point_only_frames_render_the_map_for_visibility(frames):
    rng = np.random.default_rng(3)
    point_frames = []
    for frame in frames:
        points = frame.world_points()
        points = points[rng.random(len(points)) < 0.5]
        point_frames.append(Frame(stamp=frame.stamp, camera=frame.camera,
                                  camera_to_world=frame.camera_to_world, points=points))
    from_points = compute_occupancy(Sequence(point_frames), SMALL)
    from_depth = compute_occupancy(frames, SMALL)
    assert surface_distance(from_points.world_occupancy).max() < SMALL.voxel_size
    for index in range(len(frames)):
        a, b = from_points.visibility_grid(index), from_depth.visibility_grid(index)
        assert (a & b).sum() / (a | b).sum() > 0.8
        occupied = from_points.occupancy_grid(index)
        assert occupied.sum() > 50 and not (occupied & ~a).any()


def test_bad_frame_sets_are_refused(frames):
    with pytest.raises(ExportError, match='no frames'):
        compute_occupancy([], SMALL)
    other = PinholeCamera(fx=60.0, fy=60.0, cx=19.5, cy=14.5, width=40, height=30)
    mixed = [frames[0], Frame(stamp=200.0, camera=other, camera_to_world=room_pose(0),
                              depth=np.full((30, 40), 2.0, np.float32))]
    with pytest.raises(ExportError, match='different image sizes'):
        compute_occupancy(mixed, SMALL)
