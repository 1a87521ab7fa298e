"""The fixed icosphere and the prototype bank (blurred prototypes)."""

import numpy as np
import pytest
import torch

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.icosphere import barycentric_pattern, icosphere
from scenemem_ros.encoder.prototypes import PrototypeBank


@pytest.mark.parametrize('level', [0, 1, 2, 3])
def test_icosphere_counts_and_geometry(level):
    sphere = icosphere(level)
    assert sphere.vertices.shape == (10 * 4 ** level + 2, 3)
    assert sphere.faces.shape == (20 * 4 ** level, 3)
    assert sphere.edges.shape == (30 * 4 ** level, 2)
    np.testing.assert_allclose(np.linalg.norm(sphere.vertices, axis=1), 1.0, atol=1e-12)
    corners = sphere.vertices[sphere.faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert (np.einsum('fi,fi->f', normals, corners.mean(axis=1)) > 0).all()  # outward
    assert set(sphere.degrees.tolist()) <= {5, 6}
    for vertex in range(len(sphere.vertices)):
        listed = set(sphere.neighbours[vertex].tolist()) - {vertex}
        assert len(listed) == sphere.degrees[vertex]


def test_icosphere_is_cached_and_read_only():
    assert icosphere(2) is icosphere(2)
    with pytest.raises(ValueError):
        icosphere(2).vertices[0, 0] = 5.0
    with pytest.raises(EncoderError, match='level'):
        icosphere(7)


@pytest.mark.parametrize('count', [1, 3, 4, 6])
def test_barycentric_patterns_are_convex_weights(count):
    pattern = barycentric_pattern(count)
    assert pattern.shape == (count, 3)
    np.testing.assert_allclose(pattern.sum(axis=1), 1.0)
    assert (pattern > 0).all()


def test_sphere_is_fixed_and_offsets_are_learned():
    bank = PrototypeBank(4, level=2)
    assert bank.sphere.shape == (162, 3)
    assert not bank.sphere.requires_grad
    assert 'sphere' not in dict(bank.named_parameters())
    assert [name for name, _ in bank.named_parameters()] == ['offsets']
    assert bank.offsets.shape == (4, 162, 3)


def test_blend_of_one_hot_weights_is_that_prototype():
    bank = PrototypeBank(3, level=1)
    weights = torch.eye(3)
    np.testing.assert_allclose(bank.blend(weights).detach(), bank.shapes().detach(), atol=1e-6)
    with pytest.raises(EncoderError, match='weights'):
        bank.blend(torch.ones(2, 4))


def test_blurred_prototypes_give_every_prototype_a_gradient():
    bank = PrototypeBank(5, level=1)
    logits = torch.tensor([[4.0, 0.0, -1.0, -2.0, 0.5]])
    vertices = bank.blend(torch.softmax(logits, dim=-1))
    vertices.square().sum().backward()
    per_prototype = bank.offsets.grad.abs().sum(dim=(1, 2))
    assert (per_prototype > 0).all()


def test_regularisers_vanish_at_the_starting_shapes():
    bank = PrototypeBank(4, level=1)
    with torch.no_grad():
        bank.offsets.copy_(bank.initial_offsets)
    assert float(bank.laplacian_loss().detach()) == pytest.approx(0.0, abs=1e-12)
    assert float(bank.edge_loss().detach()) == pytest.approx(0.0, abs=1e-12)
    with torch.no_grad():
        bank.offsets.add_(torch.randn_like(bank.offsets) * 0.1)
    assert float(bank.laplacian_loss().detach()) > 0
    assert float(bank.edge_loss().detach()) > 0


def test_surface_points_are_vertices_then_face_samples():
    bank = PrototypeBank(2, level=1)
    vertices = bank.shapes().detach()
    points = bank.surface_points(vertices, 1)
    assert points.shape == (2, 42 + 80, 3)
    np.testing.assert_allclose(points[:, :42], vertices)
    np.testing.assert_allclose(points[:, 42:], vertices[:, bank.faces].mean(dim=2), atol=1e-6)
