"""Slot encoder speed: milliseconds per 320x240 frame on the CPU or a GPU, amortised and refined.

    python benchmarks/encoder.py [--json] [--model models/encoder_demo.npz] [--threads 2]
                                 [--refine-steps 30] [--frames 8] [--device cpu]
                                 [--baseline OTHER.npz]

Renders ``--frames`` held-out synthetic frames at 320x240 (noise on) and times
``EncoderSession.encode_frame`` (resampling, network, clustering, meshes, world transform):
the amortised default, and with ``--refine-steps`` of test-time refinement. Also reports the
parameter count and checkpoint size. ``--baseline`` times a second checkpoint on the same frames
in the same run, alternating frame by frame with the first, and reports the ratio. Targets
(issue 5), amortised (default) path: <= 100 ms per 240x320 frame on the CPU, <= 10 ms on an
H100/H200 (``--device cuda``; on a GPU machine without Open3D pass ``--frames-file`` with
frames saved by ``scenemem train encoder --save-frames``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from scenemem_ros.data.frame import Frame
from scenemem_ros.encoder.frame_file import load_frame_bank
from scenemem_ros.encoder.model import parameter_count
from scenemem_ros.encoder.session import EncoderSession, default_model_path
from scenemem_ros.geometry.camera import PinholeCamera

TARGET_MS = {'cpu': 100.0, 'cuda': 10.0}


def time_session(session: EncoderSession, frames: list, repeats: int) -> list[float]:
    """Milliseconds of every ``encode_frame`` call (after one warm-up call)."""
    first = frames[0]
    session.encode_frame(first.depth, first.camera, first.camera_to_world)
    times = []
    for frame in frames:
        for _ in range(repeats):
            started = time.perf_counter()
            session.encode_frame(frame.depth, frame.camera, frame.camera_to_world)
            if session.device.type == 'cuda':
                torch.cuda.synchronize()
            times.append(1000 * (time.perf_counter() - started))
    return times


def session_on_cuda(session: EncoderSession) -> bool:
    return session.device.type == 'cuda'


def rendered_frames(count: int) -> list[Frame]:
    """``count`` held-out synthetic 320x240 frames (needs Open3D)."""
    from scenemem_ros.training.encoder_eval import HELD_OUT_FIRST_SEED, held_out_clips

    clips = held_out_clips(max(1, (count + 1) // 2), 2, 1, HELD_OUT_FIRST_SEED + 900)
    return [clip.frames[0] for clip in clips]


def saved_frames(path: Path) -> list[Frame]:
    """The frames of a frame file (``encoder.frame_file``)."""
    bank = load_frame_bank(path)
    height, width = bank.depth.shape[1:]
    return [Frame(stamp=float(i), depth=bank.depth[i].numpy(),
                  camera=PinholeCamera.from_matrix(bank.intrinsics[i].numpy(), width, height),
                  camera_to_world=bank.camera_to_world[i].numpy().astype(np.float64))
            for i in range(len(bank))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=Path, default=None)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--refine-steps', type=int, default=30)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--frames-file', type=Path,
                        help='frames saved by `scenemem train encoder --save-frames` (e.g. on a '
                             'GPU machine without Open3D) instead of rendering them')
    parser.add_argument('--baseline', type=Path,
                        help='another checkpoint, timed amortised on the same frames in turn')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()

    path = args.model or default_model_path()
    frames = (saved_frames(args.frames_file) if args.frames_file else
              rendered_frames(args.frames))[:args.frames]
    amortised = EncoderSession(path, device=args.device, refine_steps=0, threads=args.threads,
                               track=False)
    refined = EncoderSession(path, device=args.device, refine_steps=args.refine_steps,
                             threads=args.threads, track=False)
    target_ms = TARGET_MS.get(amortised.device.type, TARGET_MS['cpu'])
    baseline_ms: list[float] = []
    if args.baseline is not None:
        baseline = EncoderSession(args.baseline, device=args.device, refine_steps=0,
                                  threads=args.threads, track=False)
        amortised_ms = []
        for frame in frames:  # in turn, so both see the same machine load
            amortised_ms += time_session(amortised, [frame], args.repeats)
            baseline_ms += time_session(baseline, [frame], args.repeats)
    else:
        amortised_ms = time_session(amortised, frames, args.repeats)
    refined_ms = time_session(refined, frames[:max(1, len(frames) // 2)], 1)
    result = {
        'model': str(path), 'model_bytes': Path(path).stat().st_size,
        'parameters': parameter_count(amortised.model), 'device': args.device,
        'threads': torch.get_num_threads(), 'frames': len(frames),
        'image': f'{frames[0].depth.shape[1]}x{frames[0].depth.shape[0]}',
        'gpu': torch.cuda.get_device_name() if session_on_cuda(amortised) else None,
        'amortised_ms_median': float(np.median(amortised_ms)),
        'amortised_ms_p90': float(np.percentile(amortised_ms, 90)),
        'refined_ms_median': float(np.median(refined_ms)), 'refine_steps': args.refine_steps,
        'target_ms': target_ms,
        'meets_target': bool(np.median(amortised_ms) <= target_ms),
        'cpu': platform.processor() or platform.machine(),
    }
    if baseline_ms:
        result.update(baseline=str(args.baseline),
                      baseline_ms_median=float(np.median(baseline_ms)),
                      ratio_to_baseline=float(np.median(amortised_ms) / np.median(baseline_ms)))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f'slot encoder, {result["parameters"]} parameters, '
              f'{result["model_bytes"] / 1e6:.2f} MB, {args.device}, '
              f'{result["threads"]} threads, {result["image"]}'
              + (f', {result["gpu"]}' if result['gpu'] else ''))
        print(f'{"path":>28} {"ms/frame (median)":>18} {"p90":>8}')
        print(f'{"amortised (default)":>28} {result["amortised_ms_median"]:>18.1f} '
              f'{result["amortised_ms_p90"]:>8.1f}')
        print(f'{f"refined ({args.refine_steps} steps)":>28} '
              f'{result["refined_ms_median"]:>18.1f} {"":>8}')
        if baseline_ms:
            print(f'{"baseline amortised":>28} {result["baseline_ms_median"]:>18.1f} '
                  f'{"":>8}  ({args.baseline}; ratio {result["ratio_to_baseline"]:.2f})')
        print(f'target <= {target_ms:.0f} ms amortised: '
              f'{"met" if result["meets_target"] else "missed"}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
