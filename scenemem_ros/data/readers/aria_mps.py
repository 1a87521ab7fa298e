"""Project Aria MPS reader (HD-EPIC, Ego-Exo4D): point-only frames, (N, 3) world points + poses.

There is no depth camera: each frame carries the device pose and the semi-dense points observed
around that time, and the memory trains from points + poses.

Layout (an MPS SLAM folder; ``slam/`` or ``trajectory/`` sub-folders are searched too)::

    closed_loop_trajectory.csv      graph_uid, tracking_timestamp_us, utc_timestamp_ns,
                                    tx/ty/tz/qx/qy/qz/qw_world_device, ..., gravity_x/y/z_world
    semidense_points.csv.gz         uid, graph_uid, px/py/pz_world, inv_dist_std, dist_std
    semidense_observations.csv.gz   uid, frame_tracking_timestamp_us, camera_serial, u, v
                                    (optional)

Ego-Exo4D (:class:`EgoExo4DReader`) keeps the same files under ``takes/<take>/trajectory/``
next to ``gopro_calibs.csv`` (static GoPro cameras, parsed into :class:`StaticCamera`).

Conventions (verified with the `search` tool in the Project Aria docs "MPS Output -
Trajectory", "MPS Output - Semi-Dense Point Cloud", "3D Coordinate Frame Conventions",
"Ego-Exo4D Data Format and Loader", and in the reference readers of facebookresearch/
projectaria_tools ``core/mps/TrajectoryReaders.cpp``, ``GlobalPointCloudReader.cpp``,
``PointObservationReader.cpp``, ``StaticCameraCalibrationReader.cpp``):

* Poses: ``{t,q}_world_device`` is T_world_device (device -> world), quaternion x, y, z, w
  (Hamilton, as Eigen/Sophus; the reader builds ``Sophus::SE3d(q, t)`` from those columns).
  The "device" frame is the local frame of the left SLAM camera: z along its optical axis and
  x/y along its image axes, so it is used as the Frame's optical frame. The closed-loop world
  is gravity aligned (z up); when the ``gravity_*_world`` columns exist the reader checks they
  point along -z and raises DataError otherwise. Poses come at IMU rate (~1 kHz) and are
  sampled at ``sample_rate_hz`` (nearest pose to a regular grid).
* Timestamps: ``tracking_timestamp_us``, the device clock in microseconds (monotonic, arbitrary
  origin) -> seconds. Must be sorted (DataError otherwise).
* Points: world-frame metres in the closed-loop frame; the docs' nominal quality thresholds are
  max ``inv_dist_std`` 0.005 and max ``dist_std`` 0.01 (the defaults here). Only points of the
  trajectory's main ``graph_uid`` are used.
* Per-frame points: with observations, the points whose ``frame_tracking_timestamp_us`` lies
  within ``observation_window`` seconds of the frame time (the SLAM camera frames that saw
  them); without, the points inside a nominal pinhole frustum of the device camera within
  ``max_range`` metres.
* Static cameras (gopro_calibs.csv): ``{t,q}_world_cam`` is T_world_cam, camera optical axes,
  ``intrinsics_type`` KANNALABRANDTK3 with ``intrinsics_0..7`` = fx, fy, cx, cy, kb0..kb3;
  ``start/end_frame_idx`` -1 when the pose holds for the whole video.
"""

from __future__ import annotations

from collections import Counter
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
    find_first,
    float_columns,
    make_options,
    pose_from_xyz_quat,
    read_csv_columns,
    require_dir,
    visible_points,
)
from scenemem_ros.geometry.camera import PinholeCamera

TRAJECTORY = 'closed_loop_trajectory.csv'
POINTS = 'semidense_points.csv.gz'
OBSERVATIONS = 'semidense_observations.csv.gz'
GOPRO_CALIBS = 'gopro_calibs.csv'
_POSE_COLUMNS = [f'{a}_world_device' for a in ('tx', 'ty', 'tz', 'qx', 'qy', 'qz', 'qw')]
_GRAVITY_COLUMNS = ('gravity_x_world', 'gravity_y_world', 'gravity_z_world')
#: Nominal pinhole stand-in for the (fisheye) 640x480 Aria SLAM camera, used for frustums only.
ARIA_SLAM_CAMERA = PinholeCamera.from_fov(640, 480, 110.0)


@dataclass(frozen=True)
class AriaMpsOptions(SubsampleOptions):
    """Options of :class:`AriaMpsReader` (plus start / stride / max_frames / world_frame).

    Attributes:
        sample_rate_hz: poses per second taken from the ~1 kHz trajectory (> 0).
        max_inv_dist_std: keep points with inv_dist_std at most this (docs' nominal 0.005).
        max_dist_std: keep points with dist_std at most this, metres (docs' nominal 0.01).
        use_observations: take per-frame points from semidense_observations.csv.gz if present.
        observation_window: seconds either side of a frame whose observations count (> 0).
        max_range: frustum fallback range in metres (> 0).
        camera: pinhole used for the frame's camera and the frustum fallback.
        max_gravity_angle_deg: largest angle between gravity_world and -z (> 0).
    """

    sample_rate_hz: float = 5.0
    max_inv_dist_std: float = 0.005
    max_dist_std: float = 0.01
    use_observations: bool = True
    observation_window: float = 0.1
    max_range: float = 6.0
    camera: PinholeCamera = ARIA_SLAM_CAMERA
    max_gravity_angle_deg: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, sample_rate_hz=self.sample_rate_hz,
                       max_inv_dist_std=self.max_inv_dist_std, max_dist_std=self.max_dist_std,
                       observation_window=self.observation_window, max_range=self.max_range,
                       max_gravity_angle_deg=self.max_gravity_angle_deg)


