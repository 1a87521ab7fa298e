"""Back-end of ``scenemem eval encoder``: fidelity, speed and identity on held-out frames.

Held-out synthetic frames (seeds from ``first_seed``, disjoint from training's) are rendered at
320x240 with noise; every frame is encoded amortised (one forward pass, the default) and with
test-time refinement, and scored with ``encoder.metrics.evaluate_frame`` (definitions there).
Figures are means over frames of the per-frame values (the Chamfer median is the mean of
per-frame medians). Frames per second time ``EncoderSession.encode_frame`` (preprocessing,
network, meshes, world transform) on the CPU, and on CUDA when one is present. Identity
consistency runs the session's tracker over held-out clips with ground-truth instance ids.
The Middlebury "Motorcycle" depth (real, scikit-image) is scored the same way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenemem_ros.data.frame import Frame
from scenemem_ros.encoder.metrics import FrameMetrics, evaluate_frame, noise_floor_front_share
from scenemem_ros.encoder.model import parameter_count
from scenemem_ros.encoder.sequence import identity_consistency, slot_labels
from scenemem_ros.encoder.session import EncoderSession, default_model_path
from scenemem_ros.training.encoder_data import (
    Clip,
    SyntheticSpec,
    motorcycle_frame,
    synthetic_clips,
)

HELD_OUT_FIRST_SEED = 100000
TIMING_REPEATS = 3


def _summary(metrics: list[FrameMetrics], seconds: list[float]) -> dict[str, Any]:
    def mean(name: str) -> float:
        return float(np.mean([getattr(m, name) for m in metrics]))

    true = [m.front_share_true for m in metrics if np.isfinite(m.front_share_true)]
    return {
        'chamfer_l1_mean_cm': 100 * mean('chamfer_mean'),
        'chamfer_l1_median_cm': 100 * mean('chamfer_median'),
        'fscore_5cm': mean('fscore'),
        'fscore_5cm_visible': mean('fscore_visible'),
        'recall_5cm': mean('recall'),
        'precision_5cm': mean('precision'),
        'precision_5cm_visible': mean('precision_visible'),
        'front_surface_share': mean('front_share'),
        'front_off_surface_share': mean('front_off_surface_share'),
        'front_surface_share_true': float(np.mean(true)) if true else None,
        'active_slots': mean('active_slots'),
        'min_points_per_active_slot_per_2048': float(min(m.min_points_per_2048
                                                        for m in metrics)),
        'starved_active_slots': int(sum(m.starved_slots for m in metrics)),
        'ms_per_frame': 1000 * float(np.median(seconds)),
        'frames': len(metrics),
    }


def _score(session: EncoderSession, frame: Frame, refine_steps: int,
           true_depth: np.ndarray | None = None) -> tuple[FrameMetrics, float, Any]:
    assert frame.depth is not None
    times = []
    output = None
    repeats = TIMING_REPEATS if refine_steps == 0 else 1
    for _ in range(repeats):
        started = time.perf_counter()
        output = session.predict(frame.depth, frame.camera, frame.camera_to_world,
                                 refine_steps=refine_steps)
        times.append(time.perf_counter() - started)
    assert output is not None
    metrics = evaluate_frame(frame.depth, frame.camera, output.vertices[0].cpu().numpy(),
                             session.model.bank.faces.cpu().numpy(),
                             output.slots.existence[0].cpu().numpy(),
                             threshold=session.config.loss.active_threshold,
                             max_depth=session.model.config.max_depth, true_depth=true_depth)
    return metrics, float(np.min(times)), output


def _fps(session_path: Path, frames: list[Frame], device: str, threads: int | None) -> float:
    session = EncoderSession(session_path, device=device, refine_steps=0, threads=threads,
                             track=False)
    assert frames[0].depth is not None
    session.encode_frame(frames[0].depth, frames[0].camera, frames[0].camera_to_world)  # warm
    seconds = []
    for frame in frames:
        assert frame.depth is not None
        for _ in range(TIMING_REPEATS):
            started = time.perf_counter()
            session.encode_frame(frame.depth, frame.camera, frame.camera_to_world)
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - started)
    return 1.0 / float(np.median(seconds))


def _identity(session: EncoderSession, clips: list[Clip]) -> float:
    good = counted = 0.0
    for clip in clips:
        session.reset()
        assert session.tracker is not None
        labels: list[np.ndarray] = []
        links: list[list[tuple[int, int]]] = []
        for index, frame in enumerate(clip.frames):
            assert frame.depth is not None
            slot_set = session.encode_frame(frame.depth, frame.camera, frame.camera_to_world)
            output = session.predict(frame.depth, frame.camera, frame.camera_to_world,
                                     refine_steps=0)
            owner = _owners(output, frame)
            ids = clip.instance_ids[index].reshape(-1)
            valid = np.isfinite(frame.depth.reshape(-1))
            labels.append(slot_labels(owner[valid], ids[valid], len(slot_set), min_points=20))
            if index:
                links.append(list(session.tracker.last_links))
        value = identity_consistency(labels, links)
        pairs = sum(1 for t, pair in enumerate(links) for i, j in pair
                    if labels[t][i] >= 0 and labels[t + 1][j] >= 0)
        if np.isfinite(value):
            good += value * pairs
            counted += pairs
    return good / counted if counted else float('nan')


def _owners(output: Any, frame: Frame) -> np.ndarray:
    """(H * W,) the active slot whose surface is nearest each pixel's point (-1: invalid)."""
    from scipy.spatial import cKDTree

    assert frame.depth is not None
    camera = frame.camera
    depth = frame.depth.reshape(-1).astype(np.float64)
    v, u = np.divmod(np.arange(depth.size), camera.width)
    points = np.stack([(u - camera.cx) / camera.fx * depth, (v - camera.cy) / camera.fy * depth,
                       depth], axis=1)
    valid = np.isfinite(depth)
    existence = output.slots.existence[0].cpu().numpy()
    samples = output.samples[0].cpu().numpy()  # (K, S, 3)
    owner = np.full(depth.size, -1, dtype=np.int64)
    active = np.flatnonzero(existence > 0.5)
    if len(active) == 0 or not valid.any():
        return owner
    flat = samples[active].reshape(-1, 3)
    slot_of = np.repeat(active, samples.shape[1])
    _, nearest = cKDTree(flat).query(points[valid], workers=1)
    owner[valid] = slot_of[nearest]
    return owner


