"""Frozen, validated configs for every world component, with dict round trips for JSON.

Lengths are metres, angles degrees, times seconds. Each config checks its fields in
``__post_init__`` and names the field and the bad value when one is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scenemem_ros.world.errors import WorldError

DEFAULT_CATALOGUE_DIR = '/usr/share/sweethome3d/furniture'
FURNITURE_SOURCES = ('sweethome3d', 'primitives')

T = TypeVar('T')


def _require(ok: bool, config: object, name: str, rule: str) -> None:
    if not ok:
        value = getattr(config, name)
        raise WorldError(f'{type(config).__name__}.{name} must be {rule}, got {value!r}')


def _positive(config: object, *names: str) -> None:
    for name in names:
        _require(getattr(config, name) > 0, config, name, '> 0')


def _ordered(config: object, low: str, high: str) -> None:
    _require(getattr(config, low) <= getattr(config, high), config, low, f'<= {high}')


def _probability(config: object, *names: str) -> None:
    for name in names:
        _require(0.0 <= getattr(config, name) <= 1.0, config, name, 'in [0, 1]')


@dataclass(frozen=True)
class FurnitureConfig:
    """Where object models come from.

    Attributes:
        source: 'sweethome3d' (catalogue furniture mixed with primitives) or 'primitives'.
        catalogue_dir: folder of Sweet Home 3D ``*.sh3f`` furniture libraries.
        cache_dir: folder for converted models; '' means ``~/.cache/scenemem_ros/furniture``.
        primitive_share: probability that an object is a box or cylinder instead of a model.
        max_triangles: models with more triangles are decimated to this many.
        max_footprint: largest allowed model width or depth.
    """

    source: str = 'sweethome3d'
    catalogue_dir: str = DEFAULT_CATALOGUE_DIR
    cache_dir: str = ''
    primitive_share: float = 0.2
    max_triangles: int = 20000
    max_footprint: float = 2.2

    def __post_init__(self) -> None:
        _require(self.source in FURNITURE_SOURCES, self, 'source',
                 f'one of {FURNITURE_SOURCES}')
        _probability(self, 'primitive_share')
        _positive(self, 'max_triangles', 'max_footprint')

    @property
    def resolved_cache_dir(self) -> str:
        """The cache folder with the default filled in."""
        return self.cache_dir or os.path.join(os.path.expanduser('~'), '.cache', 'scenemem_ros',
                                              'furniture')


@dataclass(frozen=True)
class LayoutConfig:
    """Rooms on a grid, walls with thickness, doorways with lintels.

    Attributes:
        room_count_min, room_count_max: how many rooms an apartment has.
        grid_columns, grid_rows: the grid the rooms occupy cells of.
        room_size_min, room_size_max: range of a grid column's width or row's depth.
        wall_height: height of walls (and of the ceiling when on).
        wall_thickness: thickness of every wall.
        doorway_width, doorway_height: size of the opening; a lintel fills the wall above it.
        floor_thickness: thickness of the floor slab whose top is z = 0.
        ceiling: add a ceiling slab at ``wall_height`` (off so top-down occupancy stays useful).
        extra_doorway_probability: chance of each non-tree adjacency also getting a doorway.
    """

    room_count_min: int = 2
    room_count_max: int = 4
    grid_columns: int = 3
    grid_rows: int = 2
    room_size_min: float = 3.2
    room_size_max: float = 5.0
    wall_height: float = 2.5
    wall_thickness: float = 0.1
    doorway_width: float = 0.9
    doorway_height: float = 2.1
    floor_thickness: float = 0.05
    ceiling: bool = False
    extra_doorway_probability: float = 0.3

    def __post_init__(self) -> None:
        _positive(self, 'room_count_min', 'grid_columns', 'grid_rows', 'room_size_min',
                  'wall_height', 'wall_thickness', 'doorway_width', 'doorway_height',
                  'floor_thickness')
        _ordered(self, 'room_count_min', 'room_count_max')
        _ordered(self, 'room_size_min', 'room_size_max')
        _require(self.room_count_max <= self.grid_columns * self.grid_rows, self,
                 'room_count_max', '<= grid_columns * grid_rows')
        _require(self.doorway_height < self.wall_height, self, 'doorway_height',
                 '< wall_height')
        _require(self.doorway_width + 2 * self.wall_thickness + 0.4 < self.room_size_min, self,
                 'doorway_width', 'small enough to fit in the smallest room side')
        _probability(self, 'extra_doorway_probability')


@dataclass(frozen=True)
class FurnishConfig:
    """How rooms are furnished.

    Attributes:
        objects_per_room_min, objects_per_room_max: objects tried per room.
        doorway_clearance: depth kept free in front of each doorway, on both sides.
        walkway_width: width of the free path that must keep joining every doorway of a room to
            its centre; a placement that would cut it is rejected.
        centre_clearance: radius kept free around each room centre (the trajectories' hub).
        object_gap: minimum gap between object footprints.
        placement_attempts: random tries per object before it is skipped.
    """

    objects_per_room_min: int = 3
    objects_per_room_max: int = 6
    doorway_clearance: float = 1.0
    walkway_width: float = 0.9
    centre_clearance: float = 0.6
    object_gap: float = 0.05
    placement_attempts: int = 30

    def __post_init__(self) -> None:
        _require(self.objects_per_room_min >= 0, self, 'objects_per_room_min', '>= 0')
        _ordered(self, 'objects_per_room_min', 'objects_per_room_max')
        _positive(self, 'doorway_clearance', 'walkway_width', 'centre_clearance',
                  'placement_attempts')
        _require(self.object_gap >= 0, self, 'object_gap', '>= 0')


@dataclass(frozen=True)
class WorldConfig:
    """Everything that shapes a procedural apartment (the seed is passed separately)."""

    layout: LayoutConfig = field(default_factory=LayoutConfig)
    furnish: FurnishConfig = field(default_factory=FurnishConfig)
    furniture: FurnitureConfig = field(default_factory=FurnitureConfig)


@dataclass(frozen=True)
class CompositionConfig:
    """Random object compositions without rooms (I-Scene style pre-training scenes).

    Attributes:
        object_count_min, object_count_max: objects scattered per scene.
        area_size: side of the square floor the objects stand on, centred on the origin.
        scale_min, scale_max: uniform scale range applied to each object.
        object_gap: minimum gap between footprint circles.
        floor_thickness: thickness of the floor slab whose top is z = 0.
        furniture: model source.
    """

    object_count_min: int = 4
    object_count_max: int = 10
    area_size: float = 6.0
    scale_min: float = 0.7
    scale_max: float = 1.3
    object_gap: float = 0.1
    floor_thickness: float = 0.05
    furniture: FurnitureConfig = field(default_factory=FurnitureConfig)

    def __post_init__(self) -> None:
        _positive(self, 'object_count_min', 'area_size', 'scale_min', 'floor_thickness')
        _ordered(self, 'object_count_min', 'object_count_max')
        _ordered(self, 'scale_min', 'scale_max')
        _require(self.object_gap >= 0, self, 'object_gap', '>= 0')


@dataclass(frozen=True)
class TrajectoryConfig:
    """Camera paths through an apartment.

    Attributes:
        height_min, height_max: camera height range (a slow sinusoid between them).
        clearance: minimum distance kept from any geometry.
        grid_resolution: cell size of the 2D free-space grid the route is planned on.
        speed: walking speed along the route.
        rate_hz: pose rate.
        smoothing: standard deviation (metres along the route) of the path smoothing.
        yaw_sweep_deg, yaw_period: amplitude and period of the look-around yaw sweep.
        pitch_deg, pitch_sweep_deg: mean pitch (negative looks down) and its sweep amplitude.
        spin_rate_deg: yaw rate of the full turn made at each room centre; 0 disables turns.
        start_time: stamp of the first pose.
    """

    height_min: float = 1.0
    height_max: float = 1.5
    clearance: float = 0.3
    grid_resolution: float = 0.05
    speed: float = 0.5
    rate_hz: float = 10.0
    smoothing: float = 0.25
    yaw_sweep_deg: float = 35.0
    yaw_period: float = 8.0
    pitch_deg: float = -10.0
    pitch_sweep_deg: float = 5.0
    spin_rate_deg: float = 60.0
    start_time: float = 0.0

    def __post_init__(self) -> None:
        _positive(self, 'height_min', 'clearance', 'grid_resolution', 'speed', 'rate_hz',
                  'yaw_period')
        _ordered(self, 'height_min', 'height_max')
        _require(self.smoothing >= 0, self, 'smoothing', '>= 0')
        _require(self.spin_rate_deg >= 0, self, 'spin_rate_deg', '>= 0')
        _require(abs(self.pitch_deg) + abs(self.pitch_sweep_deg) < 80, self, 'pitch_deg',
                 'such that |pitch_deg| + |pitch_sweep_deg| < 80')


@dataclass(frozen=True)
class NoiseConfig:
    """Depth sensor noise.

    Attributes:
        enabled: apply noise at all.
        sigma_k: Gaussian noise with standard deviation ``sigma_k * z**2`` (metres, z in metres).
        dropout_probability: chance that a valid pixel reads invalid (NaN).
        flying_pixel_probability: chance that a pixel on a depth edge reads a mix of the
            foreground and background depth.
        edge_threshold: relative depth jump ``|dz| / z`` between 4-neighbours that marks an edge.
        seed: seed of the noise; each frame draws from ``(seed, frame_index)``.
    """

    enabled: bool = True
    sigma_k: float = 0.002
    dropout_probability: float = 0.01
    flying_pixel_probability: float = 0.5
    edge_threshold: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.sigma_k >= 0, self, 'sigma_k', '>= 0')
        _probability(self, 'dropout_probability', 'flying_pixel_probability')
        _positive(self, 'edge_threshold')
        _require(self.seed >= 0, self, 'seed', '>= 0')


@dataclass(frozen=True)
class RenderConfig:
    """Depth rendering.

    Attributes:
        min_range, max_range: depth outside [min_range, max_range] reads NaN.
        noise: the sensor noise model.
    """

    min_range: float = 0.1
    max_range: float = 10.0
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        _require(self.min_range >= 0, self, 'min_range', '>= 0')
        _positive(self, 'max_range')
        _ordered(self, 'min_range', 'max_range')


def config_to_dict(config: object) -> dict[str, Any]:
    """Nested plain dict of a (nested) config dataclass, ready for JSON."""
    return dataclasses.asdict(config)  # type: ignore[call-overload]


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config of type ``cls`` from ``config_to_dict`` output; unknown keys fail."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise WorldError(f'{cls.__name__} has no fields {sorted(unknown)}')
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)  # type: ignore[arg-type]
        values[name] = value
    return cls(**values)
