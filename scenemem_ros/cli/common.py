"""Small helpers every sub-command shares: ``--json`` output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--json', action='store_true', help='print one JSON object')


def emit(args: argparse.Namespace, result: dict[str, Any],
         as_text: Callable[[dict[str, Any]], str]) -> None:
    """Print ``result`` as JSON with --json, else as text."""
    print(json.dumps(result, indent=2, default=str) if args.json else as_text(result))
