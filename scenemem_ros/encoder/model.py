"""The slot encoder: depth + 3D position encoding -> small ResNet -> K slots.

Input: a depth map of any size with its intrinsics. It is resampled (nearest pixel, so no depth is
mixed across an edge) to ``input_height x input_width``; each kept pixel is back-projected to its
camera-frame 3D point, which is fed beside the validity mask as scaled coordinates and a
sinusoidal encoding (Video-3D LLM's position-aware input). A ResNet-style backbone of our own
(GroupNorm, so training and inference behave the same at any batch size) turns this into
features at 1/4 and 1/16 of the input resolution.

Slots come from the points themselves: K = ``slot_rows x slot_cols`` clusters start at the mean
point of each cell of an image grid and run ``cluster_iterations`` rounds of k-means on the 3D
point and its surface normal (weighted by ``cluster_normal_weight``): a non-learned slot
attention whose clusters do not straddle depth discontinuities and straddle creases less (a
cluster over a floor-wall crease has its mean in free space, in front of both). Each cluster's
mean, principal axes (the smallest one is the surface normal) and spread are its slot's
*anchor*: a slot whose head outputs are zero is a box-like prototype blend placed, oriented and
sized like its cluster. An MLP over (the cluster's pooled features, the global feature, the
cluster statistics and optionally a camera vector) predicts the residual translation, scale,
rotation, the prototype logits and the existence. Slots live in the camera frame.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from scenemem_ros.encoder.config import SlotEncoderConfig
from scenemem_ros.encoder.errors import EncoderError
from scenemem_ros.encoder.prototypes import PrototypeBank
from scenemem_ros.encoder.slots import Slots, matrix_to_euler, slot_vertices
from scenemem_ros.geometry.transforms import euler_to_matrix

CELL_STATS = 12  # mean (3), spread along the axes (3), normal (3), point share (1), centre (2)
ANCHOR_SIZE = 15  # point (3), starting scale (3), principal axes as a row-major 3x3 (9)
CAMERA_VECTOR_SIZE = 4  # gravity direction in the camera frame (3), camera height (1)
TRANSLATION_RESIDUAL = 0.5  # metres per unit of the raw translation output
ANGLE_LIMITS = (math.pi, math.pi / 2, math.pi)  # |yaw|, |pitch|, |roll| bounds (tanh)
SPREAD_TO_SCALE = 1.8  # ~sqrt(3): a uniform patch of half-width a has standard deviation a/sqrt(3)
EMPTY_CELL_DEPTH = 3.0  # anchor depth of a cluster without points
EXISTENCE_BIAS = 0.0


class EncoderInput(NamedTuple):
    """The CNN input at the model resolution: features (B, C, h, w), points (B, h, w, 3)
    camera frame (0 where invalid), valid (B, h, w) bool and rays (B, h, w, 3) with z = 1."""

    features: torch.Tensor
    points: torch.Tensor
    valid: torch.Tensor
    rays: torch.Tensor


class SlotOutput(NamedTuple):
    """Everything one forward pass makes.

    slots: the decoded ``Slots`` (B, K, ...); raw (B, K, D) head outputs; anchors
    (B, K, ANCHOR_SIZE) cluster anchors (what zero head outputs decode to); vertices
    (B, K, V, 3) camera-frame meshes; samples (B, K, S, 3) camera-frame surface points
    (vertices then barycentric face samples); laplacian () and edge () prototype regularisers.
    """

    def detach(self) -> SlotOutput:
        return SlotOutput(self.slots.detach(), self.raw.detach(), self.anchors.detach(),
                          self.vertices.detach(), self.samples.detach(),
                          self.laplacian.detach(), self.edge.detach())

    slots: Slots
    raw: torch.Tensor
    anchors: torch.Tensor
    vertices: torch.Tensor
    samples: torch.Tensor
    laplacian: torch.Tensor
    edge: torch.Tensor


def resample_depth(depth: torch.Tensor, intrinsics: torch.Tensor, height: int, width: int,
                   max_depth: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, H, W) depth, (B, 3, 3) K -> (B, h, w, 3) camera-frame points (0 where invalid),
    (B, h, w) valid mask and (B, h, w, 3) pixel rays (z = 1), taking the source pixel nearest
    each target pixel centre.

    Points are back-projected with the source pixel's own coordinates, so they are exact.
    """
    if depth.dim() != 3 or intrinsics.shape != (depth.shape[0], 3, 3):
        raise EncoderError(f'depth must be (B, H, W) and intrinsics (B, 3, 3), got '
                           f'{tuple(depth.shape)} and {tuple(intrinsics.shape)}')
    batch, source_h, source_w = depth.shape
    device, dtype = depth.device, depth.dtype
    rows = ((torch.arange(height, device=device) + 0.5) * source_h / height).long()
    cols = ((torch.arange(width, device=device) + 0.5) * source_w / width).long()
    z = depth[:, rows][:, :, cols]
    valid = torch.isfinite(z) & (z > 0) & (z <= max_depth)
    z = torch.where(valid, z, torch.zeros_like(z))
    k = intrinsics.to(dtype)
    u = cols.to(dtype).view(1, 1, width)
    v = rows.to(dtype).view(1, height, 1)
    ray_x = ((u - k[:, 0, 2].view(-1, 1, 1)) / k[:, 0, 0].view(-1, 1, 1)).expand(-1, height, -1)
    ray_y = ((v - k[:, 1, 2].view(-1, 1, 1)) / k[:, 1, 1].view(-1, 1, 1)).expand(-1, -1, width)
    rays = torch.stack([ray_x, ray_y, torch.ones_like(ray_x)], dim=-1)
    return rays * z.unsqueeze(-1), valid, rays