def held_out_clips(worlds: int, clips_per_world: int, clip_length: int, first_seed: int,
                   width: int = 320, height: int = 240, primitives: bool = False) -> list[Clip]:
    """Held-out synthetic clips (noise on)."""
    return synthetic_clips(SyntheticSpec(worlds=worlds, first_seed=first_seed,
                                         clips_per_world=clips_per_world,
                                         clip_length=clip_length, width=width, height=height,
                                         primitives=primitives))


def evaluate_encoder(model: Path | None = None, worlds: int = 6, frames_per_world: int = 4,
                     first_seed: int = HELD_OUT_FIRST_SEED, refine_steps: int = 30,
                     motorcycle: bool = True, identity_clips: int = 4,
                     picture: Path | None = None, threads: int | None = 2,
                     primitives: bool = False) -> dict[str, Any]:
    """Score the encoder on held-out synthetic frames (and the motorcycle); see the module
    docstring. Returns one flat-ish dict ready for JSON."""
    path = Path(model) if model is not None else default_model_path()
    session = EncoderSession(path, refine_steps=0, threads=threads, track=True)
    clips = held_out_clips(worlds, frames_per_world, 1, first_seed, primitives=primitives)
    frames = [clip.frames[0] for clip in clips]
    truths = [None if clip.true_depth is None else clip.true_depth[0] for clip in clips]
    amortised, refined, amortised_s, refined_s = [], [], [], []
    for frame, truth in zip(frames, truths, strict=True):
        metrics, seconds, _ = _score(session, frame, 0, truth)
        amortised.append(metrics)
        amortised_s.append(seconds)
        if refine_steps:
            metrics, seconds, _ = _score(session, frame, refine_steps, truth)
            refined.append(metrics)
            refined_s.append(seconds)
    result: dict[str, Any] = {'model': str(path), 'step': session.info['step'],
                              'parameters': parameter_count(session.model),
                              'model_bytes': path.stat().st_size,
                              'held_out_first_seed': first_seed, 'image': '320x240'}
    result.update(_summary(amortised, amortised_s))
    floors = [noise_floor_front_share(frame.depth, truth, frame.camera,
                                      max_depth=session.model.config.max_depth)
              for frame, truth in zip(frames, truths, strict=True)
              if truth is not None and frame.depth is not None]
    # what the true visible surface itself scores in the first front-share form
    result['front_surface_share_noise_floor'] = float(np.mean(floors)) if floors else None
    result['fps_cpu'] = _fps(path, frames[:4], 'cpu', threads)
    result['fps_gpu'] = _fps(path, frames[:4], 'cuda', None) if torch.cuda.is_available() \
        else None
    if refine_steps:
        result['refined'] = {**_summary(refined, refined_s), 'refine_steps': refine_steps,
                             'fps_cpu': 1.0 / float(np.median(refined_s))}
    if identity_clips:
        sequence = held_out_clips(max(1, identity_clips // 2), 2, 8, first_seed + 500,
                                  primitives=primitives)[:identity_clips]
        result['identity_consistency'] = _identity(session, sequence)
        result['identity_clips'] = len(sequence)
    panels = []
    if picture is not None:
        _, _, synthetic_output = _score(session, frames[0], refine_steps)
        panels.append((frames[0], synthetic_output, 'held-out synthetic frame'))
    if motorcycle:
        frame = motorcycle_frame()
        figures: dict[str, Any] = {}
        metrics, seconds, motorcycle_output = _score(session, frame, 0)
        figures['amortised'] = _summary([metrics], [seconds])
        if refine_steps:
            metrics, seconds, motorcycle_output = _score(session, frame, refine_steps)
            figures['refined'] = _summary([metrics], [seconds])
        result['motorcycle'] = figures
        panels.append((frame, motorcycle_output, 'Middlebury motorcycle (real)'))
    if picture is not None:
        from scenemem_ros.training.encoder_drawing import draw_slots

        draw_slots(picture, panels, session.model.bank.faces.cpu().numpy())
        result['picture'] = str(picture)
    return result


def encoder_table(result: dict[str, Any]) -> str:
    """Human-readable table of ``evaluate_encoder``'s result."""
    keys = ('chamfer_l1_mean_cm', 'chamfer_l1_median_cm', 'fscore_5cm', 'fscore_5cm_visible',
            'front_surface_share', 'front_off_surface_share', 'front_surface_share_true',
            'active_slots', 'starved_active_slots', 'ms_per_frame')
    columns = [('synthetic amortised', result)]
    if 'refined' in result:
        columns.append(('synthetic refined', result['refined']))
    for name, figures in result.get('motorcycle', {}).items():
        columns.append((f'motorcycle {name}', figures))
    lines = [f'{"":>24}' + ''.join(f'{name:>22}' for name, _ in columns)]
    for key in keys:
        cells = []
        for _, figures in columns:
            value = figures.get(key)
            cells.append(f'{value:>22.3f}' if isinstance(value, float) else f'{value!s:>22}')
        lines.append(f'{key:>24}' + ''.join(cells))
    if result.get('front_surface_share_noise_floor') is not None:
        # the true visible surface against the sensor depth: what a perfect reconstruction scores
        lines.append(f'{"front_share_noise_floor":>24}'
                     f'{result["front_surface_share_noise_floor"]:>22.3f}')
    lines.append(f'{"fps_cpu":>24}{result["fps_cpu"]:>22.1f}')
    if result.get('fps_gpu'):
        lines.append(f'{"fps_gpu":>24}{result["fps_gpu"]:>22.1f}')
    if 'identity_consistency' in result:
        lines.append(f'{"identity_consistency":>24}{result["identity_consistency"]:>22.3f}')
    return '\n'.join(lines)
