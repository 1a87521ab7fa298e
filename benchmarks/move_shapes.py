"""What telling a move from a replacement costs the change detector, per look and per pair.

    python benchmarks/move_shapes.py [--json] [--seed 26] [--repeats 5] [--threads 2]

Builds the ``scenemem eval moves`` case of ``--seed`` (an object removed, a different one of
similar size added), walks it at 320x240 and at 640x480, and times, on the frames where both
changes are confirmed and in view, the parts of one look (``ChangeDetector._look_at_shapes``):
the encoder pass on the observed depth (additions), the ray cast of the memory's expected
depth at 320 columns plus its encoder pass (removals), cutting the shapes out of the slots,
and then one shape comparison (``shape_distance``, done once per pair of shapes and cached).
Also the detector's frame time with shapes on and off over the same walk. Medians in ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np
import torch

from scenemem_ros.changes import ChangeDetector, ChangeDetectorConfig, ChangeLabel, Track
from scenemem_ros.changes.shapes import ChangeShape, ShapeConfig, change_shape, shape_distance
from scenemem_ros.data.frame import Frame
from scenemem_ros.encoder import EncoderSession
from scenemem_ros.training.move_eval import MoveEvalConfig, exact_base
from scenemem_ros.training.synthesis import subsample, world_config
from scenemem_ros.world import generate_world, plan_trajectory, render_sequence
from scenemem_ros.world.changes import replace_object
from scenemem_ros.world.config import RenderConfig
from scenemem_ros.world.render import default_camera


def _median_ms(call: Any, repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times)), result


def measure(seed: int, width: int, height: int, repeats: int, session: EncoderSession
            ) -> dict[str, Any]:
    config = ChangeDetectorConfig()
    world = generate_world(seed, world_config(False))
    after, _ = replace_object(world, np.random.default_rng(seed))
    base = exact_base(world, config)
    walk = subsample(plan_trajectory(after, seed=seed), MoveEvalConfig().frames)
    frames = list(render_sequence(after, walk, default_camera(width, height), RenderConfig()))
    frame_ms = {}
    detectors = {}
    for mode, encoder in (('off', None), ('on', session.encode_frame)):
        detector = ChangeDetector(base, config, shape_encoder=encoder)
        seconds = []
        for frame in frames:
            assert frame.depth is not None
            seconds.append(detector.process(frame.depth, frame.camera, frame.camera_to_world,
                                            frame.stamp).seconds)
        frame_ms[mode] = (1000 * float(np.mean(seconds)), 1000 * float(np.max(seconds)))
        detectors[mode] = detector
    detector = detectors['on']
    tracks = [t for t in detector.tracks.values() if t.box is not None and t.label in (
        ChangeLabel.OBJECT_ADDED, ChangeLabel.OBJECT_REMOVED)]
    added = next((t for t in tracks if t.addition), None)
    removed = next((t for t in tracks if not t.addition), None)
    if added is None or removed is None:
        return {'size': f'{width}x{height}', 'error': 'the walk did not confirm both changes'}
    shape_config = ShapeConfig()

    def first_shape(track: Track) -> tuple[Frame, Any, ChangeShape] | None:
        """The middle-most frame showing the track whose slots give it a shape."""
        assert track.box is not None
        seen = [f for f in frames if detector._in_view(track.box, f.camera, f.camera_to_world)]
        for index in sorted(range(len(seen)), key=lambda i: abs(i - len(seen) // 2)):
            frame = seen[index]
            assert frame.depth is not None and track.box is not None
            slots = detector._slots(track.addition, frame.depth, frame.camera,
                                    frame.camera_to_world)
            shape = change_shape(slots, track.box, shape_config)
            if shape is not None:
                return frame, slots, shape
        return None

    found = first_shape(added), first_shape(removed)
    if found[0] is None or found[1] is None:
        return {'size': f'{width}x{height}', 'error': 'no frame gives a shape'}
    (seen_added, observed, added_shape), (seen_removed, expected, removed_shape) = found
    observed_ms, _ = _median_ms(lambda: detector._slots(
        True, seen_added.depth, seen_added.camera, seen_added.camera_to_world), repeats)
    expected_ms, _ = _median_ms(lambda: detector._slots(
        False, seen_removed.depth, seen_removed.camera, seen_removed.camera_to_world), repeats)
    cut_ms, _ = _median_ms(lambda: (change_shape(observed, added.box, shape_config),
                                    change_shape(expected, removed.box, shape_config)), repeats)
    compare_ms, distance = _median_ms(
        lambda: shape_distance(removed_shape, added_shape, shape_config), repeats)
    return {'size': f'{width}x{height}', 'frames': len(frames),
            'encoder_observed_ms': round(observed_ms, 1),
            'render_and_encoder_expected_ms': round(expected_ms, 1),
            'cut_shapes_ms': round(cut_ms, 1),
            'look_ms': round(observed_ms + expected_ms + cut_ms, 1),
            'compare_pair_ms': round(compare_ms, 1),
            'shape_points': [len(added_shape.points), len(removed_shape.points)],
            'shape_distance_m': round(float(distance), 4),
            'frame_ms_mean_shapes_off': round(frame_ms['off'][0], 2),
            'frame_ms_mean_shapes_on': round(frame_ms['on'][0], 2),
            'frame_ms_max_shapes_off': round(frame_ms['off'][1], 1),
            'frame_ms_max_shapes_on': round(frame_ms['on'][1], 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seed', type=int, default=26)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--json', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    session = EncoderSession(track=False)
    rows = [measure(args.seed, w, h, args.repeats, session) for w, h in ((320, 240), (640, 480))]
    result = {'machine': f'{platform.processor() or platform.machine()}, '
                         f'{torch.get_num_threads()} torch threads',
              'seed': args.seed, 'rows': rows}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    keys = [k for k in rows[0] if k != 'size']
    print(f"{'':32}" + ''.join(f"{r['size']:>12}" for r in rows))
    for key in keys:
        print(f'{key:32}' + ''.join(f'{str(r.get(key)):>12}' for r in rows))
    print(result['machine'])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