def camera_vector(camera_to_world: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) optical-to-world poses (world z up) -> (B, 4): the gravity direction in the
    camera frame and the camera height."""
    down_world = torch.tensor([0.0, 0.0, -1.0], device=camera_to_world.device,
                              dtype=camera_to_world.dtype)
    gravity = torch.einsum('bji,j->bi', camera_to_world[:, :3, :3], down_world)
    return torch.cat([gravity, camera_to_world[:, 2:3, 3]], dim=1)


def position_features(points: torch.Tensor, valid: torch.Tensor,
                      config: SlotEncoderConfig) -> torch.Tensor:
    """(B, h, w, 3) points, (B, h, w) valid -> (B, 4 + 6 F, h, w) input features: valid, the
    normalised coordinates and sin / cos of each coordinate at the F frequencies."""
    mask = valid.unsqueeze(-1).to(points.dtype)
    channels = [mask, points * (2.0 / config.max_depth)]
    for frequency in config.position_frequencies:
        channels += [torch.sin(points * frequency) * mask, torch.cos(points * frequency) * mask]
    return torch.cat(channels, dim=-1).permute(0, 3, 1, 2).contiguous()


def input_channels(config: SlotEncoderConfig) -> int:
    return 4 + 6 * len(config.position_frequencies)


def surface_normals(points: torch.Tensor, valid: torch.Tensor, smoothing: int = 5
                    ) -> torch.Tensor:
    """(B, h, w, 3) camera-frame points, (B, h, w) valid -> (B, h, w, 3) unit surface normals
    turned towards the camera (0 where unknown): the cross product of the central differences
    of the points box-filtered over ``smoothing`` x ``smoothing`` valid pixels (depth noise
    grows with range; the filter keeps far normals usable)."""
    mask = valid.to(points.dtype).unsqueeze(1)
    pad = smoothing // 2
    total = F.avg_pool2d(points.permute(0, 3, 1, 2) * mask, smoothing, 1, pad,
                         count_include_pad=False)
    support = F.avg_pool2d(mask, smoothing, 1, pad, count_include_pad=False)
    smooth = total / support.clamp_min(1e-6)  # (B, 3, h, w)
    across = F.pad(smooth[..., :, 2:] - smooth[..., :, :-2], (1, 1, 0, 0))
    down = F.pad(smooth[..., 2:, :] - smooth[..., :-2, :], (0, 0, 1, 1))
    normal = torch.cross(across, down, dim=1)
    length = normal.norm(dim=1, keepdim=True)
    normal = normal / length.clamp_min(1e-9)
    towards = (normal * smooth).sum(1, keepdim=True) > 0
    normal = torch.where(towards, -normal, normal)
    known = valid.unsqueeze(1) & (support > 0.99) & (length > 0)
    return torch.where(known, normal, torch.zeros_like(normal)).permute(0, 2, 3, 1)


def _nearest_centre(points: torch.Tensor, centres: torch.Tensor, alive: torch.Tensor
                    ) -> torch.Tensor:
    """(B, N, D) points, (B, K, D) centres, (B, K) alive -> (B, N) nearest alive centre."""
    squared = torch.baddbmm((centres * centres).sum(-1).unsqueeze(1), points,
                            centres.transpose(1, 2), alpha=-2.0)
    return squared.masked_fill_(~alive.unsqueeze(1), float('inf')).argmin(dim=-1)


def _cluster_means(points: torch.Tensor, valid: torch.Tensor, assignment: torch.Tensor,
                   centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the valid points of each cluster (empty clusters keep their centre) and
    (B, K) point counts."""
    weights = valid.to(points.dtype)
    counts = torch.zeros(centres.shape[:2], dtype=points.dtype, device=points.device)
    counts.scatter_add_(1, assignment, weights)
    sums = torch.zeros_like(centres).scatter_add_(
        1, assignment.unsqueeze(-1).expand(-1, -1, points.shape[-1]),
        points * weights.unsqueeze(-1))
    moved = sums / counts.clamp_min(1).unsqueeze(-1)
    return torch.where((counts > 0).unsqueeze(-1), moved, centres), counts


