"""The World: instances plus layout, with ground-truth queries and persistence.

A world is immutable; scripted changes build a new one. The combined mesh and the Open3D ray
casting scene are built on first use and cached on the object.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import open3d as o3d

from scenemem_ros.world.config import (
    CompositionConfig,
    WorldConfig,
    config_from_dict,
    config_to_dict,
)
from scenemem_ros.world.elements import Box, Instance, Layout
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.mesh import TriMesh, concatenate
from scenemem_ros.world.occupancy import (
    OccupancyGrid2D,
    VoxelGrid,
    grid_shape,
    solid_voxels,
    surface_voxels,
)

FORMAT_VERSION = 1
METADATA_FILE = 'world.json'
MESH_FILE = 'mesh.ply'
INSTANCE_IDS_FILE = 'triangle_instance_ids.npy'
CONFIG_TYPES = {'apartment': WorldConfig, 'composition': CompositionConfig}


@dataclass(frozen=True, eq=False)
class World:
    """A procedural scene with its ground truth.

    Attributes:
        seed: the seed it was generated from.
        kind: 'apartment' (rooms, walls, doorways) or 'composition' (objects on a floor).
        config: ``WorldConfig`` for apartments, ``CompositionConfig`` for compositions.
        instances: every object, structure included, sorted by id.
        layout: rooms and doorways (empty for compositions).
    """

    seed: int
    kind: str
    config: WorldConfig | CompositionConfig
    instances: tuple[Instance, ...]
    layout: Layout = Layout()

    def __post_init__(self) -> None:
        if self.kind not in CONFIG_TYPES:
            raise WorldError(f'World.kind must be one of {sorted(CONFIG_TYPES)}, '
                             f'got {self.kind!r}')
        instances = tuple(sorted(self.instances, key=lambda i: i.id))
        ids = [i.id for i in instances]
        if len(set(ids)) != len(ids):
            raise WorldError('World.instances have duplicate ids')
        object.__setattr__(self, 'instances', instances)

    # --- instances -------------------------------------------------------------------------
    def instance(self, instance_id: int) -> Instance:
        """The instance with this id."""
        for instance in self.instances:
            if instance.id == instance_id:
                return instance
        raise WorldError(f'no instance with id {instance_id}')

    @property
    def objects(self) -> tuple[Instance, ...]:
        """Instances that are not walls, floors or ceilings."""
        return tuple(i for i in self.instances if not i.is_structure)

    def next_id(self) -> int:
        """An id no instance of this world uses."""
        return max((i.id for i in self.instances), default=-1) + 1

    def replaced(self, instances: list[Instance] | tuple[Instance, ...],
                 layout: Layout | None = None) -> World:
        """A new world with other instances (and optionally another layout)."""
        return dataclasses.replace(self, instances=tuple(instances),
                                   layout=self.layout if layout is None else layout)

    # --- geometry --------------------------------------------------------------------------
    @functools.cached_property
    def mesh(self) -> TriMesh:
        """Combined world-frame mesh of all instances, in instance order."""
        return concatenate(i.mesh for i in self.instances)

    @functools.cached_property
    def triangle_instance_ids(self) -> np.ndarray:
        """(T,) int32 instance id of every triangle of ``mesh``."""
        return np.repeat(np.array([i.id for i in self.instances], dtype=np.int32),
                         [len(i.mesh.triangles) for i in self.instances])

    def open3d_mesh(self) -> o3d.t.geometry.TriangleMesh:
        """The combined mesh as an Open3D tensor mesh."""
        return self.mesh.to_open3d()

    @property
    def bounds(self) -> Box:
        """Axis-aligned bounds of all geometry."""
        low, high = self.mesh.bounds
        return Box.from_arrays(low, high)

    @functools.cached_property
    def raycasting_scene(self) -> o3d.t.geometry.RaycastingScene:
        """Open3D ray casting scene of the combined mesh (one geometry)."""
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(self.open3d_mesh())
        return scene

    def distance(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) float32 distance to the nearest surface."""
        query = o3d.core.Tensor.from_numpy(
            np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3))
        return self.raycasting_scene.compute_distance(query).numpy()

    # --- occupancy -------------------------------------------------------------------------
    def occupancy(self, box_min: np.ndarray, box_max: np.ndarray, resolution: float,
                  solid: bool = False) -> VoxelGrid:
        """(X, Y, Z) voxels of edge ``resolution`` from ``box_min`` covering up to ``box_max``.

        Voxel (i, j, k) covers [box_min + (i, j, k) * res, box_min + (i + 1, j + 1, k + 1) * res)
        and is occupied when a surface intersects it; with ``solid`` also when its centre lies
        inside a closed instance (walls, slabs, primitives; furniture models are surfaces only).
        """
        origin = np.asarray(box_min, dtype=np.float64)
        size = np.full(3, float(resolution))
        shape = grid_shape(origin, box_max, size)
        return VoxelGrid(self._voxels(origin, size, shape, solid), origin, size)

    def occupancy_2d(self, z_min: float, z_max: float, resolution: float,
                     xy_min: np.ndarray | None = None, xy_max: np.ndarray | None = None,
                     solid: bool = True) -> OccupancyGrid2D:
        """(X, Y) cells holding any geometry in the height band [z_min, z_max).

        Surfaces are tested against the whole band at once; with ``solid`` the band is also
        split into layers as close to ``resolution`` as divide it exactly, and a cell counts when
        a layer's centre lies inside a closed instance. ``xy_min``/``xy_max`` default to the
        world bounds.
        """
        if z_max <= z_min:
            raise WorldError(f'occupancy_2d needs z_max > z_min, got {z_min} and {z_max}')
        bounds = self.bounds
        low = np.array([*(bounds.min[:2] if xy_min is None else xy_min), z_min], dtype=float)
        high = np.array([*(bounds.max[:2] if xy_max is None else xy_max), z_max], dtype=float)
        layers = max(1, int(np.ceil((z_max - z_min) / resolution - 1e-9))) if solid else 1
        size = np.array([resolution, resolution, (z_max - z_min) / layers], dtype=float)
        shape = grid_shape(low, high, size)
        shape[2] = layers
        voxels = self._voxels(low, size, shape, solid)
        return OccupancyGrid2D(np.any(voxels, axis=2), low[:2], float(resolution), float(z_min),
                               float(z_max))

    def _voxels(self, origin: np.ndarray, size: np.ndarray, shape: np.ndarray,
                solid: bool) -> np.ndarray:
        voxels = surface_voxels(self.mesh.triangle_corners(), origin, size, shape)
        if solid:
            voxels |= solid_voxels((i.mesh for i in self.instances if i.closed), origin, size,
                                   shape)
        return voxels

    # --- persistence -----------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """JSON-ready description of everything but the mesh."""
        offsets = np.cumsum([0] + [len(i.mesh.vertices) for i in self.instances])
        instances = []
        for instance, offset in zip(self.instances, offsets[:-1], strict=True):
            instances.append({**instance.metadata(), 'vertex_offset': int(offset),
                              'vertex_count': len(instance.mesh.vertices)})
        return {'format_version': FORMAT_VERSION, 'kind': self.kind, 'seed': self.seed,
                'config': config_to_dict(self.config), 'bounds': self.bounds.to_dict(),
                'layout': self.layout.to_dict(), 'instances': instances,
                'mesh_file': MESH_FILE, 'triangle_instance_ids_file': INSTANCE_IDS_FILE}

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``world.json``, ``mesh.ply`` (world frame) and the per-triangle instance ids."""
        os.makedirs(directory, exist_ok=True)
        if not o3d.t.io.write_triangle_mesh(pathlib.Path(directory, MESH_FILE),
                                            self.open3d_mesh()):
            raise WorldError(f'could not write {MESH_FILE} in {directory!r}')
        np.save(os.path.join(directory, INSTANCE_IDS_FILE), self.triangle_instance_ids)
        with open(os.path.join(directory, METADATA_FILE), 'w', encoding='utf-8') as stream:
            json.dump(self.metadata(), stream, indent=1)


def load_world(directory: str | os.PathLike[str]) -> World:
    """Read a world written by ``World.save``."""
    path = os.path.join(directory, METADATA_FILE)
    if not os.path.exists(path):
        raise WorldError(f'no {METADATA_FILE} in {directory!r}')
    with open(path, encoding='utf-8') as stream:
        meta = json.load(stream)
    if meta.get('format_version') != FORMAT_VERSION:
        raise WorldError(f'{path}: format_version {meta.get("format_version")!r} is not '
                         f'{FORMAT_VERSION}')
    mesh = o3d.t.io.read_triangle_mesh(pathlib.Path(directory, meta['mesh_file']))
    vertices = mesh.vertex.positions.numpy().astype(np.float64)
    triangles = mesh.triangle.indices.numpy().astype(np.int64)
    triangle_ids = np.load(os.path.join(directory, meta['triangle_instance_ids_file']))
    instances = []
    for item in meta['instances']:
        first, count = item['vertex_offset'], item['vertex_count']
        pose = np.array(item['pose'], dtype=np.float64)
        world_vertices = vertices[first:first + count]
        local = (world_vertices - pose[:3, 3]) @ pose[:3, :3]
        own = triangles[triangle_ids == item['id']] - first
        instances.append(Instance(item['id'], item['category'], item['model'], pose,
                                  TriMesh(local, own), closed=item['closed'],
                                  room=item['room'], group=item['group']))
    config: WorldConfig | CompositionConfig = config_from_dict(CONFIG_TYPES[meta['kind']],
                                                                meta['config'])
    return World(meta['seed'], meta['kind'], config, tuple(instances),
                 Layout.from_dict(meta['layout']))
