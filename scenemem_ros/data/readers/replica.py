"""Replica reader (the NICE-SLAM distribution): (680, 1200) float32 metre depth, c2w poses.

Layout (one scene folder of ``Replica.zip``, e.g. ``room0/``)::

    results/frame%06d.jpg, results/depth%06d.png   16-bit single-channel depth PNGs
    traj.txt                                       one pose per line, 16 numbers

Conventions (verified in the reference loader cvg/nice-slam ``src/utils/datasets.py`` class
``Replica`` and ``configs/Replica/replica.yaml``, found with the `search` tool):

* Depth: ``depth_data.astype(np.float32) / png_depth_scale`` with ``png_depth_scale: 6553.5``
  -> metres = value / 6553.5 (so 65535 = 10 m); 0 is invalid (NaN).
* Intrinsics (replica.yaml ``cam``): H 680, W 1200, fx = fy = 600.0, cx 599.5, cy 339.5.
* Poses: each line of traj.txt is ``reshape(4, 4)`` of 16 numbers, i.e. a row-major
  camera-to-world matrix; line i belongs to depth%06d.png number i. NICE-SLAM then negates
  columns 1 and 2 to obtain its OpenGL-style axes, which shows the file itself is in OpenCV
  optical axes (x right, y down, z forward): used here unchanged.
* Timestamps: none; frame i gets ``i / fps`` seconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import Frame
from scenemem_ros.data.readers._common import (
    IndexedSource,
    SubsampleOptions,
    check_positive,
    check_rigid,
    load_png16,
    make_options,
    read_number_table,
    require_dir,
)
from scenemem_ros.geometry.camera import PinholeCamera

REPLICA_CAMERA = PinholeCamera(fx=600.0, fy=600.0, cx=599.5, cy=339.5, width=1200, height=680)


@dataclass(frozen=True)
class ReplicaOptions(SubsampleOptions):
    """Options of :class:`ReplicaReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        depth_scale: stored units per metre (6553.5).
        fps: frame rate used to synthesise stamps (> 0).
        camera: intrinsics (the NICE-SLAM Replica camera by default).
    """

    depth_scale: float = 6553.5
    fps: float = 30.0
    camera: PinholeCamera = REPLICA_CAMERA

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, depth_scale=self.depth_scale, fps=self.fps)


class ReplicaReader(IndexedSource):
    """Frames of one NICE-SLAM Replica scene (see the module docstring for conventions)."""

    Options = ReplicaOptions

    def __init__(self, path: str | Path, options: ReplicaOptions | None = None, **overrides):
        self.folder = require_dir(Path(path), 'Replica scene folder')
        self.options = make_options(ReplicaOptions, options, overrides)
        self.name = self.folder.name
        self.world_frame = self.options.world_frame
        self.camera = self.options.camera
        results = require_dir(self.folder / 'results', 'Replica results folder')
        numbered = []
        for path_ in results.glob('depth*.png'):
            match = re.fullmatch(r'depth(\d+)\.png', path_.name)
            if match is not None:
                numbered.append((int(match.group(1)), path_))
        numbered.sort()
        if not numbered:
            raise DataError(f'no depth*.png in {results}')
        traj = self.folder / 'traj.txt'
        rows = read_number_table(traj, 16, 'Replica trajectory')
        if len(rows) < numbered[-1][0] + 1:
            raise DataError(f'{traj} has {len(rows)} poses but depth images go up to number '
                            f'{numbered[-1][0]}')
        self._entries = [(number, png, check_rigid(rows[number].reshape(4, 4),
                                                   Path(f'{traj}:{number + 1}')))
                         for number, png in numbered]
        self._selected = self.options.select(len(self._entries))

    def _load(self, index: int) -> Frame:
        number, png, pose = self._entries[index]
        raw = load_png16(png)
        if raw.shape != (self.camera.height, self.camera.width):
            raise DataError(f'depth {raw.shape} does not match the camera '
                            f'{self.camera.height}x{self.camera.width}: {png}')
        depth = np.where(raw > 0, raw / self.options.depth_scale, np.nan).astype(np.float32)
        return Frame(stamp=number / self.options.fps, camera=self.camera, camera_to_world=pose,
                     depth=depth)