def _norm(channels: int) -> nn.GroupNorm:
    groups = math.gcd(channels, 8)
    return nn.GroupNorm(groups, channels)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convolutions with GroupNorm and a (projected) shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.norm1 = _norm(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.norm2 = _norm(outputs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False),
                                          _norm(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class Backbone(nn.Module):
    """Stem (stride 2) then one stride-2 stage per further entry of ``channels``."""

    def __init__(self, inputs: int, channels: tuple[int, ...], blocks: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(inputs, channels[0], 3, 2, 1, bias=False),
                                  _norm(channels[0]), nn.ReLU())
        stages = []
        previous = channels[0]
        for width in channels[1:]:
            layers = [BasicBlock(previous, width, 2)]
            layers += [BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            previous = width
        self.stages = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, h, w) -> (B, channels[1], h / 4, w / 4) features of the first stage and
        (B, channels[-1], h / 2**len(channels), ...) of the last."""
        x = self.stem(x)
        stages = list(self.stages)
        fine = stages[0](x)
        coarse = fine
        for stage in stages[1:]:
            coarse = stage(coarse)
        return fine, coarse


class SlotEncoder(nn.Module):
    """Depth map -> K slots and their meshes (see the module docstring)."""

    def __init__(self, config: SlotEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config or SlotEncoderConfig()
        c = self.config
        self.bank = PrototypeBank(c.num_prototypes, c.icosphere_level)
        self.backbone = Backbone(input_channels(c), c.channels, c.blocks_per_stage)
        width = c.channels[-1]
        head_inputs = (c.channels[1] + 2 * width + CELL_STATS
                       + (CAMERA_VECTOR_SIZE if c.camera_vector else 0))
        self.scale_outputs = 3 if c.per_axis_scale else 1
        self.raw_size = self.scale_outputs + 6 + c.num_prototypes + 1
        self.head = nn.Sequential(nn.Linear(head_inputs, c.head_hidden), nn.ReLU(),
                                  nn.Linear(c.head_hidden, c.head_hidden), nn.ReLU(),
                                  nn.Linear(c.head_hidden, self.raw_size))
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(0.05)
            last.bias.zero_()

    @property
    def num_slots(self) -> int:
        return self.config.num_slots

    def prepare(self, depth: torch.Tensor, intrinsics: torch.Tensor) -> EncoderInput:
        """(B, H, W) depth metres (NaN / <= 0 invalid), (B, 3, 3) K -> ``EncoderInput``."""
        c = self.config
        points, valid, rays = resample_depth(depth, intrinsics, c.input_height, c.input_width,
                                             c.max_depth)
        return EncoderInput(position_features(points, valid, c), points, valid, rays)

    def cluster(self, encoder_input: EncoderInput
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``EncoderInput`` -> (B, K, ANCHOR_SIZE) anchors, (B, K, CELL_STATS) statistics and
        (B, h * w) int64 cluster of every pixel (-1: invalid).

        Clusters start as the grid cells' mean points (cells without depth stay empty) and run
        ``cluster_iterations`` rounds of k-means on the 3D points, extended by
        ``cluster_normal_weight`` times their surface normals. An anchor is its cluster's
        mean, principal axes (largest spread first; the third, the surface normal, turned
        towards the camera) and SPREAD_TO_SCALE times the standard deviation along each axis;
        an empty cluster anchors on its cell's mean ray at EMPTY_CELL_DEPTH, camera-aligned,
        with ``initial_scale``.
        """
        c = self.config
        grid = (c.slot_rows, c.slot_cols)
        count = c.num_slots
        with torch.no_grad():
            points = encoder_input.points
            batch, height, width = points.shape[:3]
            dtype, device = points.dtype, points.device
            features = points
            if c.cluster_normal_weight > 0:
                normals = surface_normals(points, encoder_input.valid)
                features = torch.cat([points, c.cluster_normal_weight * normals], dim=-1)
            size = features.shape[-1]
            mask = encoder_input.valid.to(dtype).unsqueeze(1)
            share = F.adaptive_avg_pool2d(mask, grid).flatten(1)  # (B, K)
            centres = F.adaptive_avg_pool2d(features.permute(0, 3, 1, 2) * mask, grid)
            centres = centres.flatten(2).transpose(1, 2) / share.clamp_min(1e-6).unsqueeze(-1)
            alive = share > 0
            flat = points.reshape(batch, -1, 3)
            valid = encoder_input.valid.reshape(batch, -1)
            # k-means rounds on every other row and column, then one full assignment
            coarse_features = features[:, ::2, ::2].reshape(batch, -1, size)
            coarse_valid = encoder_input.valid[:, ::2, ::2].reshape(batch, -1)
            for _ in range(c.cluster_iterations):
                nearest = _nearest_centre(coarse_features, centres, alive)
                centres, counts = _cluster_means(coarse_features, coarse_valid, nearest, centres)
                alive = counts > 0
            assignment = _nearest_centre(features.reshape(batch, -1, size), centres, alive)
            centres, counts = _cluster_means(flat, valid, assignment, centres[..., :3])
            assignment = torch.where(valid, assignment, torch.full_like(assignment, -1))
            x, y, z = flat.unbind(-1)
            products = torch.stack([x * x, y * y, z * z, x * y, x * z, y * z], dim=-1)
            second = torch.zeros(batch, count, 6, dtype=dtype, device=device)
            second.scatter_add_(1, assignment.clamp_min(0).unsqueeze(-1).expand(-1, -1, 6),
                                products * valid.to(dtype).unsqueeze(-1))
            second = second / counts.clamp_min(1).unsqueeze(-1)
            mean = centres
            xx, yy, zz, xy, xz, yz = second.unbind(-1)
            covariance = torch.stack([torch.stack([xx, xy, xz], -1),
                                      torch.stack([xy, yy, yz], -1),
                                      torch.stack([xz, yz, zz], -1)], -2) \
                - mean.unsqueeze(-1) * mean.unsqueeze(-2)
            eye = torch.eye(3, dtype=dtype, device=device)
            variance, axes = torch.linalg.eigh(covariance.double() + eye.double() * 1e-9)
            variance, axes = variance.to(dtype), axes.to(dtype)
            first, normal = axes[..., 2], axes[..., 0]
            flip = 1 - 2 * ((normal * mean).sum(-1, keepdim=True) > 0).to(dtype)
            normal = normal * flip
            rotation = torch.stack([first, torch.cross(normal, first, dim=-1), normal], dim=-1)
            sigma = variance.flip(-1).clamp_min(0).sqrt()  # along first, second, normal
            empty = (counts <= 0).unsqueeze(-1)
            rays = F.adaptive_avg_pool2d(encoder_input.rays.permute(0, 3, 1, 2), grid)
            mean = torch.where(empty, rays.flatten(2).transpose(1, 2) * EMPTY_CELL_DEPTH, mean)
            rotation = torch.where(empty.unsqueeze(-1), eye.expand_as(rotation), rotation)
            sigma = torch.where(empty, torch.zeros_like(sigma), sigma)
            normal = torch.where(empty, torch.zeros_like(normal), normal)
            scale = (sigma * SPREAD_TO_SCALE).clamp(c.min_scale * 2, c.max_scale * 0.5)
            scale = torch.where(empty, torch.full_like(scale, c.initial_scale), scale)
            if not c.per_axis_scale:
                scale = scale.amax(dim=-1, keepdim=True).expand_as(scale)
            anchors = torch.cat([mean, scale, rotation.flatten(-2)], dim=-1)
            v = (torch.arange(c.slot_rows, device=device, dtype=dtype) + 0.5) / c.slot_rows
            u = (torch.arange(c.slot_cols, device=device, dtype=dtype) + 0.5) / c.slot_cols
            centre_v, centre_u = torch.meshgrid(v, u, indexing='ij')
            norm = 2.0 / c.max_depth
            stats = torch.cat([mean * norm, sigma * norm, normal,
                               (counts / (height * width)).unsqueeze(-1),
                               centre_u.reshape(1, -1, 1).expand(batch, -1, -1),
                               centre_v.reshape(1, -1, 1).expand(batch, -1, -1)], dim=-1)
        return anchors, stats, assignment

    def predict(self, encoder_input: EncoderInput, camera: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``EncoderInput`` (+ (B, 4) camera vector) -> (B, K, D) raw outputs and
        (B, K, ANCHOR_SIZE) anchors."""
        c = self.config
        fine, coarse = self.backbone(encoder_input.features)
        anchors, stats, assignment = self.cluster(encoder_input)
        batch, count = anchors.shape[:2]
        height, width = encoder_input.points.shape[1:3]
        with torch.no_grad():
            one_hot = torch.zeros(batch, count + 1, height * width, dtype=fine.dtype,
                                  device=fine.device)
            one_hot.scatter_(1, (assignment + 1).unsqueeze(1), 1.0)
            one_hot = one_hot[:, 1:].reshape(batch, count, height, width)
            weights = F.adaptive_avg_pool2d(one_hot, fine.shape[-2:])  # (B, K, h4, w4)
            weights = weights / weights.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        upsampled = F.interpolate(coarse, size=fine.shape[-2:], mode='bilinear',
                                  align_corners=False)
        fused = torch.cat([fine, upsampled], dim=1)  # (B, C1 + C3, h4, w4)
        slot_features = torch.einsum('bkhw,bchw->bkc', weights, fused)
        pooled = coarse.mean(dim=(2, 3)).unsqueeze(1).expand(-1, count, -1)
        parts = [slot_features, pooled, stats]
        if c.camera_vector:
            if camera is None:
                raise EncoderError('this encoder takes a camera vector: pass camera_to_world')
            parts.append(camera.to(fine).unsqueeze(1).expand(-1, count, -1))
        return self.head(torch.cat(parts, dim=-1)), anchors

    def decode(self, raw: torch.Tensor, anchors: torch.Tensor) -> Slots:
        """(B, K, D) raw outputs, (B, K, ANCHOR_SIZE) anchors -> ``Slots``.

        scale = min + (max - min) * sigmoid(raw + b), with b such that raw = 0 gives the
        anchor's scale; rotation = anchor axes @ R(limits * tanh(raw)), returned as yaw, pitch,
        roll; translation = anchor point + axes @ (max(anchor scale, floor) * raw) with
        ``translation_frame`` 'anchor', anchor point + TRANSLATION_RESIDUAL * raw with 'camera'.
        """
        c = self.config
        n = self.scale_outputs
        span = c.max_scale - c.min_scale
        start = anchors[..., 3:6] if n == 3 else anchors[..., 3:4]
        bias = torch.logit(((start - c.min_scale) / span).clamp(1e-4, 1 - 1e-4))
        scale = c.min_scale + span * torch.sigmoid(raw[..., :n] + bias)
        if n == 1:
            scale = scale.expand(*scale.shape[:-1], 3)
        axes = anchors[..., 6:15].reshape(*anchors.shape[:-1], 3, 3)
        shift = raw[..., n:n + 3]
        if c.translation_frame == 'anchor':
            extent = anchors[..., 3:6].clamp_min(c.translation_floor)
            shift = (axes @ (extent * shift).unsqueeze(-1)).squeeze(-1)
        else:
            shift = TRANSLATION_RESIDUAL * shift
        translation = anchors[..., :3] + shift
        limits = torch.tensor(ANGLE_LIMITS, dtype=raw.dtype, device=raw.device)
        residual = euler_to_matrix(limits * torch.tanh(raw[..., n + 3:n + 6]))
        rotation = matrix_to_euler(axes @ residual)
        logits = raw[..., n + 6:n + 6 + c.num_prototypes]
        existence = torch.sigmoid(raw[..., -1] + EXISTENCE_BIAS)
        return Slots(scale, translation, rotation, logits, existence)

    def meshes(self, raw: torch.Tensor, anchors: torch.Tensor, samples_per_face: int = 1
               ) -> SlotOutput:
        """Decode raw outputs and build the meshes, surface samples and regularisers."""
        slots = self.decode(raw, anchors)
        vertices = slot_vertices(slots, self.bank)
        samples = self.bank.surface_points(vertices, samples_per_face)
        return SlotOutput(slots, raw, anchors, vertices, samples, self.bank.laplacian_loss(),
                          self.bank.edge_loss())

    def forward(self, depth: torch.Tensor, intrinsics: torch.Tensor,
                camera_to_world: torch.Tensor | None = None,
                samples_per_face: int = 1) -> SlotOutput:
        """(B, H, W) depth, (B, 3, 3) K, optional (B, 4, 4) pose -> ``SlotOutput``."""
        camera = camera_vector(camera_to_world) if camera_to_world is not None else None
        raw, anchors = self.predict(self.prepare(depth, intrinsics), camera)
        return self.meshes(raw, anchors, samples_per_face)


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