@dataclass(frozen=True)
class StaticCamera:
    """A calibrated static (exo) camera of gopro_calibs.csv.

    Attributes:
        cam_uid, graph_uid: camera and world-frame identifiers.
        world_from_camera: (4, 4) float64 pose of the optical frame in the MPS world.
        width, height: image size in pixels.
        intrinsics_type: 'KANNALABRANDTK3'.
        intrinsics: (8,) fx, fy, cx, cy, kb0, kb1, kb2, kb3.
        start_frame_idx, end_frame_idx: video frames the pose holds for (None: whole video).
    """

    cam_uid: str
    graph_uid: str
    world_from_camera: np.ndarray
    width: int
    height: int
    intrinsics_type: str
    intrinsics: np.ndarray
    start_frame_idx: int | None
    end_frame_idx: int | None

    def pinhole(self) -> PinholeCamera:
        """The KB3 model's pinhole part (distortion dropped: only valid near the centre)."""
        fx, fy, cx, cy = (float(v) for v in self.intrinsics[:4])
        return PinholeCamera(fx=fx, fy=fy, cx=cx, cy=cy, width=self.width, height=self.height)


def mps_folder(path: Path) -> Path:
    """The folder holding closed_loop_trajectory.csv: ``path``, ``path/slam`` or
    ``path/trajectory``."""
    require_dir(path, 'MPS folder')
    return find_first(path, [TRAJECTORY, f'slam/{TRAJECTORY}', f'trajectory/{TRAJECTORY}'],
                      'closed-loop trajectory').parent


