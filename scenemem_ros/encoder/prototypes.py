"""The prototype bank: a fixed icosphere and P learned per-vertex offset fields.

A slot's local mesh is the sphere deformed by the softmax-weighted blend of the offsets
("blurred prototypes": every prototype gets a gradient from every slot in proportion to its
weight); the slot then scales, rotates and translates it (``encoder.slots``).
"""

from __future__ import annotations

import torch
from torch import nn

from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.icosphere import barycentric_pattern, icosphere

OFFSET_INIT_STD = 0.01
_SQRT_HALF = 0.5 ** 0.5
# Convex shapes the prototypes start from, as half-spaces n . x <= d around the origin; the
# sphere's vertices are pushed radially onto each shape's surface (the offsets stay learned).
_POLYTOPES: dict[str, list[tuple[tuple[float, float, float], float]]] = {
    'cube': [((1, 0, 0), 1), ((-1, 0, 0), 1), ((0, 1, 0), 1), ((0, -1, 0), 1),
             ((0, 0, 1), 1), ((0, 0, -1), 1)],
    'prism': [((0, 0, -1), 0.5), ((0, 0.894, 0.447), 0.447), ((0, -0.894, 0.447), 0.447),
              ((1, 0, 0), 1), ((-1, 0, 0), 1)],
    'pyramid': [((0, 0, -1), 0.5), ((0.894, 0, 0.447), 0.447), ((-0.894, 0, 0.447), 0.447),
                ((0, 0.894, 0.447), 0.447), ((0, -0.894, 0.447), 0.447)],
    'octahedron': [((sx * 0.577, sy * 0.577, sz * 0.577), 0.577) for sx in (-1, 1)
                   for sy in (-1, 1) for sz in (-1, 1)],
    'wedge': [((0, 0, -1), 1), ((0, -1, 0), 1), ((0, _SQRT_HALF, _SQRT_HALF), _SQRT_HALF),
              ((1, 0, 0), 1), ((-1, 0, 0), 1)],
}
INITIAL_SHAPES = ('sphere', 'cube', 'cylinder', 'prism', 'cube', 'pyramid', 'octahedron',
                  'wedge')


def initial_shape(name: str, directions: torch.Tensor) -> torch.Tensor:
    """(V, 3) unit directions -> (V, 3) points where the rays meet the surface of ``name``."""
    if name == 'sphere':
        return directions.clone()
    if name == 'cylinder':
        radial = directions[:, :2].norm(dim=1)
        reach = torch.maximum(radial, directions[:, 2].abs())
    else:
        normals = torch.tensor([n for n, _ in _POLYTOPES[name]], dtype=directions.dtype)
        limits = torch.tensor([d for _, d in _POLYTOPES[name]], dtype=directions.dtype)
        reach = (directions @ normals.T / limits).amax(dim=1)
    return directions / reach.clamp_min(1e-6).unsqueeze(1)


class PrototypeBank(nn.Module):
    """P prototype shapes over the fixed unit icosphere of ``level``.

    The offsets start as the sphere pushed onto simple convex shapes (``INITIAL_SHAPES``:
    sphere, cube, cylinder, prism, ...) plus a little noise, then are trained freely.

    Buffers (never trained): ``sphere`` (V, 3), ``faces`` (F, 3), ``edges`` (E, 2),
    ``neighbours`` (V, D), ``degrees`` (V,), ``initial_offsets`` (P, V, 3). Parameter:
    ``offsets`` (P, V, 3).
    """

    sphere: torch.Tensor
    initial_offsets: torch.Tensor
    faces: torch.Tensor
    edges: torch.Tensor
    neighbours: torch.Tensor
    degrees: torch.Tensor

    def __init__(self, num_prototypes: int, level: int = 2) -> None:
        super().__init__()
        if num_prototypes < 1:
            raise EncoderError(f'num_prototypes must be >= 1, got {num_prototypes!r}')
        sphere = icosphere(level)
        self.level = level
        self.register_buffer('sphere', torch.tensor(sphere.vertices, dtype=torch.float32))
        self.register_buffer('faces', torch.tensor(sphere.faces))
        self.register_buffer('edges', torch.tensor(sphere.edges))
        self.register_buffer('neighbours', torch.tensor(sphere.neighbours))
        self.register_buffer('degrees', torch.tensor(sphere.degrees))
        generator = torch.Generator().manual_seed(level * 1000 + num_prototypes)
        start = torch.stack([initial_shape(INITIAL_SHAPES[p % len(INITIAL_SHAPES)],
                                           self.sphere) - self.sphere
                             for p in range(num_prototypes)])
        noise = torch.randn(start.shape, generator=generator) * OFFSET_INIT_STD
        self.register_buffer('initial_offsets', start)
        self.offsets = nn.Parameter(start + noise)

    @property
    def num_prototypes(self) -> int:
        return int(self.offsets.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.sphere.shape[0])

    def shapes(self) -> torch.Tensor:
        """(P, V, 3) the prototype meshes' vertices (sphere plus each offset field)."""
        return self.sphere + self.offsets

    def blend(self, weights: torch.Tensor) -> torch.Tensor:
        """(..., P) prototype weights (rows summing to 1) -> (..., V, 3) local vertices."""
        if weights.shape[-1] != self.num_prototypes:
            raise EncoderError(f'weights must be (..., {self.num_prototypes}), '
                               f'got {tuple(weights.shape)}')
        offsets = torch.einsum('...p,pvc->...vc', weights, self.offsets)
        return self.sphere + offsets

    def laplacian_loss(self) -> torch.Tensor:
        """() mean squared uniform Laplacian of the learned deformation (offsets minus their
        starting shapes): smooth deformations."""
        field = self.offsets - self.initial_offsets
        gathered = field[:, self.neighbours]  # (P, V, D, 3), padded with the vertex itself
        padding = (self.neighbours.shape[1] - self.degrees).to(field.dtype)
        total = gathered.sum(dim=2) - padding[None, :, None] * field
        mean = total / self.degrees.to(field.dtype)[None, :, None]
        return ((field - mean) ** 2).sum(-1).mean()

    def edge_loss(self) -> torch.Tensor:
        """() mean squared relative change of the prototypes' edge lengths from those of their
        starting shapes (no stretched or collapsed triangles)."""
        shapes = self.shapes()
        rest = self.sphere + self.initial_offsets
        first, second = self.edges[:, 0], self.edges[:, 1]
        lengths = (shapes[:, first] - shapes[:, second]).norm(dim=-1)
        rest_lengths = (rest[:, first] - rest[:, second]).norm(dim=-1).clamp_min(1e-6)
        return (((lengths - rest_lengths) / rest_lengths) ** 2).mean()

    def surface_points(self, vertices: torch.Tensor, samples_per_face: int) -> torch.Tensor:
        """(..., V, 3) mesh vertices -> (..., V + F * S, 3) vertices then fixed barycentric
        samples of every face (S = ``samples_per_face``)."""
        pattern = torch.as_tensor(barycentric_pattern(samples_per_face), dtype=vertices.dtype,
                                  device=vertices.device)
        corners = vertices[..., self.faces, :]  # (..., F, 3, 3)
        samples = torch.einsum('sc,...fcd->...fsd', pattern, corners)
        samples = samples.reshape(*vertices.shape[:-2], -1, 3)
        return torch.cat([vertices, samples], dim=-2)
