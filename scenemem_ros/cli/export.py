"""``scenemem export occupancy``: per-frame egocentric occupancy + visibility, L3ROcc layout."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from scenemem_ros.cli.common import add_json_flag, emit
from scenemem_ros.cli.convert import add_reader_arguments, reader_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser('export', help='export sequences as learning datasets')
    targets = parser.add_subparsers(dest='target', metavar='KIND', required=True)
    occupancy = targets.add_parser(
        'occupancy', help='per-frame egocentric occupancy and visibility (L3ROcc / LeRobot)',
        description='Export SEQUENCE (a rosbag2 bag, a `scenemem world` folder, or SRC read '
                    'with --format) as one LeRobotDataset v2.1 episode in the layout L3ROcc '
                    'publishes: data/chunk-000/{all_occ.npz, origin_pcd.ply, '
                    'episode_000000.parquet}, meta/{info.json, episodes.jsonl, '
                    'episodes_stats.jsonl, tasks.jsonl}, videos/chunk-000/observation.occ.view/'
                    'occ_sequence.npz (sparse CSR) and observation.occ.mask/mask_sequence.npz '
                    '(bit-packed). The ego frame sits at the camera: x right, y forward, z up.')
    occupancy.add_argument('sequence', type=Path,
                           help='bag (folder, .db3, .mcap), world folder, or SRC of --format')
    add_reader_arguments(occupancy, required=False)
    occupancy.add_argument('--out', type=Path, required=True, help='episode folder to create')
    occupancy.add_argument('--voxel-size', type=float, default=0.04, help='metres (0.04)')
    occupancy.add_argument('--range', type=float, nargs=6, dest='pc_range',
                           metavar=('XMIN', 'YMIN', 'ZMIN', 'XMAX', 'YMAX', 'ZMAX'),
                           help='ego box in metres (default L3ROcc: -2 0 -0.6 2 5.6 1.8)')
    occupancy.add_argument('--history-len', type=int, default=1,
                           help="frames merged into each frame's occupancy (1, the default: "
                                "none, as in L3ROcc's LeRobot output; its visualisation uses 10)")
    occupancy.add_argument('--history-step', type=int, default=2,
                           help='spacing of the history frames')
    occupancy.add_argument('--pixel-stride', type=int, default=2,
                           help='use every N-th depth pixel in u and v')
    occupancy.add_argument('--fps', type=float, help='frame rate for info.json (default: '
                                                     'from the stamps)')
    occupancy.add_argument('--task', help='task description for tasks.jsonl')
    occupancy.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    add_json_flag(occupancy)
    occupancy.set_defaults(func=run_occupancy)


def open_sequence(args: argparse.Namespace) -> Any:
    """The frame source for SEQUENCE: --format's reader, a world folder's bag, or a bag."""
    from scenemem_ros.data.readers import open_source
    from scenemem_ros.training.synthesis import BEFORE_BAG

    if args.format:
        return open_source(args.format, args.sequence, **reader_options(args))
    path = Path(args.sequence)
    if path.is_dir() and (path / BEFORE_BAG).exists():
        path = path / BEFORE_BAG
    return open_source('rosbag', path, **reader_options(args))


def run_occupancy(args: argparse.Namespace) -> int:
    from scenemem_ros.export import OccupancyExportConfig, compute_occupancy, write_episode

    values: dict[str, Any] = dict(voxel_size=args.voxel_size, history_len=args.history_len,
                                  history_step=args.history_step,
                                  pixel_stride=args.pixel_stride, fps=args.fps)
    if args.pc_range is not None:
        values['pc_range'] = tuple(args.pc_range)
    if args.task is not None:
        values['task'] = args.task
    config = OccupancyExportConfig(**values)
    source = open_sequence(args)
    start = time.perf_counter()
    export = compute_occupancy(source, config)
    summary = write_episode(export, args.out, overwrite=args.overwrite,
                            name=str(getattr(source, 'name', 'sequence')))
    summary['seconds'] = round(time.perf_counter() - start, 3)
    emit(args, summary, lambda r: '\n'.join(f'{k:>18}: {v}' for k, v in r.items()))
    return 0
