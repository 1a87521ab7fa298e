"""Nearest neighbours for the Chamfer terms: against naive loops, and gradients in float64."""

import pytest
import torch

from scenemem_ros.encoder.chamfer import (
    gather_distances,
    mutual_nearest_indices,
    nearest_distances,
    point_to_group_distances,
    point_to_group_distances_naive,
)
from scenemem_ros.encoder.errors import EncoderError


@pytest.mark.parametrize('backend', ['torch', 'kdtree'])
def test_point_to_group_distances_match_a_naive_loop(device, backend):
    if backend == 'kdtree' and device.type != 'cpu':
        pytest.skip('the k-d tree backend is CPU only')
    generator = torch.Generator().manual_seed(0)
    points = (torch.randn(2, 37, 3, generator=generator) + 5.0).to(device)
    samples = (torch.randn(2, 4, 11, 3, generator=generator) + 5.0).to(device)
    fast = point_to_group_distances(points, samples, chunk_size=8, backend=backend)
    naive = point_to_group_distances_naive(points.cpu(), samples.cpu())
    assert fast.shape == (2, 37, 4)
    torch.testing.assert_close(fast.cpu(), naive, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('backend', ['torch', 'kdtree'])
def test_both_directions_agree_with_brute_force_and_skip_padding(backend):
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(2, 20, 3, generator=generator, dtype=torch.float64)
    samples = torch.randn(2, 3, 7, 3, generator=generator, dtype=torch.float64)
    lengths = torch.tensor([20, 9])
    to_samples, to_points = mutual_nearest_indices(points, lengths, samples, chunk_size=6,
                                                   backend=backend)
    for b in range(2):
        for k in range(3):
            pair = torch.cdist(points[b], samples[b, k])
            torch.testing.assert_close(to_samples[b, :, k], pair.argmin(dim=1))
        valid = points[b, :int(lengths[b])]
        expected = torch.cdist(samples[b].reshape(-1, 3), valid).argmin(dim=1)
        torch.testing.assert_close(to_points[b], expected)


def test_nearest_distances_ignore_padded_targets():
    queries = torch.zeros(1, 1, 3)
    targets = torch.tensor([[[1.0, 0, 0], [0.1, 0, 0]]])
    assert float(nearest_distances(queries, targets)) == pytest.approx(0.1)
    assert float(nearest_distances(queries, targets, torch.tensor([1]))) == pytest.approx(1.0)


@pytest.mark.parametrize('backend', ['torch', 'kdtree'])
def test_gradients_pass_gradcheck_in_float64(backend):
    generator = torch.Generator().manual_seed(2)
    points = torch.randn(1, 6, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    samples = torch.randn(1, 2, 5, 3, generator=generator, dtype=torch.float64,
                          requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda p, s: point_to_group_distances(p, s, chunk_size=4, backend=backend),
        (points, samples))
    flat = samples.detach().reshape(1, 10, 3).requires_grad_(True)

    def back(s, p):
        index = mutual_nearest_indices(p, None, s.reshape(1, 2, 5, 3), backend=backend)[1]
        return gather_distances(s, p, index)

    assert torch.autograd.gradcheck(back, (flat, points))


def test_gradient_equals_that_of_a_full_min():
    generator = torch.Generator().manual_seed(3)
    points = torch.randn(1, 9, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    samples = torch.randn(1, 3, 4, 3, generator=generator, dtype=torch.float64,
                          requires_grad=True)
    point_to_group_distances(points, samples).sum().backward()
    fast = points.grad.clone(), samples.grad.clone()
    points.grad = samples.grad = None
    point_to_group_distances_naive(points, samples).sum().backward()
    torch.testing.assert_close(fast[0], points.grad)
    torch.testing.assert_close(fast[1], samples.grad)


def test_bad_shapes_are_refused():
    with pytest.raises(EncoderError, match='points'):
        point_to_group_distances(torch.zeros(2, 3), torch.zeros(1, 1, 1, 3))
    with pytest.raises(EncoderError, match='samples'):
        point_to_group_distances(torch.zeros(1, 2, 3), torch.zeros(2, 1, 1, 3))
    with pytest.raises(EncoderError, match='backend'):
        mutual_nearest_indices(torch.zeros(1, 2, 3), None, torch.zeros(1, 1, 1, 3),
                               backend='faiss')