class AriaMpsReader(IndexedSource):
    """Point-only frames of one Aria MPS recording (see the module docstring)."""

    Options = AriaMpsOptions

    def __init__(self, path: str | Path, options: AriaMpsOptions | None = None, **overrides):
        self.folder = mps_folder(Path(path))
        self.options = make_options(AriaMpsOptions, options, overrides)
        root = Path(path)
        self.name = root.name if root.name not in ('slam', 'trajectory') else root.parent.name
        self.world_frame = self.options.world_frame
        self.camera = self.options.camera
        self._read_trajectory(self.folder / TRAJECTORY)
        self.points, point_uids = self._read_points(self.folder / POINTS)
        self._observations = None
        observations = self.folder / OBSERVATIONS
        if self.options.use_observations and observations.is_file():
            self._observations = self._read_observations(observations, point_uids)
        self._selected = self.options.select(len(self._rows))

    def _read_trajectory(self, path: Path) -> None:
        columns = read_csv_columns(path, ['graph_uid', 'tracking_timestamp_us', *_POSE_COLUMNS],
                                   optional=_GRAVITY_COLUMNS)
        stamps = float_columns(columns, ['tracking_timestamp_us'], path)[:, 0] * 1e-6
        if len(stamps) == 0:
            raise DataError(f'no poses in {path}')
        check_sorted(stamps, path)
        graphs = np.asarray([str(g).strip() for g in columns['graph_uid']])
        self.graph_uid = Counter(graphs.tolist()).most_common(1)[0][0]
        keep = graphs == self.graph_uid
        self._stamps = stamps[keep]
        self._pose_values = float_columns(columns, _POSE_COLUMNS, path)[keep]
        if not np.isfinite(self._pose_values).all():
            raise DataError(f'non-finite pose values in {path}')
        self._trajectory_path = path
        if all(name in columns for name in _GRAVITY_COLUMNS):
            gravity = float_columns(columns, list(_GRAVITY_COLUMNS), path)[keep].mean(axis=0)
            norm = np.linalg.norm(gravity)
            angle = np.degrees(np.arccos(np.clip(-gravity[2] / max(norm, 1e-12), -1.0, 1.0)))
            if norm < 1e-6 or angle > self.options.max_gravity_angle_deg:
                raise DataError(f'world frame of {path} is not z-up: mean gravity {gravity} is '
                                f'{angle:.1f} deg from -z')
        period = 1.0 / self.options.sample_rate_hz
        grid = np.arange(self._stamps[0], self._stamps[-1] + 0.5 * period, period)
        nearest = associate_nearest(grid, self._stamps, 0.5 * period)
        self._rows = np.unique(nearest[nearest >= 0])

    def _read_points(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        columns = read_csv_columns(path, ['uid', 'graph_uid', 'px_world', 'py_world', 'pz_world',
                                          'inv_dist_std', 'dist_std'])
        values = float_columns(columns, ['px_world', 'py_world', 'pz_world', 'inv_dist_std',
                                         'dist_std'], path)
        graphs = np.asarray([str(g).strip() for g in columns['graph_uid']])
        keep = ((graphs == self.graph_uid) & np.isfinite(values).all(axis=1)
                & (values[:, 3] <= self.options.max_inv_dist_std)
                & (values[:, 4] <= self.options.max_dist_std))
        uids = np.asarray(columns['uid'], dtype=np.int64)[keep]
        order = np.argsort(uids, kind='stable')
        return values[keep][order, :3].astype(np.float32), uids[order]

    def _read_observations(self, path: Path, point_uids: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """-> ((K,) sorted observation stamps in s, (K,) row into self.points, -1 if filtered)."""
        columns = read_csv_columns(path, ['uid', 'frame_tracking_timestamp_us'])
        stamps = float_columns(columns, ['frame_tracking_timestamp_us'], path)[:, 0] * 1e-6
        uids = np.asarray(columns['uid'], dtype=np.int64)
        order = np.argsort(stamps, kind='stable')
        stamps, uids = stamps[order], uids[order]
        if len(point_uids) == 0:
            return stamps, np.full(len(uids), -1, dtype=np.int64)
        rows = np.clip(np.searchsorted(point_uids, uids), 0, len(point_uids) - 1)
        found = point_uids[rows] == uids
        return stamps, np.where(found, rows, -1)

    def _load(self, index: int) -> Frame:
        row = self._rows[index]
        stamp = float(self._stamps[row])
        pose = pose_from_xyz_quat(self._pose_values[row], self._trajectory_path)
        if self._observations is not None:
            obs_stamps, obs_rows = self._observations
            window = self.options.observation_window
            lo, hi = np.searchsorted(obs_stamps, [stamp - window, stamp + window], side='left')
            hits = obs_rows[lo:hi]
            points = self.points[np.unique(hits[hits >= 0])]
        else:
            points = visible_points(self.points, pose, self.camera, self.options.max_range)
        return Frame(stamp=stamp, camera=self.camera, camera_to_world=pose,
                     points=points.reshape(-1, 3), frame_id='aria_device')


def read_static_cameras(path: Path) -> dict[str, StaticCamera]:
    """gopro_calibs.csv -> {cam_uid: StaticCamera} (see the module docstring)."""
    names = ['cam_uid', 'graph_uid', 'tx_world_cam', 'ty_world_cam', 'tz_world_cam',
             'qx_world_cam', 'qy_world_cam', 'qz_world_cam', 'qw_world_cam', 'image_width',
             'image_height', 'intrinsics_type', *[f'intrinsics_{i}' for i in range(8)],
             'start_frame_idx', 'end_frame_idx']
    columns = read_csv_columns(path, names)
    poses = pose_from_xyz_quat(float_columns(columns, names[2:9], path), path)
    intrinsics = float_columns(columns, names[12:20], path)
    sizes = float_columns(columns, ['image_width', 'image_height', 'start_frame_idx',
                                    'end_frame_idx'], path).astype(np.int64)
    cameras: dict[str, StaticCamera] = {}
    for i, uid in enumerate(columns['cam_uid']):
        kind = str(columns['intrinsics_type'][i]).strip()
        if kind != 'KANNALABRANDTK3':
            raise DataError(f'{path} row {i + 2}: unsupported intrinsics_type {kind!r}')
        width, height, start, end = (int(v) for v in sizes[i])
        if width <= 0 or height <= 0 or not np.isfinite(intrinsics[i]).all():
            raise DataError(f'{path} row {i + 2}: bad image size or intrinsics')
        if not ((start == -1 and end == -1) or (0 <= start <= end)):
            raise DataError(f'{path} row {i + 2}: bad frame range {start}..{end}')
        cameras[str(uid).strip()] = StaticCamera(
            cam_uid=str(uid).strip(), graph_uid=str(columns['graph_uid'][i]).strip(),
            world_from_camera=poses[i], width=width, height=height, intrinsics_type=kind,
            intrinsics=intrinsics[i].copy(), start_frame_idx=None if start < 0 else start,
            end_frame_idx=None if end < 0 else end)
    return cameras


class EgoExo4DReader(AriaMpsReader):
    """Aria MPS frames of one Ego-Exo4D take, plus its static GoPro cameras.

    ``path`` is ``takes/<take>`` (or its ``trajectory/`` folder). ``static_cameras`` maps
    cam_uid -> :class:`StaticCamera`; empty when gopro_calibs.csv is absent.
    """

    def __init__(self, path: str | Path, options: AriaMpsOptions | None = None, **overrides):
        super().__init__(path, options, **overrides)
        calibs = self.folder / GOPRO_CALIBS
        self.static_cameras = read_static_cameras(calibs) if calibs.is_file() else {}
        for camera in self.static_cameras.values():
            if camera.graph_uid != self.graph_uid:
                raise DataError(f'{calibs}: camera {camera.cam_uid} is in graph '
                                f'{camera.graph_uid}, the trajectory in {self.graph_uid}')
