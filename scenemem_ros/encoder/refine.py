"""Optional test-time refinement: a few Adam steps on one frame's slot parameters.

The network's raw slot outputs (before decoding) are optimised against the frame's own losses
(Chamfer, minimum share, front, surface); the prototype bank and the network stay fixed. This
trades time for fidelity: the amortised prediction is one forward pass, refinement adds one
loss evaluation per step.
"""

from __future__ import annotations

import torch

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
