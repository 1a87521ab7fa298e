"""A small box room with a table, rendered exactly, for memory tests (no world generator)."""

import numpy as np
import open3d as o3d
import pytest

from scenemem_ros.data.frame import Frame
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.transforms import look_at

ROOM_SIZE = (4.0, 3.0, 2.5)
TABLE_MIN, TABLE_MAX = (1.5, 1.0, 0.0), (2.5, 1.6, 0.75)


def room_mesh() -> o3d.geometry.TriangleMesh:
    room = o3d.geometry.TriangleMesh.create_box(*ROOM_SIZE)
    room.triangles = o3d.utility.Vector3iVector(np.asarray(room.triangles)[:, ::-1].copy())
    table = o3d.geometry.TriangleMesh.create_box(
        *(np.subtract(TABLE_MAX, TABLE_MIN))).translate(TABLE_MIN)
    return room + table


def render_frames(mesh: o3d.geometry.TriangleMesh, count: int, width: int = 80,
                  height: int = 60) -> list[Frame]:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    camera = PinholeCamera.from_fov(width, height, 80.0)
    rays = camera.rays().numpy().reshape(-1, 3)
    frames = []
    for index in range(count):
        angle = 2 * np.pi * index / count
        eye = np.array([2.0 + 1.2 * np.cos(angle), 1.5 + 0.8 * np.sin(angle), 1.3])
        target = eye + np.array([np.cos(1.7 * angle), np.sin(1.7 * angle), -0.35])
        pose = look_at(eye, target)
        directions = rays @ pose[:3, :3].T
        query = np.concatenate([np.broadcast_to(eye, directions.shape), directions], 1)
        depth = scene.cast_rays(o3d.core.Tensor(query.astype(np.float32)))['t_hit'].numpy()
        frames.append(Frame(stamp=0.1 * index, camera=camera, camera_to_world=pose,
                            depth=depth.reshape(height, width)))
    return frames


@pytest.fixture(scope='session')
def box_room_frames() -> list[Frame]:
    return render_frames(room_mesh(), 24)


@pytest.fixture(scope='session')
def trained_room(box_room_frames):
    """A memory fitted briefly to the box room: (field, report)."""
    import torch

    from scenemem_ros.memory.config import FieldConfig, TrainConfig
    from scenemem_ros.memory.field import SceneMemoryField
    from scenemem_ros.memory.train import fit_scene

    torch.manual_seed(0)
    field = SceneMemoryField(FieldConfig())
    config = TrainConfig(steps=250, rays_per_step=2048, rays_per_frame=3000, device='cpu',
                         checkpoint_every=0)
    report = fit_scene(field, 'room', box_room_frames, config, progress=False)
    return field, report
