"""``scenemem train memory|encoder``: offline fitting."""

from __future__ import annotations

import argparse
from pathlib import Path

from scenemem_ros.cli.common import add_json_flag, emit


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--bag', type=Path, help='rosbag2 recording (depth, camera_info, pose)')
    source.add_argument('--world', type=Path, help='a `scenemem world` folder (its before_bag)')
    source.add_argument('--dataset', nargs=2, metavar=('FORMAT', 'SRC'),
                        help='a dataset reader (tum, scannet, replica, synthia, hd-epic, rosbag, '
                             'ego-exo4d, interndata) and its folder')


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser('train', help='fit models offline (memory, encoder)')
    targets = parser.add_subparsers(dest='target', metavar='MODEL', required=True)
    memory = targets.add_parser(
        'memory', help='fit a scene into a memory checkpoint',
        description='Fit one scene into --out (added beside the scenes it already holds; the '
                    'shared decoder is then kept fixed). Resumable with --resume; deterministic '
                    'for a given --seed on one machine.')
    add_source_arguments(memory)
    memory.add_argument('--scene', help='scene name (default: the source folder name)')
    memory.add_argument('--out', type=Path, required=True, help='checkpoint (.npz)')
    memory.add_argument('--config', type=Path, help='YAML with `field:` and `train:` sections')
    memory.add_argument('--steps', type=int)
    memory.add_argument('--max-frames', type=int, help='maximum-coverage frame budget')
    memory.add_argument('--seed', type=int)
    memory.add_argument('--device', help="'auto', 'cpu', 'cuda', 'cuda:1' ...")
    memory.add_argument('--resume', action='store_true',
                        help='continue from OUT.resume.pt if an interrupted run left one')
    memory.add_argument('--quiet', action='store_true', help='no progress bar')
    add_json_flag(memory)
    memory.set_defaults(func=run_memory)


def run_memory(args: argparse.Namespace) -> int:
    from scenemem_ros.config import config_from_dict, read_yaml
    from scenemem_ros.memory.config import MemoryConfig
    from scenemem_ros.training.memory_jobs import FrameSource, memory_config, train_memory

    base = config_from_dict(MemoryConfig, read_yaml(args.config)) if args.config else None
    config = memory_config(args.steps, args.max_frames, args.seed, args.device, base)
    source = FrameSource(bag=args.bag, world=args.world,
                         dataset=args.dataset[0] if args.dataset else None,
                         dataset_path=Path(args.dataset[1]) if args.dataset else None)
    result = train_memory(source, args.out, config, args.scene, args.resume,
                          progress=not args.quiet)
    emit(args, result, lambda r: '\n'.join(f'{k:>16}: {v}' for k, v in r.items()))
    return 0
