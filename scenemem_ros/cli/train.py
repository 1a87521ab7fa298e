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
    register_encoder(targets)


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


def register_encoder(targets: argparse._SubParsersAction) -> None:
    """``scenemem train encoder``: the slot encoder (training.encoder_jobs)."""
    encoder = targets.add_parser(
        'encoder', help='train the slot encoder (depth -> slots)',
        description='Train the slot encoder on --worlds N synthetic worlds (random object '
                    'compositions and apartments, plus the demo scene) or on a recording. '
                    'Progress bar, resumable with --resume, CPU or GPU; under torchrun it '
                    'trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA).')
    source = encoder.add_mutually_exclusive_group(required=True)
    source.add_argument('--worlds', type=int, help='N synthetic worlds (half compositions)')
    source.add_argument('--bag', type=Path, help='rosbag2 recording (depth, camera_info, pose)')
    source.add_argument('--world', type=Path, help='a `scenemem world` folder (its before_bag)')
    source.add_argument('--dataset', nargs=2, metavar=('FORMAT', 'SRC'),
                        help='a dataset reader (tum, scannet, replica, ...) and its folder')
    source.add_argument('--frames', type=Path,
                        help='train on frames saved by --save-frames (torch only, no Open3D)')
    output = encoder.add_mutually_exclusive_group(required=True)
    output.add_argument('--out', type=Path, help='checkpoint (.npz)')
    output.add_argument('--save-frames', type=Path, metavar='FILE',
                        help='write the training frames to FILE (.npz) instead of training')
    encoder.add_argument('--config', type=Path, help='YAML of EncoderConfig (model:, loss:, '
                         'sequence:, refine:, train:)')
    encoder.add_argument('--steps', type=int, help='phase one steps (single frames)')
    encoder.add_argument('--sequence-steps', type=int, help='phase two steps (clips)')
    encoder.add_argument('--batch-size', type=int)
    encoder.add_argument('--clips-per-world', type=int, default=8)
    encoder.add_argument('--first-seed', type=int, default=0, help='seed of the first world')
    encoder.add_argument('--no-demo-scene', action='store_true',
                         help='leave the demo apartment (seed 31) out of --worlds data')
    encoder.add_argument('--primitives', action='store_true',
                         help='boxes and cylinders only (no furniture catalogue)')
    encoder.add_argument('--sensor-depth-targets', action='store_true',
                         help='compare slots with the noisy sensor depth even where a synthetic '
                         'frame knows its true depth (train.true_depth_targets: false)')
    encoder.add_argument('--seed', type=int)
    encoder.add_argument('--device', help="'auto', 'cpu', 'cuda', 'cuda:1' ...")
    encoder.add_argument('--threads', type=int, help='CPU threads for torch')
    encoder.add_argument('--resume', action='store_true',
                         help='continue from OUT.resume.pt, or from OUT and its step count')
    encoder.add_argument('--quiet', action='store_true', help='no progress bar')
    add_json_flag(encoder)
    encoder.set_defaults(func=run_encoder)


def run_encoder(args: argparse.Namespace) -> int:
    from scenemem_ros.config import config_from_dict, read_yaml
    from scenemem_ros.encoder.config import EncoderConfig
    from scenemem_ros.errors import SceneMemError
    from scenemem_ros.training.encoder_jobs import (
        DEMO_SCENE_SEED,
        encoder_config,
        train_encoder,
        write_frames,
    )

    base = config_from_dict(EncoderConfig, read_yaml(args.config)) if args.config else None
    config = encoder_config(base, steps=args.steps, sequence_steps=args.sequence_steps,
                            batch_size=args.batch_size, seed=args.seed, device=args.device,
                            threads=args.threads,
                            true_depth_targets=False if args.sensor_depth_targets else None)
    spec = source = None
    if args.frames is not None and args.save_frames is not None:
        raise SceneMemError('--frames and --save-frames together would only copy the file')
    if args.save_frames is not None and args.resume:
        raise SceneMemError('--resume continues a training; --save-frames does not train')
    if args.worlds is not None:
        from scenemem_ros.training.encoder_data import SyntheticSpec

        spec = SyntheticSpec(worlds=args.worlds, first_seed=args.first_seed,
                             clips_per_world=args.clips_per_world,
                             clip_length=config.train.sequence_length,
                             width=config.model.input_width, height=config.model.input_height,
                             primitives=args.primitives,
                             extra_apartment_seeds=() if args.no_demo_scene
                             else (DEMO_SCENE_SEED,))
    elif args.frames is None:
        from scenemem_ros.training.memory_jobs import FrameSource

        source = FrameSource(bag=args.bag, world=args.world,
                             dataset=args.dataset[0] if args.dataset else None,
                             dataset_path=Path(args.dataset[1]) if args.dataset else None)
    if args.save_frames is not None:
        result = write_frames(args.save_frames, config, spec=spec, source=source)
    else:
        result = train_encoder(args.out, config, spec=spec, source=source, frames=args.frames,
                               resume=args.resume, progress=not args.quiet)
    emit(args, result, lambda r: '\n'.join(f'{k:>16}: {v}' for k, v in r.items()))
    return 0
