"""The per-frame comparison's fast paths against their straightforward versions.

``compare_frame`` works on (h, w) planes per ray component, bins points with one float64
multiply-add per axis, and keeps sparse sets of the voxels holding evidence; these tests pin each
of those to the plain formulation it replaced (the one of the previous release): exactly where the
arithmetic is the same, and within 1e-4 voxel for the float64 binning (which the float32 matrix
product it replaced does not match bit for bit in general; on the benchmark's frames every voxel
index agreed).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from change_scenes import apartment, walk
from scipy import ndimage

from scenemem_ros.changes import ChangeDetectionError, ChangeDetector, ChangeDetectorConfig
from scenemem_ros.changes.evidence import (
    FrameEvidence,
    _incidence,
    _paired_counts,
    _square_filter,
    _voxel_image,
    _voxel_rays,
    check_frame,
    compare_frame,
    incidence,
    sampled_pixels,
)
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.voxels import VoxelGrid
from scenemem_ros.memory.queries import camera_rays
from scenemem_ros.memory.sampling import depth_edge_mask

BLOCKER = ((3.75, 1.02, 0.0), (4.25, 1.98, 1.8))


# ---------------------------------------------------------------- the previous formulation
def reference_incidence(expected, rays):
    points = rays * expected[..., None]
    right = np.zeros_like(points)
    down = np.zeros_like(points)
    right[:, :-1] = points[:, 1:] - points[:, :-1]
    down[:-1] = points[1:] - points[:-1]
    normal = np.cross(right, down)
    norm = np.linalg.norm(normal, axis=-1) * np.linalg.norm(rays, axis=-1)
    with np.errstate(invalid='ignore', divide='ignore'):
        cosine = np.abs((normal * rays).sum(axis=-1)) / norm
    return np.where(np.isfinite(cosine), cosine, 1.0)


def reference_voxels(grid, rays, depth, pose):
    world = (rays * depth[:, None]) @ pose[:3, :3].T.astype(np.float32) + \
        pose[:3, 3].astype(np.float32)
    index = np.floor((world - np.asarray(grid.origin, np.float32)) / grid.resolution) \
        .astype(np.int64)
    inside = np.all((index >= 0) & (index < np.asarray(grid.shape)), axis=1)
    index = index[inside]
    return np.ravel_multi_index(index.T, grid.shape) if len(index) else np.zeros(0, np.int64)


def reference_paired_counts(first, second):
    voxels = np.union1d(first, second)
    return (voxels, np.bincount(np.searchsorted(voxels, first), minlength=len(voxels)),
            np.bincount(np.searchsorted(voxels, second), minlength=len(voxels)))


def reference_compare_frame(base, config, depth, camera, camera_to_world):
    """compare_frame as it was before the fast paths (removals compared on every frame)."""
    grid = base.grid
    pose = np.asarray(camera_to_world, dtype=np.float64)

    def sampled(stride):
        observed = np.asarray(depth[::stride, ::stride], dtype=np.float32)
        small = camera.scaled(1.0 / stride) if stride > 1 else camera
        small = PinholeCamera(small.fx, small.fy, small.cx, small.cy, observed.shape[1],
                              observed.shape[0])
        with np.errstate(invalid='ignore'):
            valid = np.isfinite(observed) & (observed > config.min_range) & \
                (observed < config.max_range)
        valid &= ~depth_edge_mask(np.where(valid, observed, np.nan), config.edge_jump)
        return observed, small, valid

    observed, small, valid = sampled(config.stride(camera.width, config.addition_width))
    added_flat = reference_voxels(grid, camera_rays(small)[valid], observed[valid], pose)
    added_flat = added_flat[base.known.ravel()[added_flat] &
                            ~base.near_occupied.ravel()[added_flat]]
    if added_flat.size:
        voxels, counts = np.unique(added_flat, return_counts=True)
        added, strong_added = voxels[counts >= config.min_pixels], \
            voxels[counts >= config.strong_pixels]
    else:
        added = strong_added = np.zeros(0, np.int64)
    sparse, coarse, usable = sampled(config.stride(camera.width, config.removal_width))
    expected = base.renderer.render(coarse, pose, max_range=config.max_range + 1.0)
    rays = camera_rays(coarse)
    usable &= np.isfinite(expected) & (reference_incidence(expected, rays) >= config.min_incidence)
    margin = config.margin + config.margin_per_m2 * np.square(np.nan_to_num(sparse))
    with np.errstate(invalid='ignore'):
        farther = usable & (sparse > expected + margin)
        agreeing = usable & (np.abs(sparse - expected) <= margin)
    behind = expected + 0.5 * grid.resolution
    removed_flat = reference_voxels(grid, rays[farther], behind[farther], pose)
    removed_flat = removed_flat[base.occupied.ravel()[removed_flat]]
    agreeing_flat = reference_voxels(grid, rays[agreeing], behind[agreeing], pose)
    agreeing_flat = agreeing_flat[base.occupied.ravel()[agreeing_flat]]
    voxels, through, met = reference_paired_counts(removed_flat, agreeing_flat)
    strong_removed = voxels[(through >= config.strong_pixels) & (through >= 4 * met)]
    patches = reference_patches(voxels[(through >= config.min_pixels) & (through >= 4 * met)],
                                grid.shape, config.strong_cluster_voxels) \
        if config.strong_cluster_voxels else np.zeros(0, np.int64)
    return FrameEvidence(
        added=added, removed=voxels[(through >= config.min_pixels) & (through >= 2 * met)],
        confirmed=voxels[(met >= config.min_pixels) & (met > through)],
        compared_pixels=int(valid.sum()), added_pixels=int(added_flat.size),
        removed_pixels=int(removed_flat.size), strong_added=strong_added,
        strong_removed=strong_removed, patch_removed=patches)


def reference_patches(voxels, shape, min_voxels):
    """Voxels in 26-connected components of at least ``min_voxels``, by dense labelling."""
    dense = np.zeros(int(np.prod(shape)), bool)
    dense[voxels] = True
    labels, _ = ndimage.label(dense.reshape(shape), structure=np.ones((3, 3, 3)))
    labels = labels.ravel()
    sizes = np.bincount(labels)
    keep = voxels[sizes[labels[voxels]] >= min_voxels] if voxels.size else voxels
    return keep.astype(np.int64)


# ---------------------------------------------------------------- tests
def test_incidence_is_bit_for_bit_the_cross_product_formula():
    rng = np.random.default_rng(0)
    camera = PinholeCamera.from_fov(64, 48, 80.0)
    rays = camera_rays(camera)
    pixels = sampled_pixels(camera, 1)
    for _ in range(20):
        expected = rng.uniform(0.3, 6.0, (48, 64)).astype(np.float32)
        expected[rng.random(expected.shape) < 0.1] = np.nan
        # smooth patches (planes) next to noise: every angle of incidence occurs
        expected[10:30, 5:40] = np.linspace(1.0, 4.0, 35, dtype=np.float32)[None, :]
        fast = incidence(expected, rays)
        assert fast.dtype == np.float32
        assert np.array_equal(fast, reference_incidence(expected, rays))
        planes = _incidence(expected, pixels.x, pixels.y, pixels.z, pixels.norm)
        assert np.array_equal(planes, fast)


def test_voxel_image_bins_points_like_the_matrix_formulation():
    rng = np.random.default_rng(1)
    grid = VoxelGrid(origin=(-0.55, -0.45, -0.35), resolution=0.1, shape=(40, 30, 20))
    camera = PinholeCamera.from_fov(80, 60, 80.0)
    pixels = sampled_pixels(camera, 1)
    rays = camera_rays(camera).reshape(-1, 3)
    differing = total = 0
    for _ in range(10):
        angle = rng.uniform(0, 2 * np.pi)
        pose = np.eye(4)
        pose[:3, :3] = [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0],
                        [-np.sin(angle), 0, np.cos(angle)]]
        pose[:3, 3] = rng.uniform(0.5, 2.5, 3)
        depth = rng.uniform(0.1, 5.0, (60, 80)).astype(np.float32)
        depth[rng.random(depth.shape) < 0.05] = np.nan
        depth[rng.random(depth.shape) < 0.02] = np.inf
        depth[rng.random(depth.shape) < 0.02] = -1.0
        flat = _voxel_image(grid, _voxel_rays(grid, pixels, pose), depth).ravel()
        finite = np.isfinite(depth.ravel())
        assert (flat[~finite] == -1).all()
        assert ((flat >= -1) & (flat < np.prod(grid.shape))).all()
        # the same voxels as the (N, 3) @ (3, 3) float32 version, up to rounding at faces
        reference = np.full(flat.shape, -1)
        for i in np.flatnonzero(finite):
            hit = reference_voxels(grid, rays[i:i + 1], depth.ravel()[i:i + 1], pose)
            reference[i] = hit[0] if hit.size else -1
        differing += int((reference != flat).sum())
        total += flat.size
    assert differing <= total * 1e-4


def test_paired_counts_match_union_and_bincount():
    rng = np.random.default_rng(2)
    for first_size, second_size in ((0, 0), (0, 5), (7, 0), (50, 400), (300, 20)):
        first = rng.integers(0, 60, first_size)
        second = rng.integers(30, 90, second_size)
        for got, want in zip(_paired_counts(first, second),
                             reference_paired_counts(first, second), strict=True):
            assert got.dtype == np.int64 and np.array_equal(got, want)


@pytest.mark.parametrize('widths', [(160, 160), (160, 80), (80, 160)])
def test_compare_frame_gives_the_previous_evidence(base, widths):
    config = ChangeDetectorConfig(addition_width=widths[0], removal_width=widths[1],
                                  pose_jitter_deg=0.0,   # the reference predates the guard
                                  strong_cluster_voxels=32)
    frames = walk(apartment(extra=[BLOCKER], without_table=True), count=12, width=320,
                  height=240, noise=0.003)
    found = 0
    for frame in frames:
        got = compare_frame(base, config, frame.depth, frame.camera, frame.camera_to_world)
        want = reference_compare_frame(base, config, frame.depth, frame.camera,
                                       frame.camera_to_world)
        for name in ('added', 'removed', 'confirmed', 'strong_added', 'strong_removed',
                     'patch_removed', 'compared_pixels', 'added_pixels', 'removed_pixels'):
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
        found += got.added.size + got.removed.size
    assert found > 0  # the frames do show the blocker and the missing table


def test_evidence_grid_keeps_its_sparse_sets_in_step(base, detector_config):
    detector = ChangeDetector(base, detector_config)
    evidence = detector.evidence
    frames = walk(apartment(extra=[BLOCKER], without_table=True), count=30, noise=0.003)
    frames += walk(apartment(), count=30, noise=0.003)  # ... and everything back again
    seen = {True: 0, False: 0}
    for frame in frames:
        report = detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
        # the latest verdict on each memory surface voxel
        assert evidence.surface_in_place[report.evidence.confirmed].all()
        assert not evidence.surface_in_place[report.evidence.removed].any()
        for addition in (True, False):
            assert np.array_equal(evidence._holding[addition],
                                  np.flatnonzero(evidence.scores[addition] > 0))
            assert np.array_equal(evidence.changed_indices(addition),
                                  np.flatnonzero(evidence.changed[addition]))
            seen[addition] = max(seen[addition], evidence.changed_indices(addition).size)
    assert seen[True] > 0 and seen[False] > 0
    assert evidence.surface_in_place.any()
    detector.reset()
    assert not evidence.surface_in_place.any()
    for addition in (True, False):
        assert evidence._holding[addition].size == 0
        assert evidence.changed_indices(addition).size == 0


def test_base_lookups_read_false_at_index_minus_one(base):
    addable = base.lookup('addable')
    occupied = base.lookup('occupied')
    assert addable.shape == occupied.shape == (base.occupied.size + 1,)
    assert not addable[-1] and not occupied[-1]
    assert np.array_equal(addable[:-1], (base.known & ~base.near_occupied).ravel())
    assert np.array_equal(occupied[:-1], base.occupied.ravel())
    assert base.lookup('addable') is addable  # built once
    with pytest.raises(ChangeDetectionError, match='no voxel lookup'):
        base.lookup('free')


def test_classification_is_reused_only_for_the_same_voxels(base, detector_config,
                                                            monkeypatch):
    import scenemem_ros.changes.detector as module

    calls = []
    original = module.classify

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, 'classify', counting)
    detector = ChangeDetector(base, detector_config)
    frames = walk(apartment(without_table=True), count=20)
    confirmed_frames = 0
    for frame in frames:
        detector.process(frame.depth, frame.camera, frame.camera_to_world, frame.stamp)
        confirmed_frames += sum(t.label is not None for t in detector.tracks.values())
    tracks = [t for t in detector.tracks.values() if t.label is not None]
    assert tracks and 0 < len(calls) < confirmed_frames  # not once per track and frame
    track = tracks[0]
    assert detector._classified(track)
    track.voxels = track.voxels[:-1]
    assert not detector._classified(track)


def test_check_frame_refuses_non_rigid_poses():
    camera = PinholeCamera.from_fov(8, 6, 80.0)
    depth = np.ones((6, 8), np.float32)
    check_frame(depth, camera, np.eye(4))
    for broken in (np.diag([1.0, 1.0, 1.01, 1.0]), np.diag([1.0, 1.0, -1.0, 1.0]),
                   np.eye(4) + np.eye(4, k=-3) * 0.1):
        with pytest.raises(ChangeDetectionError, match='rigid'):
            check_frame(depth, camera, broken)
    with pytest.raises(ChangeDetectionError, match='finite'):
        check_frame(depth, camera, np.full((4, 4), np.nan))


def test_returns_beyond_max_range_are_rays_past_a_nearer_expected_wall(base, detector_config):
    """A glimpse through a new doorway: the room behind is further than max_range, so its
    depth places no surface, but the rays did pass where the memory has a wall."""
    frame = walk(apartment(), count=4, width=160, height=120, noise=0.0)[1]
    middle = (slice(40, 80), slice(60, 100))
    assert np.nanmax(frame.depth[middle]) < detector_config.max_range - 0.6
    far, dropped = frame.depth.copy(), frame.depth.copy()
    far[middle] = detector_config.max_range + 2.0
    dropped[middle] = np.nan
    seen = compare_frame(base, detector_config, far, frame.camera, frame.camera_to_world)
    blind = compare_frame(base, detector_config, dropped, frame.camera, frame.camera_to_world)
    assert seen.removed_pixels >= blind.removed_pixels + 200
    assert np.setdiff1d(seen.removed, blind.removed).size >= 10
    near = frame.depth.copy()
    near[middle] = 0.5 * frame.depth[middle]      # nearer than the wall: no removal at all
    assert compare_frame(base, detector_config, near, frame.camera,
                         frame.camera_to_world).removed_pixels <= blind.removed_pixels


def _turned(pose: np.ndarray, degrees: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    turned = pose.copy()
    turned[:3, :3] = Rotation.from_euler('z', degrees, degrees=True).as_matrix() @ pose[:3, :3]
    return turned


def test_pose_jitter_guard_keeps_a_misaligned_view_from_looking_like_removals(base):
    """With the pose 2 degrees off, object sides and slanted surfaces read farther than the
    memory says; the guard takes most of that away and keeps a real removal (the table)."""
    exact = ChangeDetectorConfig(pose_jitter_deg=0.0)
    guarded = ChangeDetectorConfig(pose_jitter_deg=2.0)
    spurious = {False: 0, True: 0}
    for frame in walk(apartment(), count=12, width=320, height=240):
        off = _turned(frame.camera_to_world, 2.0)
        for guard, config in ((False, exact), (True, guarded)):
            spurious[guard] += compare_frame(base, config, frame.depth, frame.camera,
                                             off).removed_pixels
    assert spurious[False] > 1000
    assert spurious[True] <= 0.05 * spurious[False], spurious
    real = 0
    for frame in walk(apartment(without_table=True), count=12, width=160, height=120):
        real += compare_frame(base, guarded, frame.depth, frame.camera,
                              frame.camera_to_world).removed.size
    assert real >= 10


@pytest.mark.parametrize('patch_frames', [1, 2])
def test_a_patch_seen_through_is_changed_after_patch_frames(base, patch_frames):
    """A far glimpse through a new doorway gives each voxel few pixels, but as one large
    patch: it is changed after ``patch_frames`` frames that see it. A pose 1 degree off gives
    no such patch."""
    detector_config = ChangeDetectorConfig(strong_cluster_voxels=32, patch_frames=patch_frames)
    frame = walk(apartment(), count=4, width=160, height=120, noise=0.0)[0]
    far = frame.depth.copy()
    far[40:80, 60:100] = detector_config.max_range + 2.0
    patches_off = replace(detector_config, strong_cluster_voxels=0)
    seen = compare_frame(base, detector_config, far, frame.camera, frame.camera_to_world)
    per_voxel = compare_frame(base, patches_off, far, frame.camera, frame.camera_to_world)
    patch_only = np.setdiff1d(seen.patch_removed, seen.strong_removed)
    assert patch_only.size >= 16
    assert np.isin(seen.patch_removed, seen.removed).all()
    assert np.array_equal(seen.removed, per_voxel.removed) and per_voxel.patch_removed.size == 0
    assert seen.agreement >= detector_config.min_agreement
    detector = ChangeDetector(base, detector_config)
    for step in range(patch_frames):
        detector.process(far, frame.camera, frame.camera_to_world, float(step))
        changed = detector.evidence.changed[False][patch_only]
        assert changed.all() if step == patch_frames - 1 else not changed.any()
    for frame in walk(apartment(), count=12, width=320, height=240):
        off = _turned(frame.camera_to_world, 1.0)
        assert compare_frame(base, detector_config, frame.depth, frame.camera,
                             off).patch_removed.size == 0


def test_a_frame_with_a_wrong_pose_takes_no_one_frame_shortcut(base):
    """Depth paired with another frame's pose disagrees with the memory almost everywhere: its
    strong voxels and patches count as ordinary evidence only (they must recur)."""
    config = ChangeDetectorConfig()
    frames = walk(apartment(), count=8, width=160, height=120, noise=0.0)
    exact = compare_frame(base, config, frames[0].depth, frames[0].camera,
                          frames[0].camera_to_world)
    assert exact.agreement > 0.9
    wrong_pose = frames[4].camera_to_world
    wrong = compare_frame(base, config, frames[0].depth, frames[0].camera, wrong_pose)
    assert wrong.agreement < config.min_agreement
    assert wrong.strong_removed.size + wrong.strong_added.size + wrong.patch_removed.size > 0
    detector = ChangeDetector(base, config)
    detector.process(frames[0].depth, frames[0].camera, wrong_pose, 0.0)
    assert detector.evidence.untrusted_frames == 1
    assert not detector.evidence.changed[False].any()
    assert not detector.evidence.changed[True].any()
    unchecked = ChangeDetector(base, replace(config, min_agreement=0.0))
    unchecked.process(frames[0].depth, frames[0].camera, wrong_pose, 0.0)
    assert unchecked.evidence.changed[False].any() or unchecked.evidence.changed[True].any()


@pytest.mark.parametrize('reach', [1, 2, 3])
def test_square_filter_is_scipys_min_and_max_filter(reach):
    rng = np.random.default_rng(reach)
    for shape in ((5, 7), (24, 32), (2, 40)):
        values = rng.normal(size=shape)
        flags = rng.random(shape) < 0.3
        size = 2 * reach + 1
        for image in (values, flags):
            assert np.array_equal(_square_filter(image, reach, np.maximum),
                                  ndimage.maximum_filter(image, size=size, mode='nearest'))
            assert np.array_equal(_square_filter(image, reach, np.minimum),
                                  ndimage.minimum_filter(image, size=size, mode='nearest'))


def test_small_holes_in_the_expected_depth_are_no_depth_edges(detector_config):
    """Gaps in the memory's surface (rays slipping through) must not read as object
    silhouettes; a large unknown region's rim still does."""
    from scenemem_ros.changes.evidence import _near_expected_edge

    camera = PinholeCamera.from_fov(160, 120, 60.0)
    expected = np.full((120, 160), 3.0, np.float32)
    expected[50:52, 70:72] = np.nan                 # a 2x2 gap in a wall
    expected[:, 120:] = np.nan                      # the unknown beyond the wall's end
    near = _near_expected_edge(expected, camera, detector_config, np.deg2rad(0.5))
    assert not near[40:62, 60:82].any()
    assert near[:, 118:120].all()
