"""``scenemem eval memory|changes|moves|encoder``: tables, or one JSON object with --json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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
    register_encoder(targets)

    changes = targets.add_parser(
        'changes', help='change detection against scripted ground truth',
        description='Replays the after bag of each world folder (made with `scenemem world '
                    '--change KIND`; all of the scene the model holds) through the change '
                    'detector and a fresh walk through the unchanged world: object-level '
                    'precision/recall/F1, voxel F1, false overrides per 1000 frames, frames '
                    'from first sight to publication, per kind.')
    changes.add_argument('--model', type=Path, required=True)
    changes.add_argument('--world', type=Path, required=True, action='append',
                         help='a changed `scenemem world` folder, or a folder of them; repeat '
                              'for more')
    changes.add_argument('--scene', help='scene in the checkpoint (default: the only one)')
    changes.add_argument('--config', type=Path, help='YAML of ChangeDetectorConfig fields')
    changes.add_argument('--unchanged-frames', type=int, default=300,
                         help='length of the unchanged replay (0: skip it)')
    changes.add_argument('--pose-noise', type=float, nargs=2, default=(0.0, 0.0),
                         metavar=('METRES', 'DEGREES'),
                         help='jitter the poses the detector gets (not the ones ground truth '
                              'uses) by Gaussian noise of this standard deviation per axis and '
                              'in rotation angle, independently per frame: localisation error')
    changes.add_argument('--pose-drift', type=float, nargs=3, default=(0.0, 0.0, 10.0),
                         metavar=('METRES', 'DEGREES', 'SECONDS'),
                         help="a 2D localiser's slowly varying error: x, y and yaw offsets of "
                              'this standard deviation that follow a first-order Gauss-Markov '
                              'process with this time constant')
    changes.add_argument('--encoder', type=Path,
                         help='slot encoder for telling moves from replacements, as the ROS '
                              'node does (default: the bundled one)')
    changes.add_argument('--no-shapes', action='store_true',
                         help='pair removals and additions by their boxes alone')
    add_json_flag(changes)
    changes.set_defaults(func=run_changes)
    register_moves(targets)


def run_memory(args: argparse.Namespace) -> int:
    from scenemem_ros.training.memory_eval import evaluate_memory, fidelity_table

    results = evaluate_memory(args.model, args.world, args.scene)
    emit(args, results, fidelity_table)
    return 0


def _world_folders(paths: list[Path]) -> list[Path]:
    from scenemem_ros.errors import SceneMemError
    from scenemem_ros.training.synthesis import CHANGE_FILE

    folders: list[Path] = []
    for path in paths:
        if (path / CHANGE_FILE).is_file():
            folders.append(path)
        elif path.is_dir():
            folders += sorted(p for p in path.iterdir() if (p / CHANGE_FILE).is_file())
        else:
            raise SceneMemError(f'{path} is not a folder')
    return folders


def _detector_config(args: argparse.Namespace) -> Any:
    """``ChangeDetectorConfig`` from ``--config`` YAML, or the defaults."""
    from scenemem_ros.changes import ChangeDetectorConfig
    from scenemem_ros.config import config_from_dict, read_yaml

    return config_from_dict(ChangeDetectorConfig, read_yaml(args.config)) if args.config \
        else ChangeDetectorConfig()


def run_changes(args: argparse.Namespace) -> int:
    from scenemem_ros.training.change_eval import (
        ChangeEvalConfig,
        changes_table,
        evaluate_changes,
    )

    config = _detector_config(args)
    shape_encoder = None
    if not args.no_shapes and config.move_shape_tolerance > 0:
        from scenemem_ros.encoder import EncoderSession
        shape_encoder = EncoderSession(args.encoder, track=False).encode_frame
    results = evaluate_changes(args.model, _world_folders(args.world), args.scene, config,
                               ChangeEvalConfig(unchanged_frames=args.unchanged_frames,
                                                pose_noise_m=args.pose_noise[0],
                                                pose_noise_deg=args.pose_noise[1],
                                                pose_drift_m=args.pose_drift[0],
                                                pose_drift_deg=args.pose_drift[1],
                                                pose_drift_s=args.pose_drift[2]),
                               shape_encoder)
    emit(args, results, changes_table)
    return 0


def register_moves(targets: argparse._SubParsersAction) -> None:
    moves = targets.add_parser(
        'moves', help='moved object or a different one: pairing by boxes vs by slot shapes',
        description='For each seed, an apartment with one object moved and the same apartment '
                    'with one object removed and a different one of similar size added '
                    'elsewhere; the detector replays a walk through each against the exact '
                    'geometry before, pairing removals with additions by their boxes alone and '
                    "by the slot encoder's shapes: moves found, replacements kept apart.")
    moves.add_argument('--seeds', type=int, nargs='+', default=list(range(1, 11)),
                       help='apartment seeds (default 1..10)')
    moves.add_argument('--frames', type=int, default=200, help='frames of each walk')
    moves.add_argument('--encoder', type=Path, help='encoder checkpoint (default: bundled)')
    moves.add_argument('--config', type=Path, help='YAML of ChangeDetectorConfig fields')
    moves.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    moves.add_argument('--primitives', action='store_true',
                       help='furnish with boxes and cylinders instead of catalogue furniture')
    add_json_flag(moves)
    moves.set_defaults(func=run_moves)


def run_moves(args: argparse.Namespace) -> int:
    from scenemem_ros.training.move_eval import MoveEvalConfig, evaluate_moves, moves_table

    config = _detector_config(args)
    eval_config = MoveEvalConfig(seeds=tuple(args.seeds), frames=args.frames,
                                 primitives=args.primitives)

    def progress(case: dict[str, Any]) -> None:
        marks = '  '.join(f"{mode}: {'ok' if case[mode]['correct'] else 'WRONG'}"
                          for mode in ('boxes', 'shapes'))
        if not case['tests_pairing']:
            marks += '  (not counted: one side unconfirmed, or undecided)'
        print(f"seed {case['seed']} {case['kind']}: {case['change']}  [{marks}]",
              file=sys.stderr)

    results = evaluate_moves(eval_config, config, args.encoder, args.threads, progress)
    emit(args, results, moves_table)
    return 0


def register_encoder(targets: argparse._SubParsersAction) -> None:
    """``scenemem eval encoder``: slot encoder fidelity and speed (training.encoder_eval)."""
    encoder = targets.add_parser(
        'encoder', help='slot encoder: Chamfer-L1, F-score@5cm, front share, fps',
        description='Encode held-out synthetic frames (320x240, noise on) and the real '
                    'Middlebury motorcycle depth, amortised (default) and with test-time '
                    'refinement; report Chamfer-L1 mean/median (cm), F-score@5cm, share of slot '
                    'surface in front of the depth, slot identity consistency, frames per '
                    'second on the CPU (and GPU when present).')
    encoder.add_argument('--model', type=Path, help='encoder checkpoint (default: bundled)')
    encoder.add_argument('--worlds', type=int, default=6, help='held-out worlds')
    encoder.add_argument('--frames-per-world', type=int, default=4)
    encoder.add_argument('--first-seed', type=int, default=100000,
                         help='seed of the first held-out world')
    encoder.add_argument('--refine-steps', type=int, default=30,
                         help='test-time refinement steps for the refined figures (0: none)')
    encoder.add_argument('--identity-clips', type=int, default=4,
                         help='held-out clips of 8 frames for identity consistency (0: skip)')
    encoder.add_argument('--no-motorcycle', action='store_true')
    encoder.add_argument('--picture', type=Path, help='save slots over the points (PNG)')
    encoder.add_argument('--threads', type=int, default=2, help='CPU threads for torch')
    encoder.add_argument('--primitives', action='store_true',
                         help='held-out worlds of boxes and cylinders only')
    add_json_flag(encoder)
    encoder.set_defaults(func=run_encoder)


def run_encoder(args: argparse.Namespace) -> int:
    from scenemem_ros.training.encoder_eval import encoder_table, evaluate_encoder

    result = evaluate_encoder(args.model, args.worlds, args.frames_per_world, args.first_seed,
                              args.refine_steps, not args.no_motorcycle, args.identity_clips,
                              args.picture, args.threads, args.primitives)
    emit(args, result, encoder_table)
    return 0
