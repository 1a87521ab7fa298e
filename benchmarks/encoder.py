"""Slot encoder speed: milliseconds per 320x240 frame on the CPU, amortised and refined.

    python benchmarks/encoder.py [--json] [--model models/encoder_demo.npz] [--threads 2]
                                 [--refine-steps 30] [--frames 8] [--device cpu]

Renders ``--frames`` held-out synthetic frames at 320x240 (noise on) and times
``EncoderSession.encode_frame`` (resampling, network, clustering, meshes, world transform):
the amortised default, and with ``--refine-steps`` of test-time refinement. Also reports the
parameter count and checkpoint size. Target (issue 5): <= 100 ms per 240x320 frame on the CPU
for the default (amortised) path.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from scenemem_ros.encoder.model import parameter_count
from scenemem_ros.encoder.session import EncoderSession, default_model_path
from scenemem_ros.training.encoder_eval import HELD_OUT_FIRST_SEED, held_out_clips

TARGET_MS = 100.0


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=Path, default=None)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--refine-steps', type=int, default=30)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()

    path = args.model or default_model_path()
    worlds = max(1, (args.frames + 1) // 2)
    clips = held_out_clips(worlds, 2, 1, HELD_OUT_FIRST_SEED + 900)
    frames = [clip.frames[0] for clip in clips][:args.frames]
    amortised = EncoderSession(path, device=args.device, refine_steps=0, threads=args.threads,
                               track=False)
    refined = EncoderSession(path, device=args.device, refine_steps=args.refine_steps,
                             threads=args.threads, track=False)
    amortised_ms = time_session(amortised, frames, args.repeats)
    refined_ms = time_session(refined, frames[:max(1, len(frames) // 2)], 1)
    result = {
        'model': str(path), 'model_bytes': Path(path).stat().st_size,
        'parameters': parameter_count(amortised.model), 'device': args.device,
        'threads': torch.get_num_threads(), 'image': '320x240', 'frames': len(frames),
        'amortised_ms_median': float(np.median(amortised_ms)),
        'amortised_ms_p90': float(np.percentile(amortised_ms, 90)),
        'refined_ms_median': float(np.median(refined_ms)), 'refine_steps': args.refine_steps,
        'target_ms': TARGET_MS,
        'meets_target': bool(np.median(amortised_ms) <= TARGET_MS),
        'cpu': platform.processor() or platform.machine(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f'slot encoder, {result["parameters"]} parameters, '
              f'{result["model_bytes"] / 1e6:.2f} MB, {args.device}, '
              f'{result["threads"]} threads, 320x240')
        print(f'{"path":>28} {"ms/frame (median)":>18} {"p90":>8}')
        print(f'{"amortised (default)":>28} {result["amortised_ms_median"]:>18.1f} '
              f'{result["amortised_ms_p90"]:>8.1f}')
        print(f'{f"refined ({args.refine_steps} steps)":>28} '
              f'{result["refined_ms_median"]:>18.1f} {"":>8}')
        print(f'target <= {TARGET_MS:.0f} ms amortised: '
              f'{"met" if result["meets_target"] else "missed"}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
