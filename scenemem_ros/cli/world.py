"""``scenemem world``: a synthetic scene, its ground truth and its rosbag2 recording(s)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scenemem_ros.cli.common import add_json_flag, emit
from scenemem_ros.world.changes import ChangeKind


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        'world', help='generate a synthetic scene, its ground truth and bag(s)',
        description='Write DIR/world (meshes, instances, rooms), DIR/before_bag (depth, camera '
                    'info, pose along a collision-free walk) and, with --change, DIR/after_world, '
                    'DIR/change.json and DIR/after_bag.')
    parser.add_argument('--seed', type=int, required=True, help='scene seed (>= 0)')
    parser.add_argument('--out', type=Path, required=True, help='output folder')
    parser.add_argument('--change', choices=[k.value for k in ChangeKind],
                        help='also write the scene after this scripted change')
    parser.add_argument('--frames', type=int, default=0,
                        help='keep N frames evenly spread along the walk (0: all)')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--no-noise', action='store_true', help='render exact depth')
    parser.add_argument('--primitives', action='store_true',
                        help='furnish with primitive shapes only (no furniture models)')
    parser.add_argument('--encoding', choices=['32FC1', '16UC1'], default='32FC1')
    parser.add_argument('--overwrite', action='store_true', help='replace existing bags')
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scenemem_ros.training.synthesis import SynthesisRequest, synthesize
    from scenemem_ros.world.errors import WorldError

    if args.frames < 0:
        raise WorldError(f'--frames must be >= 0, got {args.frames}')
    request = SynthesisRequest(seed=args.seed, out=args.out, change=args.change,
                               frames=args.frames, width=args.width, height=args.height,
                               noise=not args.no_noise, primitives=args.primitives,
                               encoding=args.encoding, overwrite=args.overwrite)
    summary: dict[str, Any] = synthesize(request)
    emit(args, summary, lambda s: '\n'.join(f'{k:>14}: {v}' for k, v in s.items()))
    return 0

