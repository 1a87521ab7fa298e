"""The change detector's API: EncoderSession / encode_frame -> SlotSet -> slots_to_boxes."""

import numpy as np
import pytest
import torch
from encoder_test_support import TINY_MODEL, tiny_config

from scenemem_ros.encoder import EncoderSession, SlotSet, encode_frame, slots_to_boxes
from scenemem_ros.encoder.checkpoint import save_encoder
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.model import SlotEncoder
from scenemem_ros.geometry.transforms import euler_to_matrix, look_at


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('session') / 'encoder.npz'
    save_encoder(SlotEncoder(TINY_MODEL), tiny_config(), path)
    return path


def frame(tiny_clips, index=0):
    shot = tiny_clips[0].frames[index]
    return shot.depth, shot.camera, shot.camera_to_world


def test_slot_set_is_in_the_world_frame(checkpoint, tiny_clips):
    depth, camera, pose = frame(tiny_clips)
    session = EncoderSession(checkpoint, track=False)
    local = session.encode_frame(depth, camera, np.eye(4))
    moved = session.encode_frame(depth, camera, pose)
    k = TINY_MODEL.num_slots
    assert isinstance(moved, SlotSet) and len(moved) == k
    assert moved.centres.shape == (k, 3) and moved.half_extents.shape == (k, 3)
    assert moved.rotations.shape == (k, 3, 3) and moved.yaw.shape == (k,)
    assert moved.vertices.shape == (k, 42, 3) and moved.faces.shape == (80, 3)
    assert moved.prototype.dtype == np.int64 and moved.ids.tolist() == list(range(k))
    np.testing.assert_allclose(moved.centres, local.centres @ pose[:3, :3].T + pose[:3, 3],
                               atol=1e-5)
    np.testing.assert_allclose(moved.rotations, pose[:3, :3] @ local.rotations, atol=1e-6)
    np.testing.assert_allclose(moved.vertices, local.vertices @ pose[:3, :3].T + pose[:3, 3],
                               atol=1e-5)
    # the box holds the mesh: every vertex is inside the oriented box (slot axes)
    inside = np.einsum('kji,kvj->kvi', moved.rotations,
                       moved.vertices - moved.centres[:, None])
    assert (np.abs(inside) <= moved.half_extents[:, None] + 1e-5).all()
    yaw_only = euler_to_matrix(torch.tensor(np.stack([moved.yaw, 0 * moved.yaw,
                                                      0 * moved.yaw], 1)))
    np.testing.assert_allclose(np.arctan2(yaw_only[:, 1, 0].numpy(), yaw_only[:, 0, 0].numpy()),
                               moved.yaw,
                               atol=1e-6)


def test_boxes_are_the_active_slots(checkpoint, tiny_clips):
    depth, camera, pose = frame(tiny_clips)
    slot_set = EncoderSession(checkpoint).encode_frame(depth, camera, pose)
    boxes = slots_to_boxes(slot_set, threshold=0.0)
    assert len(boxes) == len(slot_set)
    box = boxes[0]
    assert box.centre.shape == (3,) and box.half_extents.shape == (3,)
    assert np.linalg.norm(box.orientation_xyzw) == pytest.approx(1.0)
    assert isinstance(box.prototype, int) and 0 <= box.existence <= 1
    assert slots_to_boxes(slot_set, threshold=1.0) == []


def test_identities_persist_across_frames(checkpoint, tiny_clips):
    depth, camera, pose = frame(tiny_clips)
    session = EncoderSession(checkpoint)
    first = session.encode_frame(depth, camera, pose)
    second = session.encode_frame(depth, camera, pose)
    active = first.existence > 0.5
    np.testing.assert_array_equal(first.ids[active], second.ids[active])
    assert (first.ids[~active] == -1).all()
    session.reset()
    third = session.encode_frame(depth, camera, pose)
    np.testing.assert_array_equal(np.sort(third.ids[active]), np.arange(active.sum()))


def test_module_level_encode_frame_and_refinement(checkpoint, tiny_clips):
    depth, camera, pose = frame(tiny_clips)
    amortised = encode_frame(depth, camera, pose, checkpoint=checkpoint)
    refined = EncoderSession(checkpoint, refine_steps=3).encode_frame(depth, camera, pose)
    assert len(amortised) == len(refined)
    assert not np.allclose(amortised.vertices, refined.vertices)


def test_bad_inputs_are_refused(checkpoint, tiny_clips):
    depth, camera, pose = frame(tiny_clips)
    session = EncoderSession(checkpoint)
    with pytest.raises(EncoderError, match='does not match the camera'):
        session.encode_frame(depth[:-1], camera, pose)
    with pytest.raises(EncoderError, match='camera_to_world'):
        session.encode_frame(depth, camera, np.eye(3))
    with pytest.raises(EncoderError, match='camera_to_world'):
        session.encode_frame(depth, camera, look_at([0, 0, 0], [1, 0, 0]) * np.nan)


