"""InternData-N1 reader (LeRobotDataset v2.1 layout): point-only frames, (N, 3) world points
seen from each camera pose, plus the whole scene cloud.

Layout (one trajectory folder, e.g. ``traj_data/matterport3d_zed/<scene>/trajectory_1/``;
a folder above it is accepted when exactly one trajectory lies below)::

    meta/info.json                          codebase_version 'v2.1', fps, chunks_size,
                                            data_path template, declared features
    data/chunk-000/episode_000000.parquet   nested list<list<float>> columns per row:
                                            observation.camera_intrinsic (3x3),
                                            observation.camera_extrinsic (4x4), action (4x4)
    data/chunk-000/path.ply                 the scene's point cloud (x, y, z, r, g, b)

Conventions:

* Layout: LeRobot v2.1 resolves an episode's parquet as ``data_path.format(episode_chunk=
  episode_index // chunks_size, episode_index=...)`` with ``data_path`` from info.json (docs.rs
  rerun ``LeRobotDatasetInfo`` and LeRobot datasets on the Hub, found with `search`). Features
  declared in info.json but absent from the parquet (the real example declares ``timestamp``,
  ``frame_index``, ``episode_index``, ``task_index`` and 104 frames, yet holds 52 rows and only
  ``index`` + the three matrices) are tolerated and listed in ``missing_columns``.
* Timestamps: the ``timestamp`` column when present, else ``frame_index / fps``, else
  ``row / fps`` with ``fps`` from info.json.
* Poses: ``action`` is the camera-to-world pose in a z-up world with OpenGL camera axes
  (x right, y up, z backward); ``observation.camera_extrinsic`` is the fixed base-to-camera
  mount (camera 0.4365 m above the base, rotated +90 deg about x), so
  ``world_from_base = action @ inv(camera_extrinsic)`` and the optical pose is
  ``action @ diag(1, -1, -1, 1)``. Checked on the real example in ../shared/data (see
  test_readers_interndata.py): the derived base lies on the floor of path.ply (z -3.06 vs
  floor -3.07) with a yaw-only rotation; the camera sits 0.44 m above the floor, looking
  horizontally along the direction of travel. Composing ``action @ camera_extrinsic`` instead
  would look straight down, so it is not used. A public InternNav/L3ROcc-based note found
  with `find_string` likewise converts N1 actions with ``cam2world_gl`` / ``diag(1, -1, -1)``.
* Intrinsics: ``observation.camera_intrinsic`` 3x3 K per row (fx 168.05, fy 192.80, cx 240,
  cy 135 in the example: the 480x270 video); the image size is the options', else the
  ``image.width`` / ``image.height`` in that feature's ``info`` (``scenemem export occupancy``
  writes them), else (2 cx, 2 cy).
* Points: no depth; each frame carries the points of path.ply inside its camera frustum within
  ``max_range`` metres, optionally thinned by open3d hidden-point removal. ``cloud`` is the
  whole (N, 3) cloud.
"""

from __future__ import annotations

import json
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
    check_sorted,
    make_options,
    require_dir,
    require_file,
    visible_points,
)
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.errors import GeometryError
from scenemem_ros.geometry.transforms import invert_rigid

INTRINSIC = 'observation.camera_intrinsic'
EXTRINSIC = 'observation.camera_extrinsic'
ACTION = 'action'


@dataclass(frozen=True)
class InternDataOptions(SubsampleOptions):
    """Options of :class:`InternDataReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        episode_index: which episode of the trajectory folder (>= 0).
        cloud_file: the scene cloud, relative to the episode's parquet folder.
        max_range: keep cloud points within this many metres of the camera (> 0).
        hidden_point_removal: also drop points occluded from the camera (open3d HPR).
        hpr_radius_factor: HPR spherical-flip radius as a multiple of the farthest point (> 0).
        width, height: image size; None derives it from the principal point (2 cx, 2 cy).
    """

    episode_index: int = 0
    cloud_file: str = 'path.ply'
    max_range: float = 5.0
    hidden_point_removal: bool = False
    hpr_radius_factor: float = 100.0
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.episode_index < 0:
            raise DataError(f'InternDataOptions.episode_index must be >= 0, '
                            f'got {self.episode_index!r}')
        check_positive(self, max_range=self.max_range, hpr_radius_factor=self.hpr_radius_factor,
                       width=self.width, height=self.height)


def read_info(folder: Path) -> dict:
    """meta/info.json as a dict, checked for the v2.x keys the reader needs."""
    path = require_file(folder / 'meta' / 'info.json', 'LeRobot info.json')
    try:
        info = json.loads(path.read_text(encoding='utf-8'))
    except json.JSONDecodeError as exc:
        raise DataError(f'bad JSON in {path}: {exc}') from None
    missing = [key for key in ('codebase_version', 'fps', 'data_path', 'features')
               if key not in info]
    if missing:
        raise DataError(f'{path} lacks {missing}')
    if not str(info['codebase_version']).startswith('v2'):
        raise DataError(f'{path}: expected a LeRobot v2.x dataset, got '
                        f'{info["codebase_version"]!r}')
    return info


