"""Camera trajectories: collision-free walks through an apartment and orbits around compositions.

Apartment walks are planned on a 2D free-space grid of the height band the camera moves in (up to
``height_max + clearance``; lintels above that band leave doorways open). Cells closer to geometry
than the clearance (plus one cell for discretisation) are forbidden; a shortest path weighted
towards open space visits the room centres in depth-first order through the doorways, is smoothed
as long as it stays clear, and gets a full turn at each first room visit plus yaw, pitch and height
sweeps. Poses are camera(optical: x right, y down, z forward)-to-world 4x4 matrices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from scenemem_ros.world.config import TrajectoryConfig
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.generate import check_seed
from scenemem_ros.world.scene import World

FLOOR_MARGIN = 0.02  # the planning band starts just above the floor's top face
OPEN_SPACE_WEIGHT = 0.5  # extra path cost per metre, scaled by 1 / clearance, to centre paths
HEADING_SMOOTHING_S = 0.6


@dataclass(frozen=True, eq=False)
class Trajectory:
    """(N,) float64 ``stamps`` in seconds and (N, 4, 4) float64 ``camera_to_world`` poses."""

    stamps: np.ndarray
    camera_to_world: np.ndarray

    def __post_init__(self) -> None:
        stamps = np.asarray(self.stamps, dtype=np.float64)
        poses = np.asarray(self.camera_to_world, dtype=np.float64)
        if stamps.ndim != 1 or poses.shape != (len(stamps), 4, 4):
            raise WorldError(f'Trajectory needs (N,) stamps and (N, 4, 4) poses, got '
                             f'{stamps.shape} and {poses.shape}')
        object.__setattr__(self, 'stamps', stamps)
        object.__setattr__(self, 'camera_to_world', poses)

    def __len__(self) -> int:
        return len(self.stamps)

    @property
    def positions(self) -> np.ndarray:
        """(N, 3) camera centres."""
        return self.camera_to_world[:, :3, 3]

    def subsampled(self, step: int) -> Trajectory:
        """Every ``step``-th pose."""
        return Trajectory(self.stamps[::step], self.camera_to_world[::step])


def camera_pose(position: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(N, 3) positions, (N,) yaw and pitch in radians -> (N, 4, 4) optical-to-world poses.

    Yaw turns about world z from +x; positive pitch looks up.
    """
    position = np.asarray(position, float).reshape(-1, 3)
    yaw = np.broadcast_to(yaw, len(position))
    pitch = np.broadcast_to(pitch, len(position))
    forward = np.stack([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw),
                        np.sin(pitch)], axis=1)
    right = np.stack([np.sin(yaw), -np.cos(yaw), np.zeros_like(yaw)], axis=1)
    down = np.cross(forward, right)
    poses = np.tile(np.eye(4), (len(position), 1, 1))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2] = right, down, forward
    poses[:, :3, 3] = position
    return poses


