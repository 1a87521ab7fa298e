"""Exports of recorded sequences to learning-ready datasets (numpy only, no ROS).

``scenemem export occupancy`` turns posed depth (or point) frames into per-frame egocentric
occupancy and visibility masks in the layout L3ROcc publishes for LeRobotDataset v2.1::

    export = compute_occupancy(frames, OccupancyExportConfig())
    write_episode(export, 'out/trajectory_0')
    again = read_episode('out/trajectory_0')
"""

from scenemem_ros.export.config import L3ROCC_PC_RANGE, OccupancyExportConfig
from scenemem_ros.export.errors import ExportError
from scenemem_ros.export.lerobot import read_episode, write_episode
from scenemem_ros.export.occupancy import OccupancyExport, compute_occupancy, world_from_ego

__all__ = ['L3ROCC_PC_RANGE', 'ExportError', 'OccupancyExport', 'OccupancyExportConfig',
           'compute_occupancy', 'read_episode', 'world_from_ego', 'write_episode']
