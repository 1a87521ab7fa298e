"""Optional test-time refinement: a few Adam steps on one frame's slot parameters.

The network's raw slot outputs (before decoding) are optimised against the frame's own losses
(Chamfer, minimum share, front, surface); the prototype bank and the network stay fixed. This
trades time for fidelity: the amortised prediction is one forward pass, refinement adds one
loss evaluation per step.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from scenemem_ros.encoder.config import EncoderLossConfig, RefineConfig
from scenemem_ros.encoder.losses import FrameTargets, frame_losses
from scenemem_ros.encoder.model import SlotEncoder, SlotOutput


def refine_slots(model: SlotEncoder, output: SlotOutput, targets: FrameTargets,
                 config: RefineConfig, loss_config: EncoderLossConfig) -> SlotOutput:
    """``SlotOutput`` of B frames -> the output after ``config.steps`` refinement steps
    (the same output when steps is 0). Returns detached tensors."""
    if config.steps == 0:
        return output.detach()
    raw = output.raw.detach().clone().requires_grad_(True)
    anchors = output.anchors.detach()
    optimizer = torch.optim.Adam([raw], lr=config.learning_rate)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        with torch.enable_grad():
            for _ in range(config.steps):
                current = model.meshes(raw, anchors, loss_config.samples_per_face)
                loss = frame_losses(current, targets, loss_config)['total']
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)
    with torch.no_grad():
        final = model.meshes(raw.detach(), anchors, loss_config.samples_per_face)
    return final.detach()


def nearest_index(points: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """(N, 3) points, (M, 3) samples -> (N,) index of each point's nearest sample (exact; a
    k-d tree on the CPU, chunked distances elsewhere)."""
    samples = samples.detach()
    if points.device.type == 'cpu':
        tree = cKDTree(samples.double().numpy())
        index = tree.query(points.detach().double().numpy(), workers=1)[1]
        return torch.from_numpy(np.asarray(index, dtype=np.int64))
    nearest = [torch.cdist(chunk, samples).argmin(dim=1) for chunk in points.detach().split(4096)]
    return torch.cat(nearest)


def nearest_group(points: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """(N, 3) points, (A, S, 3) samples of A groups -> (N,) group of each point's nearest
    sample (exact; one k-d tree over all samples on the CPU, chunked distances elsewhere)."""
    return nearest_index(points, samples.reshape(-1, 3)) // samples.shape[1]


def area_samples(vertices: torch.Tensor, faces: torch.Tensor, count: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, V, 3) meshes sharing (F, 3) faces -> (count, 3) points drawn uniformly by area over
    their union (barycentric sampling) and (count,) the mesh each came from. The torch
    counterpart of ``encoder.metrics.surface_samples`` (numpy, a density per square metre)."""
    corners = vertices[:, faces]  # (A, F, 3, 3)
    first, second, third = corners.unbind(dim=2)
    areas = 0.5 * torch.linalg.cross(second - first, third - first).norm(dim=-1)  # (A, F)
    weights = areas.reshape(-1).double().cpu()
    if not torch.isfinite(weights).all() or weights.sum() <= 0:
        weights = torch.ones_like(weights)
    chosen = torch.multinomial(weights, count, replacement=True, generator=generator)
    chosen = chosen.to(vertices.device)
    uniform = torch.rand(count, 2, generator=generator, dtype=vertices.dtype)
    uniform = uniform.to(vertices.device)
    root = uniform[:, 0].sqrt()
    a, b = (1 - root), root * (1 - uniform[:, 1])
    flat = corners.reshape(-1, 3, 3)[chosen]
    points = a[:, None] * flat[:, 0] + b[:, None] * flat[:, 1] \
        + (1 - a - b)[:, None] * flat[:, 2]
    return points, chosen // faces.shape[0]


def prune_starved(output: SlotOutput, targets: FrameTargets, share: float,
                  threshold: float = 0.5, faces: torch.Tensor | None = None,
                  surface_samples: int = 0) -> SlotOutput:
    """Switch off (existence 0) active slots that are the nearest active surface of fewer than
    ``share`` of each frame's target points. Returns a detached output.

    The surfaces are the output's mesh samples (a fixed number per slot), or, with ``faces``
    and ``surface_samples`` > 0, that many points drawn uniformly by area over the active
    meshes: then a large slot is not under-represented beside a small one, and ownership
    approximates what ``encoder.metrics`` counts (nearest of area-uniform samples; the metric
    also gives every slot at least 200 samples, this draw does not)."""
    output = output.detach()
    if share <= 0:
        return output
    existence = output.slots.existence.clone()
    batch, count = existence.shape
    generator = torch.Generator().manual_seed(0)
    for b in range(batch):
        active = torch.nonzero(existence[b] > threshold).squeeze(1)
        size = int(targets.lengths[b])
        if len(active) == 0 or size == 0:
            continue
        points = targets.points[b, :size]
        if faces is not None and surface_samples > 0:
            samples, group = area_samples(output.vertices[b, active], faces, surface_samples,
                                          generator)
            owner = active[group[nearest_index(points, samples)].to(active.device)]
        else:
            owner = active[nearest_group(points, output.samples[b, active])
                           .to(active.device)]
        owned = torch.bincount(owner, minlength=count).to(existence.dtype) / size
        starved = (owned < share) & (existence[b] > threshold)
        existence[b] = torch.where(starved, torch.zeros_like(existence[b]), existence[b])
    return output._replace(slots=output.slots._replace(existence=existence))
