"""``scenemem eval memory|...``: metrics as tables, or one JSON object with --json."""

from __future__ import annotations

import argparse
from pathlib import Path

from scenemem_ros.cli.common import add_json_flag, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser('eval', help='measure models against ground truth')
    targets = parser.add_subparsers(dest='target', metavar='WHAT', required=True)
    memory = targets.add_parser(
        'memory', help='memory fidelity beside Open3D TSDF fusion of the same frames',
        description='Surface F-score at 5 and 2 cm, accuracy, completion, 2D grid IoU at 5 cm, '
                    'build time and on-disk size, for the memory and for TSDF fusion.')
    memory.add_argument('--model', type=Path, required=True)
    memory.add_argument('--world', type=Path, required=True, help='a `scenemem world` folder')
    memory.add_argument('--scene', help='scene in the checkpoint (default: the only one)')
    add_json_flag(memory)
    memory.set_defaults(func=run_memory)


def run_memory(args: argparse.Namespace) -> int:
    from scenemem_ros.training.memory_eval import evaluate_memory, fidelity_table

    results = evaluate_memory(args.model, args.world, args.scene)
    emit(args, results, fidelity_table)
    return 0
