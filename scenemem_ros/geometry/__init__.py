"""Cameras, poses, back-projection, voxels and ray traversal (torch / numpy, no ROS).

Names are loaded on first use (PEP 562), so ``from scenemem_ros.geometry.voxels import VoxelGrid``
(or ``scenemem_ros.geometry.GridSpec2D``) does not import torch through the other modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scenemem_ros.geometry.camera import (
        PinholeCamera,
        depth_to_points,
        intrinsics_tensor,
        valid_points,
    )
    from scenemem_ros.geometry.errors import GeometryError
    from scenemem_ros.geometry.raycast import (
        RayCounts,
        RayTraversal,
        free_and_occupied_counts,
        traverse_rays,
        visible_voxels,
    )
    from scenemem_ros.geometry.transforms import (
        BODY_FROM_OPTICAL,
        OPTICAL_FROM_BODY,
        Pose,
        body_to_optical_pose,
        compose,
        euler_to_matrix,
        invert_rigid,
        is_rigid,
        look_at,
        matrix_to_pose,
        matrix_to_quaternion,
        matrix_to_yaw_pitch_roll,
        optical_to_body_pose,
        orthonormalize,
        pose_to_matrix,
        quaternion_to_matrix,
        transform_points,
        wxyz_to_xyzw,
        xyzw_to_wxyz,
        yaw_pitch_roll_to_matrix,
    )
    from scenemem_ros.geometry.voxels import GridSpec2D, VoxelGrid

_MODULES = {
    'BODY_FROM_OPTICAL': 'transforms',
    'GeometryError': 'errors',
    'GridSpec2D': 'voxels',
    'OPTICAL_FROM_BODY': 'transforms',
    'PinholeCamera': 'camera',
    'Pose': 'transforms',
    'RayCounts': 'raycast',
    'RayTraversal': 'raycast',
    'VoxelGrid': 'voxels',
    'body_to_optical_pose': 'transforms',
    'compose': 'transforms',
    'depth_to_points': 'camera',
    'euler_to_matrix': 'transforms',
    'free_and_occupied_counts': 'raycast',
    'intrinsics_tensor': 'camera',
    'invert_rigid': 'transforms',
    'is_rigid': 'transforms',
    'look_at': 'transforms',
    'matrix_to_pose': 'transforms',
    'matrix_to_quaternion': 'transforms',
    'matrix_to_yaw_pitch_roll': 'transforms',
    'optical_to_body_pose': 'transforms',
    'orthonormalize': 'transforms',
    'pose_to_matrix': 'transforms',
    'quaternion_to_matrix': 'transforms',
    'transform_points': 'transforms',
    'traverse_rays': 'raycast',
    'valid_points': 'camera',
    'visible_voxels': 'raycast',
    'wxyz_to_xyzw': 'transforms',
    'xyzw_to_wxyz': 'transforms',
    'yaw_pitch_roll_to_matrix': 'transforms',
}

__all__ = [
    'BODY_FROM_OPTICAL',
    'OPTICAL_FROM_BODY',
    'GeometryError',
    'GridSpec2D',
    'PinholeCamera',
    'Pose',
    'RayCounts',
    'RayTraversal',
    'VoxelGrid',
    'body_to_optical_pose',
    'compose',
    'depth_to_points',
    'euler_to_matrix',
    'free_and_occupied_counts',
    'intrinsics_tensor',
    'invert_rigid',
    'is_rigid',
    'look_at',
    'matrix_to_pose',
    'matrix_to_quaternion',
    'matrix_to_yaw_pitch_roll',
    'optical_to_body_pose',
    'orthonormalize',
    'pose_to_matrix',
    'quaternion_to_matrix',
    'transform_points',
    'traverse_rays',
    'valid_points',
    'visible_voxels',
    'wxyz_to_xyzw',
    'xyzw_to_wxyz',
    'yaw_pitch_roll_to_matrix',
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{module}'), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
