"""Procedural indoor worlds with ground truth: scenes, trajectories, depth, scripted changes.

Conventions: world frame z up, metres, floor top at z = 0. Camera poses are optical-frame
(x right, y down, z forward) to world 4x4 matrices; depth is z in metres, NaN where invalid.
Voxel (i, j, k) of an occupancy grid covers [origin + (i, j, k) * res, origin + (i+1, j+1, k+1)
* res).

Main entry points:
    generate_world(seed, config=None) -> World                 furnished apartment
    generate_composition(seed, config=None) -> World           objects scattered on a floor
    World.occupancy(box_min, box_max, resolution, solid=False) -> VoxelGrid
    World.occupancy_2d(z_min, z_max, resolution, xy_min=None, xy_max=None) -> OccupancyGrid2D
    World.save(directory); load_world(directory) -> World
    plan_trajectory(world, config=None, seed=0) -> Trajectory  collision-free room walk
    orbit_trajectory(world, frames=60, ...) -> Trajectory      circle around a composition
    render_depth(world, camera, camera_to_world, config=None, frame_index=0) -> (H, W) depth
    render_sequence(world, trajectory, camera=None, config=None) -> data.Sequence
    apply_change(world, kind, seed=0) -> (World, ChangeRecord)
    replace_object(world, rng) -> (World, (removed, added))  a different object of similar size
"""

from scenemem_ros.world.changes import (
    CHANGES,
    ChangeKind,
    ChangeRecord,
    apply_change,
    load_change,
    replace_object,
    save_change,
)
from scenemem_ros.world.config import (
    CompositionConfig,
    FurnishConfig,
    FurnitureConfig,
    LayoutConfig,
    NoiseConfig,
    RenderConfig,
    TrajectoryConfig,
    WorldConfig,
)
from scenemem_ros.world.elements import Box, Doorway, Instance, Layout, Room
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.generate import generate_composition, generate_world
from scenemem_ros.world.mesh import TriMesh
from scenemem_ros.world.occupancy import OccupancyGrid2D, VoxelGrid
from scenemem_ros.world.render import (
    apply_noise,
    default_camera,
    render_depth,
    render_depths,
    render_frame,
    render_sequence,
)
from scenemem_ros.world.scene import World, load_world
from scenemem_ros.world.trajectory import Trajectory, orbit_trajectory, plan_trajectory

__all__ = [
    'CHANGES', 'Box', 'ChangeKind', 'ChangeRecord', 'CompositionConfig', 'Doorway',
    'FurnishConfig', 'FurnitureConfig', 'Instance', 'Layout', 'LayoutConfig', 'NoiseConfig',
    'OccupancyGrid2D', 'RenderConfig', 'Room', 'Trajectory', 'TrajectoryConfig', 'TriMesh',
    'VoxelGrid', 'World', 'WorldConfig', 'WorldError', 'apply_change', 'apply_noise',
    'default_camera', 'generate_composition', 'generate_world', 'load_change', 'load_world',
    'orbit_trajectory', 'plan_trajectory', 'render_depth', 'render_depths', 'render_frame',
    'render_sequence', 'replace_object', 'save_change',
]
