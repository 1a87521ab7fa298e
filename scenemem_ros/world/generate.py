"""Seeded scene generation: furnished apartments and I-Scene style object compositions."""

from __future__ import annotations

import numbers

import numpy as np

from scenemem_ros.world.config import CompositionConfig, WorldConfig
from scenemem_ros.world.elements import Box, Instance
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.furnish import ROOM_CATEGORIES, furnish_rooms, pick_model, usable_entries
from scenemem_ros.world.furniture import library_files
from scenemem_ros.world.layout import box_instance, generate_layout
from scenemem_ros.world.scene import World

COMPOSITION_MAX_HEIGHT = 2.0
COMPOSITION_ATTEMPTS = 50


def check_seed(seed: object) -> int:
    """The seed as an int; WorldError unless it is an integer >= 0."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise WorldError(f'seed must be an integer >= 0, got {seed!r}')
    return int(seed)


def generate_world(seed: int, config: WorldConfig | None = None) -> World:
    """A furnished apartment of several rooms; the same seed and config give the same world."""
    seed = check_seed(seed)
    config = config or WorldConfig()
    if config.furniture.source == 'sweethome3d':
        library_files(config.furniture.catalogue_dir)
    rng = np.random.default_rng(seed)
    layout, structure = generate_layout(rng, config.layout)
    objects = furnish_rooms(rng, layout.rooms, layout.doorways, config.furnish, config.furniture,
                            max_height=config.layout.wall_height - 0.1,
                            first_id=len(structure))
    return World(seed, 'apartment', config, tuple(structure + objects), layout)


def generate_composition(seed: int, config: CompositionConfig | None = None) -> World:
    """Objects scattered on a square floor with random yaw and scale, no walls or rooms."""
    seed = check_seed(seed)
    config = config or CompositionConfig()
    furniture = config.furniture
    entries = () if furniture.source == 'primitives' else usable_entries(
        furniture, tuple(sorted({c for cs in ROOM_CATEGORIES.values() for c in cs})),
        COMPOSITION_MAX_HEIGHT)
    rng = np.random.default_rng(seed)
    half = config.area_size / 2
    floor = box_instance(0, 'floor', Box((-half, -half, -config.floor_thickness),
                                         (half, half, 0.0)))
    instances: list[Instance] = [floor]
    circles: list[tuple[np.ndarray, float]] = []
    count = int(rng.integers(config.object_count_min, config.object_count_max + 1))
    for _ in range(count):
        model = pick_model(rng, furniture, entries)
        scale = rng.uniform(config.scale_min, config.scale_max)
        radius = scale * float(np.hypot(*model.footprint)) / 2
        if radius >= half:
            continue
        for _ in range(COMPOSITION_ATTEMPTS):
            centre = rng.uniform(-half + radius, half - radius, 2)
            if all(np.linalg.norm(centre - c) >= radius + r + config.object_gap
                   for c, r in circles):
                break
        else:
            continue
        circles.append((centre, radius))
        yaw = rng.uniform(-np.pi, np.pi)
        pose = np.eye(4)
        c, s = np.cos(yaw), np.sin(yaw)
        pose[:2, :2] = [[c, -s], [s, c]]
        pose[:2, 3] = centre
        mesh = model.mesh.transformed(np.diag([scale, scale, scale, 1.0]))
        instances.append(Instance(len(instances), model.category, model.model, pose, mesh,
                                  closed=model.closed))
    return World(seed, 'composition', config, tuple(instances))
