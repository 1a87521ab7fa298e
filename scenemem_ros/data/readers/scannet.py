"""ScanNet reader (SensReader export): (H, W) float32 metre depth frames, camera-to-world poses.

Layout (a scene folder as written by ``SensReader/python/reader.py --export_depth_images
--export_poses --export_intrinsics``)::

    depth/<i>.png                  16-bit single-channel PNG, i = 0, 1, ... (not zero-padded)
    pose/<i>.txt                   4 lines x 4 numbers
    intrinsic/intrinsic_depth.txt  4 lines x 4 numbers

Conventions (verified in the reference exporter ScanNet/ScanNet
``SensReader/python/SensorData.py`` and its README, found with the `search` tool):

* Depth: the raw uint16 frames written by ``export_depth_images``; the README states "16-bit
  pngs (depth shift 1000)", i.e. millimetres -> metres = value / 1000; 0 means no measurement
  (NaN).
* Poses: ``export_poses`` writes each frame's ``camera_to_world`` 4x4 matrix row by row
  (``np.savetxt`` per row); camera axes are the depth camera's optical frame (x right, y down,
  z forward). Some frames carry ``-inf``/NaN poses (lost tracking): they are skipped and counted
  in ``skipped_invalid_poses``; a malformed file raises DataError.
* Intrinsics: ``intrinsic_depth.txt`` is the 4x4 ``intrinsic_depth`` of the .sens header;
  K is its upper-left 3x3. The image size comes from the PNG header.
* Timestamps: the export has none; frame ``i`` gets ``i / fps`` seconds (30 Hz sensor).
"""

from __future__ import annotations

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
    png_header,
    read_number_table,
    require_dir,
    require_file,
)
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.errors import GeometryError


@dataclass(frozen=True)
class ScanNetOptions(SubsampleOptions):
    """Options of :class:`ScanNetReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        depth_scale: stored units per metre (1000, the SensReader depth shift).
        fps: frame rate used to synthesise stamps (> 0).
        camera: explicit intrinsics overriding intrinsic_depth.txt.
    """

    depth_scale: float = 1000.0
    fps: float = 30.0
    camera: PinholeCamera | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, depth_scale=self.depth_scale, fps=self.fps)


def _frame_number(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        raise DataError(f'ScanNet depth file name is not a frame number: {path}') from None


class ScanNetReader(IndexedSource):
    """Frames of one exported ScanNet scene (see the module docstring for conventions)."""

    Options = ScanNetOptions

    def __init__(self, path: str | Path, options: ScanNetOptions | None = None, **overrides):
        self.folder = require_dir(Path(path), 'ScanNet scene folder')
        self.options = make_options(ScanNetOptions, options, overrides)
        self.name = self.folder.name
        self.world_frame = self.options.world_frame
        depth_dir = require_dir(self.folder / 'depth', 'ScanNet depth folder')
        depth_files = sorted(depth_dir.glob('*.png'), key=_frame_number)
        if not depth_files:
            raise DataError(f'no depth PNGs in {depth_dir}')
        self.camera = self.options.camera or self._read_camera(depth_files[0])
        self._entries: list[tuple[int, Path, np.ndarray]] = []
        self.skipped_invalid_poses = 0
        for depth_file in depth_files:
            number = _frame_number(depth_file)
            pose_file = require_file(self.folder / 'pose' / f'{number}.txt', 'ScanNet pose')
            matrix = read_number_table(pose_file, 4, 'ScanNet pose')
            if matrix.shape != (4, 4):
                raise DataError(f'expected 4 rows of 4 numbers, got {matrix.shape}: {pose_file}')
            if not np.isfinite(matrix).all():
                self.skipped_invalid_poses += 1
                continue
            self._entries.append((number, depth_file, check_rigid(matrix, pose_file)))
        self._selected = self.options.select(len(self._entries))

    def _read_camera(self, first_depth: Path) -> PinholeCamera:
        path = self.folder / 'intrinsic' / 'intrinsic_depth.txt'
        matrix = read_number_table(path, 4, 'ScanNet depth intrinsics')
        if matrix.shape != (4, 4):
            raise DataError(f'expected 4 rows of 4 numbers, got {matrix.shape}: {path}')
        width, height, _, _ = png_header(first_depth)
        try:
            return PinholeCamera.from_matrix(matrix[:3, :3], width, height)
        except GeometryError as exc:
            raise DataError(f'bad intrinsics in {path}: {exc}') from exc

    def _load(self, index: int) -> Frame:
        number, png, pose = self._entries[index]
        raw = load_png16(png)
        if raw.shape != (self.camera.height, self.camera.width):
            raise DataError(f'depth {raw.shape} does not match the camera '
                            f'{self.camera.height}x{self.camera.width}: {png}')
        depth = np.where(raw > 0, raw / self.options.depth_scale, np.nan).astype(np.float32)
        return Frame(stamp=number / self.options.fps, camera=self.camera, camera_to_world=pose,
                     depth=depth)
