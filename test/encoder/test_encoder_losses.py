"""Per-frame losses: named terms, the expected minimum, the front test, the share penalty."""

import itertools

import pytest
import torch
from encoder_test_support import TINY_MODEL

from scenemem_ros.encoder.config import EncoderLossConfig
from scenemem_ros.encoder.losses import (
    LOSS_KEYS,
    FrameTargets,
    ellipsoid_area,
    expected_minimum,
    frame_losses,
    free_space_depth,
    front_violation,
    make_targets,
    sample_depth_points,
)
from scenemem_ros.encoder.model import SlotEncoder


def test_expected_minimum_matches_enumerating_which_slots_exist():
    generator = torch.Generator().manual_seed(0)
    distances = torch.rand(1, 3, 4, generator=generator, dtype=torch.float64)
    existence = torch.rand(1, 4, generator=generator, dtype=torch.float64)
    miss = 2.0
    expected, ownership = expected_minimum(distances, existence, miss)
    for n in range(3):
        total = 0.0
        owners = torch.zeros(4, dtype=torch.float64)
        for alive in itertools.product([0, 1], repeat=4):
            probability = torch.prod(torch.where(torch.tensor(alive, dtype=torch.bool),
                                                 existence[0], 1 - existence[0]))
            present = [k for k in range(4) if alive[k]]
            if present:
                best = min(present, key=lambda k: float(distances[0, n, k]))
                total += probability * distances[0, n, best]
                owners[best] += probability
            else:
                total += probability * miss
        assert float(expected[0, n]) == pytest.approx(float(total))
        torch.testing.assert_close(ownership[0, n], owners)


def test_expected_minimum_gradcheck():
    generator = torch.Generator().manual_seed(1)
    distances = torch.rand(1, 5, 3, generator=generator, dtype=torch.float64,
                           requires_grad=True)
    existence = torch.rand(1, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d, e: expected_minimum(d, e, 1.5)[0],
                                    (distances, existence))


def test_sampled_depth_points_back_project_and_pad():
    depth = torch.full((2, 4, 5), float('nan'))
    depth[0, 1, 2] = 2.0
    depth[1] = 1.0
    intrinsics = torch.tensor([[2.0, 0, 2], [0, 2.0, 1.5], [0, 0, 1]]).expand(2, 3, 3)
    points, lengths = sample_depth_points(depth, intrinsics, 6)
    assert lengths.tolist() == [1, 6]
    torch.testing.assert_close(points[0, 0], torch.tensor([0.0, -0.5, 2.0]))
    assert (points[0, 1:] == 0).all()
    assert (points[1, :, 2] == 1.0).all()


def test_free_space_fills_single_dropouts_and_marks_no_returns():
    depth = torch.full((1, 5, 5), 2.0)
    depth[0, 2, 2] = float('nan')
    depth[0, :, 4] = float('nan')
    free = free_space_depth(depth, invalid_is_free=True, max_depth=9.0)
    assert float(free[0, 2, 2]) == 2.0
    assert float(free[0, 0, 4]) == 2.0  # next to valid pixels
    unknown = free_space_depth(torch.full((1, 3, 3), float('nan')), False, 9.0)
    assert torch.isnan(unknown).all()
    nothing = free_space_depth(torch.full((1, 3, 3), float('nan')), True, 9.0)
    assert (nothing == 9.0).all()


def test_front_violation_by_hand():
    free = torch.full((1, 3, 3), 2.0)
    intrinsics = torch.tensor([[[1.0, 0, 1], [0, 1.0, 1], [0, 0, 1]]])
    samples = torch.tensor([[[[0.0, 0.0, 1.0],     # centre pixel, 1 m in front
                              [0.0, 0.0, 1.99],    # within the margin
                              [0.0, 0.0, 3.0],     # behind the surface
                              [10.0, 0.0, 1.0],    # outside the image
                              [0.0, 0.0, -1.0]]]])  # behind the camera
    violation = front_violation(samples, free, intrinsics, margin=0.05)
    torch.testing.assert_close(violation[0, 0], torch.tensor([0.95, 0.0, 0.0, 0.0, 0.0]))


def _floor_depth(height: int = 120, width: int = 160, focal: float = 100.0):
    """A floor 1 m below a camera looking along it (y points down): depth 1 / ray slope."""
    intrinsics = torch.tensor([[[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]]],
                              dtype=torch.float64)
    slope = (torch.arange(height, dtype=torch.float64).view(-1, 1) - height / 2) / focal
    depth = torch.where(slope > 0, 1.0 / slope.clamp_min(1e-9), torch.tensor(float('nan')))
    return depth.expand(height, width).clamp(max=20.0).unsqueeze(0).contiguous(), intrinsics


def test_bilinear_front_lookup_points_a_grazing_sample_down_onto_the_floor():
    depth, intrinsics = _floor_depth()
    above_floor = torch.tensor([[[[0.1, 0.97, 5.0]]]], dtype=torch.float64, requires_grad=True)
    nearest = front_violation(above_floor, depth, intrinsics, 0.03, 'nearest')
    nearest.sum().backward()
    assert float(nearest.detach()) > 0
    # the pixel lookup only says "move away from the camera"
    torch.testing.assert_close(above_floor.grad, torch.tensor([[[[0.0, 0.0, -1.0]]]],
                                                             dtype=torch.float64))
    above_floor.grad = None
    bilinear = front_violation(above_floor, depth, intrinsics, 0.03, 'bilinear')
    bilinear.sum().backward()
    assert float(bilinear.detach()) > 0
    grad = above_floor.grad[0, 0, 0]
    # moving down (+y) onto the floor is now the steepest way out of the seen-free space
    assert float(grad[1]) < -1.0
    assert abs(float(grad[1])) > 10 * abs(float(grad[2]))