def test_starved_slots_are_pruned():
    from scenemem_ros.encoder.losses import FrameTargets
    from scenemem_ros.encoder.refine import prune_starved
    from scenemem_ros.encoder.slots import Slots

    points = torch.zeros(1, 100, 3)
    points[0, :, 2] = 2.0
    points[0, :99, 0] = torch.linspace(-1, 1, 99)
    points[0, 99] = torch.tensor([5.0, 0.0, 2.0])  # one point near slot 1
    samples = torch.zeros(1, 3, 4, 3)
    samples[0, 0, :, 0] = torch.linspace(-1, 1, 4)
    samples[0, 0, :, 2] = 2.0
    samples[0, 1] = torch.tensor([5.0, 0.0, 2.0])
    samples[0, 2] = torch.tensor([50.0, 0.0, 2.0])  # owns nothing
    existence = torch.tensor([[0.9, 0.9, 0.9]])
    zeros = torch.zeros(1, 3, 3)
    slots = Slots(zeros, zeros, zeros, torch.zeros(1, 3, 2), existence)
    output = SlotEncoder(TINY_MODEL)(torch.full((1, 24, 32), 2.0),
                                     torch.eye(3)[None])._replace(slots=slots, samples=samples)
    targets = FrameTargets(points, torch.tensor([100]), torch.zeros(1, 2, 2), torch.eye(3)[None])
    pruned = prune_starved(output, targets, share=0.005)
    assert pruned.slots.existence[0].tolist() == pytest.approx([0.9, 0.9, 0.0])
    pruned = prune_starved(output, targets, share=0.02)
    assert pruned.slots.existence[0].tolist() == pytest.approx([0.9, 0.0, 0.0])


def test_nearest_group_is_the_group_of_the_nearest_sample():
    from scenemem_ros.encoder.refine import nearest_group

    generator = torch.Generator().manual_seed(3)
    points = torch.randn(500, 3, generator=generator)
    samples = torch.randn(7, 40, 3, generator=generator) * 2
    brute = (points[:, None, None, :] - samples[None]).norm(dim=-1).amin(dim=2).argmin(dim=1)
    assert torch.equal(nearest_group(points, samples), brute)


def test_area_samples_follow_the_area_of_each_mesh():
    from scenemem_ros.encoder.icosphere import icosphere
    from scenemem_ros.encoder.refine import area_samples

    sphere = icosphere(1)
    vertices = torch.as_tensor(sphere.vertices, dtype=torch.float32)
    faces = torch.as_tensor(sphere.faces, dtype=torch.long)
    meshes = torch.stack([vertices, 2 * vertices + torch.tensor([5.0, 0, 0])])  # 4x the area
    points, owner = area_samples(meshes, faces, 20000, torch.Generator().manual_seed(1))
    assert points.shape == (20000, 3) and owner.shape == (20000,)
    assert (owner == 1).sum().item() / (owner == 0).sum().item() == pytest.approx(4.0, rel=0.1)
    radius = (points - torch.tensor([5.0, 0, 0]) * owner[:, None]).norm(dim=1) / (1 + owner)
    assert radius.max() <= 1.0 + 1e-5 and radius.min() > 0.7  # on the faces, inside the sphere


def test_area_ownership_does_not_favour_densely_sampled_small_slots():
    """A large slot sampled as sparsely as a small one loses points it is nearest to; area
    sampling gives them back (what encoder.metrics counts)."""
    from scenemem_ros.encoder.losses import FrameTargets
    from scenemem_ros.encoder.refine import prune_starved
    from scenemem_ros.encoder.slots import Slots

    # slot 0: a big square (two triangles) at z = 2; slot 1: a tiny triangle at its corner
    big = torch.tensor([[-1.0, -1, 2], [1, -1, 2], [1, 1, 2], [-1, 1, 2]])
    small = torch.tensor([[0.9, 0.9, 2.0], [0.95, 0.9, 2.0], [0.9, 0.95, 2.0], [0.9, 0.9, 2.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    vertices = torch.stack([big, small])[None]  # (1, 2, 4, 3)
    samples = vertices.clone()  # the meshes' own samples: their 4 corners each
    grid = torch.linspace(-0.99, 0.99, 60)
    xs, ys = torch.meshgrid(grid, grid, indexing='ij')
    points = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.full((3600,), 2.0)], 1)[None]
    existence = torch.tensor([[0.9, 0.9]])
    zeros = torch.zeros(1, 2, 3)
    slots = Slots(zeros, zeros, zeros, torch.zeros(1, 2, 2), existence)
    output = SlotEncoder(TINY_MODEL)(torch.full((1, 24, 32), 2.0), torch.eye(3)[None])._replace(
        slots=slots, samples=samples, vertices=vertices)
    targets = FrameTargets(points, torch.tensor([3600]), torch.zeros(1, 2, 2), torch.eye(3)[None])
    by_corners = prune_starved(output, targets, share=0.01)
    assert by_corners.slots.existence[0].tolist() == pytest.approx([0.9, 0.9])
    by_area = prune_starved(output, targets, share=0.01, faces=faces, surface_samples=4000)
    assert by_area.slots.existence[0].tolist() == pytest.approx([0.9, 0.0])
