"""SYNTHIA-SEQS reader: (760, 1280) float32 metre depth frames, poses in a right-handed z-up world.

Layout (one sequence folder, e.g. ``SYNTHIA-SEQS-05-SPRING/``)::

    Depth/Stereo_Left/Omni_F/%06d.png          16-bit, 3-channel PNG
    CameraParams/Stereo_Left/Omni_F/%06d.txt   16 numbers

Conventions:

* Depth: centimetres in channel 0 of a 16-bit 3-channel PNG -> metres = value / 100; 0 is
  invalid (NaN). This is the SEQS encoding; the 24-bit R + G*256 + B*65536 formula belongs to
  SYNTHIA-RAND and must not be used here. Checked against ETH-ASL x_view
  ``synthia_dataset.cpp`` (``getDepth``: uint16 * 0.01 m); the official SEQS README was not in
  the search corpus, so the channel choice follows the issue's statement of it.
* Intrinsics: fx = fy = 532.740352, cx = 640, cy = 380 at 1280x760 (the values every SYNTHIA
  loader found with `find_string` uses, e.g. x_view and several MATLAB/Python loaders).
* Poses: 16 numbers, column-major (loaders do MATLAB ``reshape(vec, 4, 4)``), camera-to-world
  in the Unity-style left-handed world (x right, y up, z forward), so the 3x3 block has
  det = -1. The camera axes are OpenGL's (x right, y up, z backward: Unity's
  ``worldToCameraMatrix`` convention; x_view flips y and z to reach image axes), set by
  ``camera_axes``. Conversion, proven by ``test/data/readers/test_readers_synthia.py``::

      world_zup_from_optical = C @ M @ diag(1, -1, -1, 1)     (camera_axes='opengl')
      C = [[0, 0, 1], [-1, 0, 0], [0, 1, 0]]   x_new = z_s (forward), y_new = -x_s (left),
                                               z_new = y_s (up): the Unity -> ROS "FLU" map

  ``C`` has det -1 and removes the handedness flip: the result is a rigid det +1 pose of the
  OpenCV optical frame in a right-handed z-up world. Files whose rotation is not det -1 raise
  DataError. Translations are taken as metres (``translation_scale`` to change).
* Timestamps: none; the sequences are rendered at 5 fps, frame i gets ``i / fps`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import Frame
from scenemem_ros.data.readers._common import (
    OPENGL_TO_OPENCV,
    IndexedSource,
    SubsampleOptions,
    check_positive,
    check_rigid,
    load_png16,
    make_options,
    require_dir,
    require_file,
)
from scenemem_ros.geometry.camera import PinholeCamera

SYNTHIA_CAMERA = PinholeCamera(fx=532.740352, fy=532.740352, cx=640.0, cy=380.0, width=1280,
                               height=760)
#: (3, 3) SYNTHIA left-handed y-up world -> right-handed z-up world (det -1).
SYNTHIA_TO_ZUP = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_CAMERA_AXES = {'opengl': OPENGL_TO_OPENCV, 'opencv': np.eye(3)}


@dataclass(frozen=True)
class SynthiaOptions(SubsampleOptions):
    """Options of :class:`SynthiaReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        stereo: 'Stereo_Left' or 'Stereo_Right'.
        direction: 'Omni_F', 'Omni_B', 'Omni_L' or 'Omni_R'.
        depth_scale: stored units per metre (100: centimetres).
        max_depth: depths beyond this many metres become NaN (None keeps all).
        fps: frame rate used to synthesise stamps (5).
        camera_axes: axes of the file's camera frame, 'opengl' (default) or 'opencv'.
        translation_scale: metres per stored translation unit (1).
    """

    stereo: str = 'Stereo_Left'
    direction: str = 'Omni_F'
    depth_scale: float = 100.0
    max_depth: float | None = None
    fps: float = 5.0
    camera_axes: str = 'opengl'
    translation_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.stereo not in ('Stereo_Left', 'Stereo_Right'):
            raise DataError(f'SynthiaOptions.stereo must be Stereo_Left or Stereo_Right, '
                            f'got {self.stereo!r}')
        if self.direction not in ('Omni_F', 'Omni_B', 'Omni_L', 'Omni_R'):
            raise DataError(f'SynthiaOptions.direction must be Omni_F/B/L/R, '
                            f'got {self.direction!r}')
        if self.camera_axes not in _CAMERA_AXES:
            raise DataError(f'SynthiaOptions.camera_axes must be one of {sorted(_CAMERA_AXES)}, '
                            f'got {self.camera_axes!r}')
        check_positive(self, depth_scale=self.depth_scale, max_depth=self.max_depth,
                       fps=self.fps, translation_scale=self.translation_scale)


def synthia_to_zup_pose(matrix: np.ndarray, path: Path, camera_axes: str = 'opengl',
                        translation_scale: float = 1.0) -> np.ndarray:
    """(4, 4) SYNTHIA camera-to-world (left-handed world, det -1) -> (4, 4) rigid
    OpenCV-optical-to-world pose in the right-handed z-up world."""
    m = np.asarray(matrix, dtype=np.float64)
    if not np.isfinite(m).all():
        raise DataError(f'non-finite camera parameters in {path}')
    det = np.linalg.det(m[:3, :3])
    if abs(det + 1.0) > 1e-3:
        raise DataError(f'expected a left-handed (det -1) SYNTHIA pose, got det {det:+.4f} '
                        f'in {path}')
    pose = np.eye(4)
    pose[:3, :3] = SYNTHIA_TO_ZUP @ m[:3, :3] @ _CAMERA_AXES[camera_axes]
    pose[:3, 3] = SYNTHIA_TO_ZUP @ m[:3, 3] * translation_scale
    return check_rigid(pose, path)


class SynthiaReader(IndexedSource):
    """Frames of one SYNTHIA-SEQS sequence (see the module docstring for conventions)."""

    Options = SynthiaOptions

    def __init__(self, path: str | Path, options: SynthiaOptions | None = None, **overrides):
        self.folder = require_dir(Path(path), 'SYNTHIA sequence folder')
        self.options = make_options(SynthiaOptions, options, overrides)
        self.name = self.folder.name
        self.world_frame = self.options.world_frame
        self.camera = SYNTHIA_CAMERA
        sub = Path(self.options.stereo) / self.options.direction
        depth_dir = require_dir(self.folder / 'Depth' / sub, 'SYNTHIA depth folder')
        params_dir = require_dir(self.folder / 'CameraParams' / sub, 'SYNTHIA CameraParams')
        self._entries: list[tuple[int, Path, Path]] = []
        for png in sorted(depth_dir.glob('*.png')):
            if not png.stem.isdigit():
                raise DataError(f'SYNTHIA depth file name is not a frame number: {png}')
            params = require_file(params_dir / f'{png.stem}.txt', 'SYNTHIA camera parameters')
            self._entries.append((int(png.stem), png, params))
        if not self._entries:
            raise DataError(f'no depth PNGs in {depth_dir}')
        self._selected = self.options.select(len(self._entries))

    def _load(self, index: int) -> Frame:
        number, png, params = self._entries[index]
        values = _read_sixteen(params)
        pose = synthia_to_zup_pose(values.reshape(4, 4).T, params, self.options.camera_axes,
                                   self.options.translation_scale)
        raw = load_png16(png, channels=3)[..., 0]
        if raw.shape != (self.camera.height, self.camera.width):
            raise DataError(f'depth {raw.shape} does not match the camera '
                            f'{self.camera.height}x{self.camera.width}: {png}')
        depth = np.where(raw > 0, raw / self.options.depth_scale, np.nan)
        if self.options.max_depth is not None:
            depth[depth > self.options.max_depth] = np.nan
        return Frame(stamp=number / self.options.fps, camera=self.camera, camera_to_world=pose,
                     depth=depth.astype(np.float32))


def _read_sixteen(path: Path) -> np.ndarray:
    """A CameraParams file -> (16,) float64 (numbers separated by spaces, commas or newlines)."""
    try:
        values = np.asarray(path.read_text(encoding='utf-8').replace(',', ' ').split(),
                            dtype=np.float64)
    except ValueError as exc:
        raise DataError(f'non-numeric camera parameters in {path}: {exc}') from None
    if values.size != 16:
        raise DataError(f'expected 16 numbers, got {values.size}: {path}')
    return values
