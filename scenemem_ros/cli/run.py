"""``scenemem run``: the scenemem nodes in one process, for machines without ``ros2 launch``."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path


def default_params() -> Path:
    return Path(__file__).resolve().parents[2] / 'config' / 'memory.yaml'


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        'run', help='run the memory, change-detector and planner nodes in one process',
        description='The same nodes memory.launch.py starts, in one process with a '
                    'PooledExecutor (a MultiThreadedExecutor). Stop with Ctrl-C or SIGTERM.')
    parser.add_argument('--params', type=Path, help='Nav2-style parameter file '
                        '(default: config/memory.yaml of the package)')
    parser.add_argument('--model', type=Path, help='memory checkpoint (overrides the params)')
    parser.add_argument('--namespace', default='/scenemem')
    parser.add_argument('--without', nargs='*', default=[],
                        choices=['scene_memory', 'planner', 'change_detector'],
                        help='leave these nodes out')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scenemem_ros.errors import SceneMemError
    from scenemem_ros.ros.runner import start_nodes

    params = args.params or default_params()
    if not params.is_file():
        raise SceneMemError(f'parameter file {params} does not exist')
    if args.model is not None and not args.model.is_file():
        raise SceneMemError(f'model {args.model} does not exist')
    names = [n for n in ('scene_memory', 'planner', 'change_detector') if n not in args.without]
    running = start_nodes(params, args.model, args.namespace, nodes=names)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f'scenemem run: {", ".join(names)} in {args.namespace}; Ctrl-C stops', flush=True)
    try:
        while not stop.wait(0.5) and running.thread.is_alive():
            pass
    finally:
        running.stop()
    return 0
