"""Small on-disk datasets for the command-line tests (written here, no shared fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at, matrix_to_quaternion

TUM_FR1 = PinholeCamera(fx=517.3, fy=516.5, cx=318.6, cy=255.3, width=640, height=480)
WALL_X = 3.0


def tum_pose(t: float) -> np.ndarray:
    return look_at([0.2 * t, 0.1, 1.2], [WALL_X, 0.3 * t, 1.0])


def wall_depth(camera: PinholeCamera, pose: np.ndarray) -> np.ndarray:
    """(H, W) z-depth of the plane x = WALL_X, 0 where missed."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy,
                     np.ones_like(u)], axis=-1)
    dx = rays @ pose[0, :3]  # world x of each ray direction
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (WALL_X - pose[0, 3]) / dx
    return np.where(np.isfinite(t) & (t > 0), t, 0.0)


def make_tum(root: Path, stamps=(1.0, 1.1, 1.2)) -> Path:
    """A TUM RGB-D folder (freiburg1 intrinsics) looking at a wall, in the published layout."""
    folder = root / 'rgbd_dataset_freiburg1_wall'
    (folder / 'depth').mkdir(parents=True)
    lines = ['# depth maps', '# timestamp filename']
    for stamp in stamps:
        raw = np.round(wall_depth(TUM_FR1, tum_pose(stamp)) * 5000).astype(np.uint16)
        raw[100:120, 200:260] = 0  # a hole
        Image.fromarray(raw).save(folder / 'depth' / f'{stamp:.6f}.png')
        lines.append(f'{stamp:.6f} depth/{stamp:.6f}.png')
    (folder / 'depth.txt').write_text('\n'.join(lines) + '\n')
    gt = ['# timestamp tx ty tz qx qy qz qw']
    for stamp in stamps:
        pose = tum_pose(stamp)
        q = matrix_to_quaternion(pose[:3, :3])
        gt.append(f'{stamp:.4f} ' + ' '.join(f'{v:.9f}' for v in [*pose[:3, 3], *q]))
    (folder / 'groundtruth.txt').write_text('\n'.join(gt) + '\n')
    return folder


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``scenemem ARGV`` in-process -> (exit status, stdout, stderr)."""
    from scenemem_ros.cli import main

    try:
        status = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        status = int(exc.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def parse_json(text: str) -> dict:
    return json.loads(text)
