"""``scenemem convert``: any dataset reader -> a rosbag2 recording ready for ``ros2 bag play``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scenemem_ros.cli.common import add_json_flag, emit
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS


def add_reader_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--format F SRC plus the subsampling options and free-form reader options."""
    parser.add_argument('--format', choices=sorted(READERS), required=required,
                        help='dataset layout of SRC')
    parser.add_argument('--start', type=int, help='first usable frame to keep')
    parser.add_argument('--stride', type=int, help='keep every N-th usable frame')
    parser.add_argument('--max-frames', type=int, help='keep at most N frames')
    parser.add_argument('--reader-option', action='append', default=[], metavar='KEY=VALUE',
                        help='a reader option (YAML value), e.g. max_range=4 or '
                             'pose_source=tf; repeatable')


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options for ``open_source`` from the arguments of :func:`add_reader_arguments`."""
    import yaml

    options: dict[str, Any] = {key: value for key, value in (
        ('start', args.start), ('stride', args.stride), ('max_frames', args.max_frames))
        if value is not None}
    for item in args.reader_option:
        key, sep, value = item.partition('=')
        if not sep or not key.strip():
            raise DataError(f'--reader-option needs KEY=VALUE, got {item!r}')
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise DataError(f'--reader-option {item!r}: bad value: {exc}') from None
    return options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        'convert', help='convert a dataset (any reader) to a rosbag2 bag',
        description="Write SRC, read with the --format reader, as a rosbag2 bag on the node's "
                    'default topics (/camera/depth/image_rect, /camera/depth/camera_info, '
                    '/camera/pose; metadata version 8), ready for `ros2 bag play`. Point-only '
                    'formats (hd-epic, ego-exo4d, interndata) have no depth camera: their '
                    "points are rendered as sparse depth images of the frame's pinhole "
                    'camera (nearest point per pixel, NaN elsewhere).')
    parser.add_argument('src', type=Path, help='dataset folder (or bag for --format rosbag)')
    add_reader_arguments(parser)
    parser.add_argument('--out', type=Path, required=True,
                        help='bag directory to create (must not end in .bag)')
    parser.add_argument('--encoding', choices=['32FC1', '16UC1'], default='32FC1',
                        help='depth encoding: float metres (exact) or uint16 millimetres')
    parser.add_argument('--storage', choices=['sqlite3', 'mcap'], default='sqlite3')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing bag')
    add_json_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scenemem_ros.data.convert import ConvertOptions, convert_to_bag
    from scenemem_ros.data.readers import open_source

    source = open_source(args.format, args.src, **reader_options(args))
    options = ConvertOptions(depth_encoding=args.encoding, storage=args.storage,
                             overwrite=args.overwrite)
    report = convert_to_bag(source, args.out, source.world_frame, options)
    result = {'out': str(report.path), 'format': args.format, 'frames': report.frames,
              'rendered_from_points': report.rendered,
              'valid_pixel_share': round(report.valid_pixel_share, 4),
              'duration_s': round(report.end - report.start, 6), 'encoding': args.encoding,
              'storage': args.storage, 'world_frame': source.world_frame}
    emit(args, result, lambda r: '\n'.join(f'{k:>21}: {v}' for k, v in r.items()))
    return 0
