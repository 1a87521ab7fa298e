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


def nearest_group(points: torch.Tensor, samples: torch.Tensor) -> torch.Tensor:
    """(N, 3) points, (A, S, 3) samples of A groups -> (N,) group of each point's nearest
    sample (exact; one k-d tree over all samples on the CPU, chunked distances elsewhere)."""
    flat = samples.detach().reshape(-1, 3)
    per_group = samples.shape[1]
    if points.device.type == 'cpu':
        tree = cKDTree(flat.double().numpy())
        index = tree.query(points.detach().double().numpy(), workers=1)[1]
        return torch.from_numpy(np.asarray(index, dtype=np.int64) // per_group)
    nearest = [torch.cdist(chunk, flat).argmin(dim=1) for chunk in points.detach().split(4096)]
    return torch.cat(nearest) // per_group


def prune_starved(output: SlotOutput, targets: FrameTargets, share: float,
                  threshold: float = 0.5) -> SlotOutput:
    """Switch off (existence 0) active slots that are the nearest active surface of fewer than
    ``share`` of each frame's target points. Returns a detached output."""
    output = output.detach()
    if share <= 0:
        return output
    existence = output.slots.existence.clone()
    batch, count = existence.shape
    for b in range(batch):
        active = torch.nonzero(existence[b] > threshold).squeeze(1)
        size = int(targets.lengths[b])
        if len(active) == 0 or size == 0:
            continue
        owner = active[nearest_group(targets.points[b, :size], output.samples[b, active])
                       .to(active.device)]
        owned = torch.bincount(owner, minlength=count).to(existence.dtype) / size
        starved = (owned < share) & (existence[b] > threshold)
        existence[b] = torch.where(starved, torch.zeros_like(existence[b]), existence[b])
    return output._replace(slots=output.slots._replace(existence=existence))
