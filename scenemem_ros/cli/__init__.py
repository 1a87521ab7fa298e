"""The ``scenemem`` command: one sub-command module per job, registered in ``COMMANDS``.

Every sub-command prints one clear line and exits with status 2 on bad input (any
``SceneMemError``); tracebacks are reserved for bugs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from scenemem_ros.errors import SceneMemError

# name -> module under scenemem_ros.cli that defines ``register(subparsers)``
COMMANDS = {
    'world': 'scenemem_ros.cli.world',
    'bag': 'scenemem_ros.cli.bag',
    'train': 'scenemem_ros.cli.train',
    'eval': 'scenemem_ros.cli.evaluate',
    'run': 'scenemem_ros.cli.run',
    'demo': 'scenemem_ros.cli.demo',
    'convert': 'scenemem_ros.cli.convert',
    'export': 'scenemem_ros.cli.export',
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or only ``command``'s sub-parser when it names one: a sub-command then
    imports only its own module (faster start; ``scenemem train encoder --frames`` runs where
    Open3D, which rendering needs, is not installed)."""
    parser = argparse.ArgumentParser(
        prog='scenemem',
        description='Learned memory of known scenes: synthetic worlds, rosbag2 tools, training, '
                    'evaluation and the ROS 2 demo.')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    names = [command] if command in COMMANDS else list(COMMANDS)
    for name in names:
        importlib.import_module(COMMANDS[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    try:
        status = args.func(args)
    except SceneMemError as error:
        print(f'scenemem {args.command}: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(status or 0)


if __name__ == '__main__':
    sys.exit(main())
