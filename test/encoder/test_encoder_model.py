"""The slot encoder: input resampling, clusters and anchors, output shapes."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from encoder_test_support import TINY_MODEL

from scenemem_ros.encoder.config import SlotEncoderConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.model import (
    ANCHOR_SIZE,
    TRANSLATION_RESIDUAL,
    SlotEncoder,
    camera_vector,
    parameter_count,
    resample_depth,
    surface_normals,
)
from scenemem_ros.encoder.slots import matrix_to_euler
from scenemem_ros.geometry.camera import PinholeCamera, depth_to_points
from scenemem_ros.geometry.transforms import euler_to_matrix


def test_resampled_points_are_exact_back_projections():
    camera = PinholeCamera.from_fov(64, 48, 70.0)
    depth = torch.rand(1, 48, 64) * 3 + 1
    depth[0, 10, 20] = float('nan')
    intrinsics = torch.tensor(camera.matrix, dtype=torch.float32)[None]
    points, valid, rays = resample_depth(depth, intrinsics, 24, 32, max_depth=10.0)
    full = depth_to_points(depth, intrinsics)
    rows = ((torch.arange(24) + 0.5) * 2).long()
    cols = ((torch.arange(32) + 0.5) * 2).long()
    expected = full[0][rows][:, cols]
    mask = torch.isfinite(expected).all(-1)
    torch.testing.assert_close(points[0][mask], expected[mask])
    torch.testing.assert_close(valid[0], mask)
    torch.testing.assert_close(rays[0][..., 2], torch.ones(24, 32))


def test_output_shapes(device):
    torch.manual_seed(0)
    model = SlotEncoder(TINY_MODEL).to(device)
    depth = (torch.rand(3, 30, 40) * 4 + 0.5).to(device)
    intrinsics = torch.tensor([[30.0, 0, 19.5], [0, 30.0, 14.5], [0, 0, 1]],
                              device=device).expand(3, 3, 3)
    output = model(depth, intrinsics, samples_per_face=3)
    k, p = TINY_MODEL.num_slots, TINY_MODEL.num_prototypes
    vertices = 42  # icosphere level 1
    assert output.slots.scale.shape == (3, k, 3)
    assert output.slots.translation.shape == (3, k, 3)
    assert output.slots.rotation.shape == (3, k, 3)
    assert output.slots.prototype_logits.shape == (3, k, p)
    assert output.slots.existence.shape == (3, k)
    assert ((output.slots.existence > 0) & (output.slots.existence < 1)).all()
    assert output.anchors.shape == (3, k, ANCHOR_SIZE)
    assert output.vertices.shape == (3, k, vertices, 3)
    assert output.samples.shape == (3, k, vertices + 80 * 3, 3)
    assert output.raw.shape == (3, k, model.raw_size)
    assert (output.slots.scale >= TINY_MODEL.min_scale).all()
    assert (output.slots.scale <= TINY_MODEL.max_scale).all()


def test_zero_outputs_decode_to_the_cluster_anchor():
    model = SlotEncoder(TINY_MODEL)
    # a tilted plane z = 2 + 0.5 x seen by the whole image
    camera = PinholeCamera.from_fov(32, 24, 60.0)
    rays = camera.rays().numpy()
    depth = 2.0 / (1 - 0.5 * rays[..., 0])
    intrinsics = torch.tensor(camera.matrix, dtype=torch.float32)[None]
    encoder_input = model.prepare(torch.tensor(depth, dtype=torch.float32)[None], intrinsics)
    raw, anchors = model.predict(encoder_input)
    slots = model.decode(torch.zeros_like(raw), anchors)
    torch.testing.assert_close(slots.translation, anchors[..., :3])
    torch.testing.assert_close(slots.scale, anchors[..., 3:6], atol=1e-4, rtol=1e-3)
    rotation = euler_to_matrix(slots.rotation)
    normal = torch.tensor([-0.5, 0.0, 1.0]) / np.sqrt(1.25)
    # the slot's third axis is the plane normal, turned towards the camera
    torch.testing.assert_close(rotation[0, :, :, 2], -normal.expand(TINY_MODEL.num_slots, 3),
                               atol=1e-3, rtol=0)
    assert (slots.scale[0, :, 2] < slots.scale[0, :, 0]).all()  # flat along the normal


def test_anchor_frame_translation_moves_along_the_anchor_axes_in_units_of_its_extent():
    model = SlotEncoder(TINY_MODEL)
    assert TINY_MODEL.translation_frame == 'anchor'
    camera = PinholeCamera.from_fov(32, 24, 60.0)
    rays = camera.rays().numpy()
    depth = 2.0 / (1 - 0.5 * rays[..., 0])  # the tilted plane of the test above
    intrinsics = torch.tensor(camera.matrix, dtype=torch.float32)[None]
    raw, anchors = model.predict(model.prepare(torch.tensor(depth, dtype=torch.float32)[None],
                                               intrinsics))
    n = model.scale_outputs
    along_normal = torch.zeros_like(raw)
    along_normal[..., n + 2] = 1.0  # one unit along the third (normal) axis
    moved = model.decode(along_normal, anchors).translation - anchors[..., :3]
    axes = anchors[..., 6:15].reshape(*anchors.shape[:-1], 3, 3)
    extent = anchors[..., 5].clamp_min(TINY_MODEL.translation_floor)
    torch.testing.assert_close(moved, axes[..., :, 2] * extent.unsqueeze(-1))
    # a flat cluster's slot barely leaves its plane for a unit of output
    assert (moved.norm(dim=-1) < 0.1).all()
    camera_model = SlotEncoder(replace(TINY_MODEL, translation_frame='camera'))
    camera_model.load_state_dict(model.state_dict())
    moved = camera_model.decode(along_normal, anchors).translation - anchors[..., :3]
    torch.testing.assert_close(moved, torch.tensor([0.0, 0.0, TRANSLATION_RESIDUAL])
                               .expand_as(moved))


def test_surface_normals_of_a_tilted_plane_face_the_camera():
    camera = PinholeCamera.from_fov(32, 24, 60.0)
    rays = camera.rays().numpy()
    depth = torch.tensor(2.0 / (1 - 0.5 * rays[..., 0]), dtype=torch.float32)[None]
    points, valid, _ = resample_depth(depth, torch.tensor(camera.matrix,
                                                         dtype=torch.float32)[None], 24, 32, 10.0)
    normals = surface_normals(points, valid)
    known = normals.norm(dim=-1) > 0
    assert known.float().mean() > 0.5
    expected = -torch.tensor([-0.5, 0.0, 1.0]) / np.sqrt(1.25)
    torch.testing.assert_close(normals[known], expected.expand(int(known.sum()), 3), atol=1e-3,
                               rtol=0)


def crease_depth(camera: PinholeCamera) -> np.ndarray:
    """(H, W) depth of a floor 1 m below the camera meeting a wall 3 m ahead."""
    rays = camera.rays().numpy()
    with np.errstate(divide='ignore'):
        floor = np.where(rays[..., 1] > 0, 1.0 / rays[..., 1], np.inf)
    return np.minimum(floor, 3.0).astype(np.float32)


def crease_minority(weight: float) -> float:
    """Share of the crease scene's points that sit in a cluster whose majority is on the
    other surface (floor vs wall), with k-means on position + ``weight`` x normal."""
    camera = PinholeCamera.from_fov(64, 48, 70.0)
    model = SlotEncoder(replace(TINY_MODEL, slot_rows=6, slot_cols=8, input_height=48,
                                input_width=64, cluster_normal_weight=weight))
    depth = torch.tensor(crease_depth(camera))[None]
    encoder_input = model.prepare(depth, torch.tensor(camera.matrix, dtype=torch.float32)[None])
    _, _, assignment = model.cluster(encoder_input)
    on_wall = (encoder_input.points[0, ..., 2] > 2.99).reshape(-1).float()
    minority = 0.0
    for slot in assignment[0].unique():
        member = assignment[0] == slot
        if slot >= 0:
            wall = on_wall[member].mean()
            minority += float(torch.minimum(wall, 1 - wall)) * int(member.sum())
    return minority / int((assignment[0] >= 0).sum())


def test_clusters_with_normals_straddle_a_crease_less():
    plain, with_normals = crease_minority(0.0), crease_minority(0.5)
    assert plain > 0.02  # 3D k-means mixes floor and wall near the crease
    assert with_normals < 0.6 * plain


def test_matrix_to_euler_inverts_euler_to_matrix():
    generator = torch.Generator().manual_seed(0)
    angles = (torch.rand(200, 3, generator=generator) * 2 - 1) * torch.tensor([3.1, 1.5, 3.1])
    torch.testing.assert_close(matrix_to_euler(euler_to_matrix(angles)), angles, atol=1e-4,
                               rtol=0)


def test_camera_vector_is_gravity_in_the_camera_and_height():
    pose = torch.eye(4)[None].clone()
    pose[0, :3, :3] = torch.tensor([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # looks along +y
    pose[0, 2, 3] = 1.3
    torch.testing.assert_close(camera_vector(pose), torch.tensor([[0.0, 1.0, 0.0, 1.3]]))


def test_camera_vector_model_needs_a_pose():
    config = SlotEncoderConfig(**{**TINY_MODEL.__dict__, 'camera_vector': True})
    model = SlotEncoder(config)
    depth = torch.full((1, 24, 32), 2.0)
    intrinsics = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    with pytest.raises(EncoderError, match='camera vector'):
        model(depth, intrinsics)
    output = model(depth, intrinsics, torch.eye(4)[None])
    assert output.slots.existence.shape == (1, config.num_slots)


def test_default_model_is_small():
    assert parameter_count(SlotEncoder()) < 450_000  # < 2 MB of float32


@pytest.mark.parametrize('field, value', [('slot_rows', 0), ('icosphere_level', 9),
                                          ('channels', (8,)), ('min_scale', -1.0),
                                          ('initial_scale', 50.0),
                                          ('translation_frame', 'world'),
                                          ('translation_floor', 0.0),
                                          ('cluster_normal_weight', -1.0)])
def test_config_names_the_bad_field(field, value):
    with pytest.raises(EncoderError, match=field):
        SlotEncoderConfig(**{field: value})