def trajectory_folder(path: Path) -> Path:
    """The trajectory folder (the one holding ``meta/info.json``) at or below ``path``.

    ``path`` may be the trajectory itself or any folder above it (the dataset root, a scene)
    as long as exactly one trajectory lies below; several raise DataError listing them.
    """
    require_dir(path, 'InternData trajectory folder')
    if (path / 'meta' / 'info.json').is_file():
        return path
    found = sorted(info.parent.parent for info in path.glob('**/meta/info.json'))
    if len(found) == 1:
        return found[0]
    if not found:
        raise DataError(f'missing LeRobot info.json: {path / "meta" / "info.json"} (and no '
                        f'trajectory with meta/info.json below {path})')
    listed = ', '.join(str(f.relative_to(path)) for f in found[:5])
    more = f' and {len(found) - 5} more' if len(found) > 5 else ''
    raise DataError(f'{path} holds {len(found)} trajectories ({listed}{more}); '
                    f'pass one of them')


def _matrices(table, name: str, shape: tuple[int, int], path: Path) -> np.ndarray:
    try:
        values = np.asarray(table.column(name).to_pylist(), dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise DataError(f'column {name!r} of {path} is not a {shape} matrix per row: {exc}'
                        ) from None
    if values.shape[1:] != shape:
        raise DataError(f'column {name!r} of {path} has shape {values.shape[1:]}, '
                        f'expected {shape}')
    if not np.isfinite(values).all():
        raise DataError(f'column {name!r} of {path} holds non-finite values')
    return values


class InternDataReader(IndexedSource):
    """Point-only frames of one InternData-N1 trajectory (see the module docstring)."""

    Options = InternDataOptions

    def __init__(self, path: str | Path, options: InternDataOptions | None = None,
                 **overrides):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.folder = trajectory_folder(Path(path))
        self.options = make_options(InternDataOptions, options, overrides)
        self.world_frame = self.options.world_frame
        self.name = '/'.join(self.folder.resolve().parts[-2:])
        self.info = read_info(self.folder)
        check_positive(self, fps=float(self.info['fps']))
        episode = self.options.episode_index
        chunk = episode // int(self.info.get('chunks_size', 1000))
        self.parquet_path = require_file(self.folder / self.info['data_path'].format(
            episode_chunk=chunk, episode_index=episode), 'episode parquet')
        try:
            table = pq.read_table(self.parquet_path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f'cannot read {self.parquet_path}: {exc}') from exc
        for name in (INTRINSIC, EXTRINSIC, ACTION):
            if name not in table.column_names:
                raise DataError(f'{self.parquet_path} lacks required column {name!r}')
        self.missing_columns = sorted(set(self.info['features']) - set(table.column_names))
        self.declared_frames = int(self.info.get('total_frames', table.num_rows))
        self.intrinsics = _matrices(table, INTRINSIC, (3, 3), self.parquet_path)
        self.extrinsics = _matrices(table, EXTRINSIC, (4, 4), self.parquet_path)
        actions = _matrices(table, ACTION, (4, 4), self.parquet_path)
        for i, action in enumerate(actions):
            check_rigid(action, Path(f'{self.parquet_path} row {i} {ACTION}'))
            check_rigid(self.extrinsics[i], Path(f'{self.parquet_path} row {i} {EXTRINSIC}'))
        self.camera_poses = actions @ _gl_to_cv()
        self.base_poses = actions @ invert_rigid(self.extrinsics)
        self.stamps = self._stamps(table)
        self.cloud_path = self.parquet_path.parent / self.options.cloud_file
        self._cloud: np.ndarray | None = None
        self._selected = self.options.select(table.num_rows)

    def _stamps(self, table) -> np.ndarray:
        fps = float(self.info['fps'])
        if 'timestamp' in table.column_names:
            stamps = np.asarray(table.column('timestamp').to_pylist(), dtype=np.float64)
        elif 'frame_index' in table.column_names:
            stamps = np.asarray(table.column('frame_index').to_pylist(), dtype=np.float64) / fps
        else:
            stamps = np.arange(table.num_rows, dtype=np.float64) / fps
        stamps = stamps.reshape(-1)
        check_sorted(stamps, self.parquet_path)
        return stamps

    @property
    def cloud(self) -> np.ndarray:
        """(N, 3) float32 scene point cloud in the world frame (loaded once)."""
        if self._cloud is None:
            import open3d as o3d

            require_file(self.cloud_path, 'scene point cloud')
            points = np.asarray(o3d.io.read_point_cloud(self.cloud_path).points)
            if points.size == 0 or not np.isfinite(points).all():
                raise DataError(f'empty or non-finite point cloud: {self.cloud_path}')
            self._cloud = points.astype(np.float32)
        return self._cloud

    def camera(self, index: int) -> PinholeCamera:
        """The pinhole camera of row ``index``."""
        k = self.intrinsics[index]
        declared = self.info['features'].get(INTRINSIC, {}).get('info') or {}
        width = self.options.width or int(declared.get('image.width') or round(2 * k[0, 2]))
        height = self.options.height or int(declared.get('image.height') or round(2 * k[1, 2]))
        try:
            return PinholeCamera.from_matrix(k, width, height)
        except GeometryError as exc:
            raise DataError(f'bad intrinsics in {self.parquet_path} row {index}: {exc}') from exc

    def _load(self, index: int) -> Frame:
        camera = self.camera(index)
        pose = self.camera_poses[index]
        points = visible_points(self.cloud, pose, camera, self.options.max_range,
                                self.options.hidden_point_removal,
                                self.options.hpr_radius_factor)
        return Frame(stamp=float(self.stamps[index]), camera=camera, camera_to_world=pose,
                     points=points, frame_id='camera_optical_frame')


def _gl_to_cv() -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = OPENGL_TO_OPENCV
    return matrix
