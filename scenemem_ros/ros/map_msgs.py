"""(X, Y) occupancy arrays <-> nav_msgs/OccupancyGrid.

Our arrays index cells as (x, y); OccupancyGrid stores row-major with rows along y (cell (x, y)
at ``y * width + x``), row 0 at the bottom, ``info.origin`` the corner of cell (0, 0).
"""

from __future__ import annotations

import numpy as np
from nav_msgs.msg import OccupancyGrid

from scenemem_ros.data.errors import DataError
from scenemem_ros.geometry.voxels import GridSpec2D
from scenemem_ros.ros.conversions import seconds_to_stamp


def grid_to_occupancy_msg(spec: GridSpec2D, cells: np.ndarray, frame_id: str, stamp: float,
                          height: float = 0.0) -> OccupancyGrid:
    """(X, Y) int8 cells (-1, 0..100) -> OccupancyGrid."""
    if cells.shape != tuple(spec.shape):
        raise DataError(f'grid cells {cells.shape} do not match the spec {spec.shape}')
    msg = OccupancyGrid()
    msg.header.frame_id = frame_id
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.info.map_load_time = msg.header.stamp
    msg.info.resolution = float(spec.resolution)
    msg.info.width, msg.info.height = int(spec.shape[0]), int(spec.shape[1])
    msg.info.origin.position.x, msg.info.origin.position.y = (float(v) for v in spec.origin)
    msg.info.origin.position.z = float(height)
    msg.info.origin.orientation.w = 1.0
    msg.data = np.ascontiguousarray(cells.T, dtype=np.int8).tobytes()
    return msg


def occupancy_msg_to_grid(msg: OccupancyGrid) -> tuple[GridSpec2D, np.ndarray]:
    """OccupancyGrid -> (spec, (X, Y) int8 cells); refuses rotated or inconsistent maps."""
    width, height = int(msg.info.width), int(msg.info.height)
    if width == 0 or height == 0:
        raise DataError('OccupancyGrid is empty (width or height 0)')
    if len(msg.data) != width * height:
        raise DataError(f'OccupancyGrid data holds {len(msg.data)} cells, expected '
                        f'{width}x{height}')
    q = msg.info.origin.orientation
    if abs(q.x) > 1e-6 or abs(q.y) > 1e-6 or abs(q.z) > 1e-6:
        raise DataError('OccupancyGrid origin is rotated; only axis-aligned maps are supported')
    data = np.frombuffer(bytes(np.asarray(msg.data, dtype=np.int8).tobytes()), dtype=np.int8)
    cells = data.reshape(height, width).T.copy()
    spec = GridSpec2D(origin=(msg.info.origin.position.x, msg.info.origin.position.y),
                      resolution=float(msg.info.resolution), shape=(width, height))
    return spec, cells
