"""Any dataset reader -> a rosbag2 recording on the node's default topics (``scenemem convert``).

The bag is the one :func:`scenemem_ros.data.bag.write_sequence_bag` writes (sqlite3 or mcap,
metadata version 8, depth + camera info + ``PoseStamped`` of the optical frame in ``map``, bag
time = header stamp, reliable/volatile QoS), so ``ros2 bag play`` and ``scenemem bag play`` feed
it to the nodes as is. Frames are streamed from the reader one at a time, so a dataset larger
than memory converts too.

Point-only datasets (HD-EPIC / Ego-Exo4D semi-dense points, InternData-N1 cloud points) have no
depth camera. Their points are rendered into a *sparse* depth image of the frame's (virtual,
pinhole) camera: each point in front of the camera lands on its nearest pixel, the nearest point
wins where several share one, and every other pixel is invalid (NaN / 0). Nothing is
interpolated, so the depth holds exactly the observed geometry; the memory trains from it like
from any depth (one ray per valid pixel).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from scenemem_ros.data import bag as bagmod
from scenemem_ros.data.bag import (
    BAG_VERSION,
    CAMERA_INFO_TYPE,
    DEPTH_QOS,
    IMAGE_TYPE,
    POSE_QOS,
    POSE_TYPE,
    STORAGES,
    BagTopics,
    stamp_to_ns,
)
from scenemem_ros.data.depth_codec import ENCODABLE_ENCODINGS, ENCODING_32FC1, encode_depth
from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import Frame
from scenemem_ros.geometry.camera import PinholeCamera


def render_points_depth(points: np.ndarray, camera: PinholeCamera,
                        camera_to_world: np.ndarray) -> np.ndarray:
    """(N, 3) world points -> (H, W) float32 sparse z-depth of ``camera`` at ``camera_to_world``.

    Each point in front of the camera (z > 1 mm) is rounded to its nearest pixel; the smallest
    depth wins per pixel; pixels without a point are NaN.
    """
    pose = np.asarray(camera_to_world, dtype=np.float64)
    local = (np.asarray(points, dtype=np.float64).reshape(-1, 3) - pose[:3, 3]) @ pose[:3, :3]
    z = local[:, 2]
    front = z > 1e-3
    local, z = local[front], z[front]
    u = np.rint(camera.fx * local[:, 0] / z + camera.cx).astype(np.int64)
    v = np.rint(camera.fy * local[:, 1] / z + camera.cy).astype(np.int64)
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    depth = np.full(camera.height * camera.width, np.inf)
    np.minimum.at(depth, v[inside] * camera.width + u[inside], z[inside])
    depth[~np.isfinite(depth)] = np.nan
    return depth.reshape(camera.height, camera.width).astype(np.float32)


def with_depth(frame: Frame) -> Frame:
    """``frame`` itself if it has depth, else a copy with its points rendered as sparse depth."""
    if frame.depth is not None:
        return frame
    assert frame.points is not None
    depth = render_points_depth(frame.points, frame.camera, frame.camera_to_world)
    return Frame(stamp=frame.stamp, camera=frame.camera, camera_to_world=frame.camera_to_world,
                 depth=depth, frame_id=frame.frame_id)


@dataclass(frozen=True)
class ConvertOptions:
    """How :func:`convert_to_bag` writes.

    Attributes:
        depth_encoding: '32FC1' (float metres, exact) or '16UC1' (millimetres).
        storage: 'sqlite3' (every distro plays it) or 'mcap'.
        topics: topic names; the node's defaults unless changed.
        overwrite: replace an existing bag.
    """

    depth_encoding: str = ENCODING_32FC1
    storage: str = 'sqlite3'
    topics: BagTopics = BagTopics()
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.depth_encoding not in ENCODABLE_ENCODINGS:
            raise DataError(f'ConvertOptions.depth_encoding must be one of '
                            f'{list(ENCODABLE_ENCODINGS)}, got {self.depth_encoding!r}')
        if self.storage not in STORAGES:
            raise DataError(f'ConvertOptions.storage must be one of {list(STORAGES)}, got '
                            f'{self.storage!r}')
        if not isinstance(self.topics, BagTopics):
            raise DataError(f'ConvertOptions.topics must be a BagTopics, got '
                            f'{type(self.topics).__name__}')


class ConvertReport(NamedTuple):
    """What :func:`convert_to_bag` wrote.

    Attributes:
        path: the bag directory.
        frames: frames written.
        rendered: of them, point-only frames rendered as sparse depth.
        valid_pixel_share: mean share of valid depth pixels per frame.
        start, end: first and last stamp (s).
    """

    path: Path
    frames: int
    rendered: int
    valid_pixel_share: float
    start: float
    end: float


def convert_to_bag(frames: Iterable[Frame], path: str | os.PathLike[str], world_frame: str,
                   options: ConvertOptions = ConvertOptions()) -> ConvertReport:
    """Stream frames (depth or point-only) into a rosbag2 bag directory at ``path``.

    Frames must come in non-decreasing stamp order with stamps >= 0. The bag is staged in a
    temporary sibling directory and moved into place at the end, so ``path`` never holds a
    half-written bag.

    Raises:
        DataError: an existing ``path`` without ``overwrite``, no frames, unordered or negative
            stamps, or a failure while writing.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    target = Path(path)
    if target.suffix == '.bag':
        raise DataError(f'{target}: a rosbag2 directory must not end in .bag (read as ROS 1)')
    if (target.exists() or target.is_symlink()) and not options.overwrite:
        raise DataError(f'{target} exists already; pass overwrite to replace it')
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f'.{target.name}.', suffix='.partial',
                                        dir=target.parent))
    except OSError as exc:
        raise DataError(f'{target}: cannot create the bag: {exc}') from exc
    plugin = StoragePlugin.SQLITE3 if options.storage == 'sqlite3' else StoragePlugin.MCAP
    typestore = bagmod._typestore()
    types = typestore.types
    topics = options.topics
    count = rendered = 0
    valid_share = 0.0
    start = end = 0.0
    try:
        staged = staging / target.name
        try:
            with Writer(staged, version=BAG_VERSION, storage_plugin=plugin) as writer:
                pose_conn = writer.add_connection(topics.pose, POSE_TYPE, typestore=typestore,
                                                  offered_qos_profiles=[POSE_QOS])
                info_conn = writer.add_connection(topics.camera_info, CAMERA_INFO_TYPE,
                                                  typestore=typestore,
                                                  offered_qos_profiles=[DEPTH_QOS])
                depth_conn = writer.add_connection(topics.depth, IMAGE_TYPE, typestore=typestore,
                                                   offered_qos_profiles=[DEPTH_QOS])
                for frame in frames:
                    if frame.stamp < 0:
                        raise DataError(f'{target}: frame {count} has a negative stamp '
                                        f'{frame.stamp}')
                    if count and frame.stamp < end:
                        raise DataError(f'{target}: frame {count} stamp {frame.stamp} is before '
                                        f'the previous one {end}')
                    rendered += frame.depth is None
                    frame = with_depth(frame)
                    assert frame.depth is not None
                    _write_frame(writer, typestore, types, (pose_conn, info_conn, depth_conn),
                                 frame, world_frame, options.depth_encoding)
                    valid_share += float(np.isfinite(frame.depth).mean())
                    start = frame.stamp if count == 0 else start
                    end = frame.stamp
                    count += 1
                if count == 0:
                    raise DataError(f'{target}: the source holds no frames to write')
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f'{target}: writing the bag failed: {type(exc).__name__}: '
                            f'{exc}') from exc
        bagmod._move_into_place(staged, target, staging, options.overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ConvertReport(path=target, frames=count, rendered=rendered,
                         valid_pixel_share=valid_share / count, start=start, end=end)


def _write_frame(writer: Any, typestore: Any, types: Any, connections: tuple[Any, Any, Any],
                 frame: Frame, world_frame: str, encoding: str) -> None:
    pose_conn, info_conn, depth_conn = connections
    assert frame.depth is not None
    ns = stamp_to_ns(frame.stamp)
    cam = frame.camera
    pose = bagmod._pose(types, frame.camera_to_world, bagmod._header(types, ns, world_frame))
    writer.write(pose_conn, ns, typestore.serialize_cdr(pose, POSE_TYPE))
    header = bagmod._header(types, ns, frame.frame_id)
    info = bagmod._camera_info(types, cam, header)
    writer.write(info_conn, ns, typestore.serialize_cdr(info, CAMERA_INFO_TYPE))
    data, step = encode_depth(frame.depth, encoding)
    image = types[IMAGE_TYPE](header=header, height=cam.height, width=cam.width,
                              encoding=encoding, is_bigendian=0, step=step, data=data)
    writer.write(depth_conn, ns, typestore.serialize_cdr(image, IMAGE_TYPE))


__all__ = ['ConvertOptions', 'ConvertReport', 'convert_to_bag', 'render_points_depth',
           'with_depth']
