"""``scenemem bag info|play``: inspect and replay rosbag2 recordings."""

from __future__ import annotations

import argparse
from pathlib import Path

from scenemem_ros.cli.common import add_json_flag, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser('bag', help='rosbag2 tools (info, play)',
                                   description='Inspect or replay rosbag2 recordings.')
    actions = parser.add_subparsers(dest='bag_command', metavar='ACTION', required=True)
    info = actions.add_parser('info', help='topics, types, counts and duration of a bag')
    info.add_argument('bag', type=Path, help='bag folder, .db3 or .mcap file')
    add_json_flag(info)
    info.set_defaults(func=run_info)
    play = actions.add_parser(
        'play', help='publish a bag through DDS with its recorded QoS (like ros2 bag play)',
        description='Arguments after the bag are those of scenemem_bag_play (see --help there): '
                    '-r RATE, --topics, --remap FROM=TO, --clock, --wait-for-subscribers SEC, '
                    '--delay SEC, -l.')
    play.add_argument('bag', help='bag folder, .db3 or .mcap file')
    play.add_argument('player_args', nargs=argparse.REMAINDER,
                      help='options passed to the player')
    play.set_defaults(func=run_play)


def run_info(args: argparse.Namespace) -> int:
    from scenemem_ros.data.bag import bag_info

    info = bag_info(args.bag)
    result = {'path': str(info.path), 'storage': info.storage, 'ros_distro': info.ros_distro,
              'messages': info.message_count, 'duration_s': info.duration,
              'topics': [t._asdict() for t in info.topics]}
    emit(args, result, lambda _: info.format())
    return 0


def run_play(args: argparse.Namespace) -> int:
    from scenemem_ros.ros.bag_player import main as player_main

    return player_main([args.bag, *args.player_args])