class _FreeSpace:
    """The planning grid: safe cells, their clearance and an 8-connected weighted graph."""

    def __init__(self, world: World, config: TrajectoryConfig) -> None:
        top = config.height_max + config.clearance + config.grid_resolution
        grid = world.occupancy_2d(FLOOR_MARGIN, top, config.grid_resolution, solid=False)
        self.origin, self.res = grid.origin, grid.resolution
        centres = grid.centres()
        inside = np.zeros(grid.occupied.shape, dtype=bool)
        for box in [r.box for r in world.layout.rooms] + [d.box for d in world.layout.doorways]:
            inside |= np.all((centres >= box.low[:2]) & (centres <= box.high[:2]), axis=-1)
        self.clearance = ndimage.distance_transform_edt(~grid.occupied) * self.res
        self.safe = inside & (self.clearance >= config.clearance + self.res)
        self.shape = grid.occupied.shape
        self.graph = self._graph()

    def _graph(self) -> sparse.csr_matrix:
        index = np.arange(self.safe.size).reshape(self.shape)
        cost = 1.0 + OPEN_SPACE_WEIGHT / np.maximum(self.clearance, self.res)
        rows, cols, weights = [], [], []
        for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
            a = (slice(0, self.shape[0] - di), slice(max(0, -dj), self.shape[1] - max(0, dj)))
            b = (slice(di, None), slice(max(0, dj), self.shape[1] - max(0, -dj) or None))
            both = self.safe[a] & self.safe[b]
            length = self.res * np.hypot(di, dj)
            rows.append(index[a][both])
            cols.append(index[b][both])
            weights.append(length * (cost[a][both] + cost[b][both]) / 2)
        size = self.safe.size
        return sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows),
                                                            np.concatenate(cols))),
                                 shape=(size, size))

    def xy(self, cells: np.ndarray) -> np.ndarray:
        """(N,) flat cell indices -> (N, 2) cell centres."""
        i, j = np.unravel_index(cells, self.shape)
        return self.origin + (np.stack([i, j], axis=1) + 0.5) * self.res

    def nearest_safe(self, point: np.ndarray, box_low: np.ndarray, box_high: np.ndarray) -> int:
        """Flat index of the safe cell inside the xy box closest to ``point``."""
        centres = self.xy(np.arange(self.safe.size))
        ok = self.safe.ravel() & np.all((centres >= box_low) & (centres <= box_high), axis=1)
        if not ok.any():
            raise WorldError(f'no collision-free cell in the room around {point.round(2)}')
        candidates = np.flatnonzero(ok)
        return int(candidates[np.argmin(np.linalg.norm(centres[ok] - point, axis=1))])

    def clearance_at(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) points -> (N,) interpolated grid clearance."""
        coords = ((xy - self.origin) / self.res - 0.5).T
        return ndimage.map_coordinates(self.clearance, coords, order=1, mode='nearest')


def _room_order(world: World, start: int) -> list[int]:
    """Room ids in depth-first order through the doorways, revisits included."""
    neighbours: dict[int, list[int]] = {r.id: [] for r in world.layout.rooms}
    for doorway in world.layout.doorways:
        a, b = doorway.rooms
        if a in neighbours and b in neighbours:
            neighbours[a].append(b)
            neighbours[b].append(a)
    order, seen = [start], {start}

    def visit(room: int) -> None:
        for other in sorted(neighbours[room]):
            if other not in seen:
                seen.add(other)
                order.append(other)
                visit(other)
                order.append(room)

    visit(start)
    return order


def _resample(points: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) polyline -> (M, 2) points ``spacing`` apart and (N,) arc length of each input."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    samples = np.linspace(0.0, arc[-1], max(2, int(np.ceil(arc[-1] / spacing)) + 1))
    return np.stack([np.interp(samples, arc, points[:, i]) for i in range(2)], axis=1), arc


def _smoothed(route: np.ndarray, space: _FreeSpace, config: TrajectoryConfig,
              spacing: float) -> np.ndarray:
    """The route smoothed as much as ``config.smoothing`` allows while it stays clear."""
    sigma = config.smoothing / spacing
    needed = config.clearance + 0.5 * space.res
    while sigma >= 0.5:
        smooth = ndimage.gaussian_filter1d(route, sigma, axis=0, mode='nearest')
        if np.all(space.clearance_at(smooth) >= needed):
            return smooth
        sigma /= 2
    return route


def plan_trajectory(world: World, config: TrajectoryConfig | None = None,
                    seed: int = 0) -> Trajectory:
    """A walk through the apartment's rooms, clear of all geometry.

    Rooms that cannot be reached from the (seeded) start room, e.g. behind a blocked doorway,
    are left out.
    """
    seed = check_seed(seed)
    config = config or TrajectoryConfig()
    if not world.layout.rooms:
        raise WorldError('plan_trajectory needs an apartment with rooms; use orbit_trajectory '
                         'for compositions')
    rng = np.random.default_rng(seed)
    space = _FreeSpace(world, config)
    rooms = world.layout.rooms
    start = rooms[int(rng.integers(len(rooms)))].id
    order = _room_order(world, start)
    hubs = {r.id: space.nearest_safe(r.box.centre[:2], r.box.low[:2], r.box.high[:2])
            for r in rooms if r.id in order}
    reach = csgraph.dijkstra(space.graph, directed=False, indices=hubs[start])
    reachable = [room for room in order if np.isfinite(reach[hubs[room]])]
    order = [room for i, room in enumerate(reachable) if i == 0 or room != reachable[i - 1]]
    cells, arrivals, spun = [hubs[start]], [(0, True)], {start}
    for room in order[1:]:
        _, previous = csgraph.dijkstra(space.graph, directed=False, indices=cells[-1],
                                        return_predecessors=True)
        path, node = [], hubs[room]
        while node != cells[-1]:
            if node < 0:
                raise WorldError(f'no collision-free path to room {room}: doorways too narrow '
                                 f'for clearance {config.clearance} m or heights too high')
            path.append(node)
            node = previous[node]
        cells.extend(path[::-1])
        arrivals.append((len(cells) - 1, room not in spun))
        spun.add(room)
    spacing = config.speed / config.rate_hz
    route, arc = _resample(space.xy(np.array(cells)), spacing)
    route = _smoothed(route, space, config, spacing)
    heading = np.unwrap(np.arctan2(*np.gradient(route, axis=0)[:, ::-1].T))
    heading = ndimage.gaussian_filter1d(heading, HEADING_SMOOTHING_S * config.rate_hz,
                                        mode='nearest')
    spin_frames = int(round(360.0 / config.spin_rate_deg * config.rate_hz)) \
        if config.spin_rate_deg > 0 else 0
    index, spin = np.arange(len(route)), np.zeros(len(route))
    ramp = np.pi * (1 - np.cos(np.linspace(0, np.pi, spin_frames)))  # eased 0 -> 2 pi
    for cell_index, first_visit in reversed(arrivals):  # from the end: earlier slots stay put
        if first_visit and spin_frames > 0:
            at = min(int(round(arc[cell_index] / spacing)), len(route) - 1)
            index = np.concatenate([index[:at + 1], np.full(spin_frames, at), index[at + 1:]])
            spin = np.concatenate([spin[:at + 1], ramp, spin[at + 1:]])
    time = np.arange(len(index)) / config.rate_hz
    phase = rng.uniform(0, 2 * np.pi, 3)
    yaw = heading[index] + spin + np.deg2rad(config.yaw_sweep_deg) * np.sin(
        2 * np.pi * time / config.yaw_period + phase[0])
    pitch = np.deg2rad(config.pitch_deg + config.pitch_sweep_deg * np.sin(
        2 * np.pi * time / (1.7 * config.yaw_period) + phase[1]))
    middle = (config.height_min + config.height_max) / 2
    amplitude = (config.height_max - config.height_min) / 2
    height = middle + amplitude * np.sin(2 * np.pi * time / (2.9 * config.yaw_period) + phase[2])
    positions = np.concatenate([route[index], height[:, None]], axis=1)
    poses = camera_pose(positions, yaw, pitch)
    closest = float(world.distance(positions).min())
    if closest < config.clearance:
        raise WorldError(f'planned trajectory comes {closest:.3f} m from geometry, below the '
                         f'clearance {config.clearance} m')
    return Trajectory(config.start_time + time, poses)


def orbit_trajectory(world: World, frames: int = 60, height: float = 1.4,
                     margin: float = 1.0, rate_hz: float = 10.0) -> Trajectory:
    """A circle around the world's objects, looking at their centre (for compositions).

    The radius is the half-diagonal of the objects' xy bounds plus ``margin``.
    """
    if frames < 1 or margin <= 0 or rate_hz <= 0:
        raise WorldError(f'orbit_trajectory needs frames >= 1, margin > 0 and rate_hz > 0, got '
                         f'{frames}, {margin}, {rate_hz}')
    objects = world.objects or world.instances
    low = np.min([o.bounds.low for o in objects], axis=0)
    high = np.max([o.bounds.high for o in objects], axis=0)
    centre = (low + high) / 2
    radius = float(np.linalg.norm(high[:2] - low[:2])) / 2 + margin
    angle = np.linspace(0, 2 * np.pi, frames, endpoint=False)
    positions = np.stack([centre[0] + radius * np.cos(angle), centre[1] + radius * np.sin(angle),
                          np.full(frames, height)], axis=1)
    yaw = angle + np.pi
    pitch = np.full(frames, np.arctan2(centre[2] - height, radius))
    return Trajectory(np.arange(frames) / rate_hz, camera_pose(positions, yaw, pitch))
