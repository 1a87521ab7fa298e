"""TUM RGB-D reader: (480, 640) float32 metre depth frames with camera-to-world poses.

Layout (one sequence folder, e.g. ``rgbd_dataset_freiburg1_xyz/``)::

    depth.txt          '# comments', then 'timestamp depth/<stamp>.png' per line
    depth/<stamp>.png  16-bit single-channel PNG
    groundtruth.txt    '# comments', then 'timestamp tx ty tz qx qy qz qw' per line

Conventions (TUM "File Formats" page, https://cvg.cit.tum.de/data/datasets/rgbd-dataset/
file_formats, checked through the `search` tool: its text is quoted verbatim by several copies,
and its intrinsics table appears in many loaders citing that page):

* Depth: 16-bit PNG "scaled by a factor of 5000, i.e. a pixel value of 5000 ... corresponds to a
  distance of 1 meter"; "a pixel value of 0 means missing value/no data" -> NaN. Depth is
  pre-registered to the colour camera (OpenNI), so the colour intrinsics and pose apply.
* Poses: ``tx ty tz`` is "the position of the optical center of the color camera with respect
  to the world origin as defined by the motion capture system"; ``qx qy qz qw`` its orientation
  as a unit quaternion, scalar last, i.e. camera(optical, x right, y down, z forward)-to-world.
  The mocap world frame is kept as is (it is not guaranteed z-up).
* Timestamps: float seconds since the Unix epoch. Each depth image takes the pose with the
  nearest groundtruth stamp; depth images with none within ``max_time_difference`` (0.02 s by
  default; groundtruth runs at ~100 Hz) are skipped and counted in ``skipped_unposed``.
* Intrinsics: the published colour calibration per sensor, fx fy cx cy = freiburg1 517.3 516.5
  318.6 255.3; freiburg2 520.9 521.0 325.1 249.7; freiburg3 535.4 539.2 320.1 247.6; 'ros'
  default 525.0 525.0 319.5 239.5. Chosen from 'freiburgN' in the folder name unless
  ``intrinsics`` names one, and overridden by ``camera``. Lens distortion (non-zero for fr1/fr2)
  is ignored, as by most RGB-D pipelines.
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
    associate_nearest,
    check_positive,
    check_sorted,
    load_png16,
    make_options,
    pose_from_xyz_quat,
    read_number_table,
    read_stamped_names,
    require_dir,
)
from scenemem_ros.geometry.camera import PinholeCamera

TUM_INTRINSICS = {
    'freiburg1': PinholeCamera(fx=517.3, fy=516.5, cx=318.6, cy=255.3, width=640, height=480),
    'freiburg2': PinholeCamera(fx=520.9, fy=521.0, cx=325.1, cy=249.7, width=640, height=480),
    'freiburg3': PinholeCamera(fx=535.4, fy=539.2, cx=320.1, cy=247.6, width=640, height=480),
    'ros': PinholeCamera(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480),
}


@dataclass(frozen=True)
class TumOptions(SubsampleOptions):
    """Options of :class:`TumReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        intrinsics: 'auto' (from 'freiburgN' in the folder name) or a key of TUM_INTRINSICS.
        camera: explicit intrinsics overriding ``intrinsics``.
        depth_scale: stored units per metre (5000).
        max_time_difference: largest depth-to-pose stamp gap in seconds (> 0).
    """

    intrinsics: str = 'auto'
    camera: PinholeCamera | None = None
    depth_scale: float = 5000.0
    max_time_difference: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.intrinsics != 'auto' and self.intrinsics not in TUM_INTRINSICS:
            raise DataError(f'TumOptions.intrinsics must be auto or one of '
                            f'{sorted(TUM_INTRINSICS)}, got {self.intrinsics!r}')
        check_positive(self, depth_scale=self.depth_scale,
                       max_time_difference=self.max_time_difference)


def tum_camera(folder: Path, options: TumOptions) -> PinholeCamera:
    """The intrinsics for ``folder``: explicit camera, named sensor, or 'freiburgN' in the name."""
    if options.camera is not None:
        return options.camera
    if options.intrinsics != 'auto':
        return TUM_INTRINSICS[options.intrinsics]
    match = re.search(r'freiburg([123])', str(folder.resolve()))
    if match is None:
        raise DataError(f'cannot tell the TUM sensor from {folder}: set intrinsics= to one of '
                        f'{sorted(TUM_INTRINSICS)} or pass camera=')
    return TUM_INTRINSICS[f'freiburg{match.group(1)}']


class TumReader(IndexedSource):
    """Frames of one TUM RGB-D sequence folder (see the module docstring for conventions)."""

    Options = TumOptions

    def __init__(self, path: str | Path, options: TumOptions | None = None, **overrides):
        self.folder = require_dir(Path(path), 'TUM sequence folder')
        self.options = make_options(TumOptions, options, overrides)
        self.name = self.folder.name
        self.world_frame = self.options.world_frame
        self.camera = tum_camera(self.folder, self.options)
        depth_list = self.folder / 'depth.txt'
        gt_path = self.folder / 'groundtruth.txt'
        depth_stamps, depth_names = read_stamped_names(depth_list)
        check_sorted(depth_stamps, depth_list)
        table = read_number_table(gt_path, 8, 'groundtruth')
        if len(table) == 0:
            raise DataError(f'no poses in {gt_path}')
        check_sorted(table[:, 0], gt_path)
        poses = pose_from_xyz_quat(table[:, 1:], gt_path)
        nearest = associate_nearest(depth_stamps, table[:, 0], self.options.max_time_difference)
        usable = np.nonzero(nearest >= 0)[0]
        self.skipped_unposed = int(len(depth_stamps) - len(usable))
        self._entries = [(float(depth_stamps[i]), self.folder / depth_names[i], poses[nearest[i]])
                         for i in usable]
        self._selected = self.options.select(len(self._entries))

    def _load(self, index: int) -> Frame:
        stamp, png, pose = self._entries[index]
        raw = load_png16(png)
        if raw.shape != (self.camera.height, self.camera.width):
            raise DataError(f'depth {raw.shape} does not match the camera '
                            f'{self.camera.height}x{self.camera.width}: {png}')
        depth = np.where(raw > 0, raw / self.options.depth_scale, np.nan).astype(np.float32)
        return Frame(stamp=stamp, camera=self.camera, camera_to_world=pose, depth=depth)