def test_bilinear_front_lookup_agrees_at_pixel_centres_and_falls_back_near_unknown_pixels():
    free = torch.full((1, 4, 4), 2.0, dtype=torch.float64)
    free[0, 0, 3] = float('nan')
    intrinsics = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1]]], dtype=torch.float64)
    samples = torch.tensor([[[[1.0, 1.0, 1.0],      # on pixel (1, 1): all neighbours known
                              [2.6, 0.0, 1.0],      # between pixels (0, 2) and (0, 3): unknown
                              [3.0, 3.0, 1.0]]]],   # last row and column: no 2 x 2 block
                           dtype=torch.float64)
    for lookup in ('nearest', 'bilinear'):
        violation = front_violation(samples, free, intrinsics, 0.05, lookup)
        # nearest pixel (0, 3) is unknown -> 0; the others fall back to the nearest pixel
        torch.testing.assert_close(violation[0, 0], torch.tensor([0.95, 0.0, 0.95],
                                                                 dtype=torch.float64))
    with pytest.raises(ValueError, match='front_lookup'):
        EncoderLossConfig(front_lookup='cubic')


def test_frame_losses_are_a_named_dict_of_finite_scalars(tiny_bank):
    torch.manual_seed(0)
    model = SlotEncoder(TINY_MODEL)
    config = EncoderLossConfig(depth_points=64)
    depth, intrinsics = tiny_bank.depth[:3], tiny_bank.intrinsics[:3]
    output = model(depth, intrinsics)
    targets = make_targets(depth, intrinsics, config, TINY_MODEL.max_depth,
                           torch.Generator().manual_seed(0))
    assert isinstance(targets, FrameTargets)
    losses = frame_losses(output, targets, config)
    assert tuple(losses) == LOSS_KEYS
    for key, value in losses.items():
        assert value.shape == (), key
        assert torch.isfinite(value), key
    losses['total'].backward()
    assert all(p.grad is not None for p in model.parameters())
    weighted = sum(getattr(config, f'{k}_weight') * float(losses[k].detach())
                   for k in LOSS_KEYS[:-1])
    assert float(losses['total'].detach()) == pytest.approx(weighted, rel=1e-5)


def test_a_slot_owning_no_points_is_pushed_to_stop_existing():
    config = EncoderLossConfig(min_point_share=0.2, surface_weight=0.0)
    model = SlotEncoder(TINY_MODEL)
    depth = torch.full((1, 24, 32), 2.0)
    intrinsics = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    output = model(depth, intrinsics)
    far = output.samples.detach().clone()
    far[:, 0] += 50.0  # slot 0 far from every point
    output = output._replace(samples=far, slots=output.slots._replace(
        existence=torch.full((1, TINY_MODEL.num_slots), 0.9, requires_grad=True)))
    targets = make_targets(depth, intrinsics, config, 10.0)
    losses = frame_losses(output, targets, config)
    losses['min_share'].backward()
    gradient = output.slots.existence.grad[0]
    assert gradient[0] > 0  # descending lowers slot 0's existence


def test_ellipsoid_area_of_a_sphere_and_a_flat_disc():
    assert float(ellipsoid_area(torch.tensor([2.0, 2.0, 2.0]))) == pytest.approx(
        4 * torch.pi * 4.0, rel=1e-4)
    # a flat disc of radius 1: both faces, 2 pi
    assert float(ellipsoid_area(torch.tensor([1.0, 1.0, 1e-6]))) == pytest.approx(
        2 * torch.pi, rel=0.02)


def test_area_weighting_counts_a_large_slot_in_front_more_than_a_small_one():
    """Two slots with the same samples in front of the depth: weighted by area, the front term
    grows with the larger slot's share; unweighted, it does not notice."""
    model = SlotEncoder(TINY_MODEL)
    depth = torch.full((1, 24, 32), 2.0)
    intrinsics = torch.tensor([[[30.0, 0, 15.5], [0, 30.0, 11.5], [0, 0, 1]]])
    output = model(depth, intrinsics)
    count = TINY_MODEL.num_slots
    samples = torch.zeros_like(output.samples)
    samples[..., 2] = 3.0                      # every slot behind the wall ...
    samples[:, 0, :, 2] = 1.0                  # ... but slot 0, 1 m in front of it
    existence = torch.full((1, count), 0.9)

    def front(scale_0: float, weighted: bool) -> float:
        scale = torch.full((1, count, 3), 0.2)
        scale[:, 0] = scale_0
        slots = output.slots._replace(scale=scale, existence=existence)
        config = EncoderLossConfig(front_area_weighted=weighted)
        targets = make_targets(depth, intrinsics, config, 10.0)
        return float(frame_losses(output._replace(samples=samples, slots=slots), targets,
                                  config)['front'])

    assert front(1.0, False) == pytest.approx(front(0.2, False))
    assert front(1.0, True) > 3 * front(0.2, True)
    assert front(0.2, True) == pytest.approx(front(0.2, False), rel=1e-5)
