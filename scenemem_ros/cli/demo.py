"""``scenemem demo``: the main job on the bundled scene."""

from __future__ import annotations

import argparse
from pathlib import Path

from scenemem_ros.cli.common import add_json_flag, emit

DEFAULT_OUT = Path('out/demo')


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        'demo', help='run the main job on the bundled scene and draw it',
        description='Builds the bundled apartment and its bags, starts the scenemem nodes on the '
                    'bundled memory, plans through a doorway, replays a bag in which that '
                    'doorway is blocked through DDS, waits for the detected override, plans '
                    'again, and draws both maps and paths to OUT/demo.png.')
    parser.add_argument('--out', type=Path, default=DEFAULT_OUT, help='output folder')
    parser.add_argument('--rate', type=float, default=4.0, help='bag playback rate factor')
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scenemem_ros.training.demo import run_demo

    summary = run_demo(args.out, args.rate)
    emit(args, summary, lambda s: '\n'.join(f'{k:>18}: {v}' for k, v in s.items()))
    return 0
