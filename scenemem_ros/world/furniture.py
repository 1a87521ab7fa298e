"""Furniture models from Sweet Home 3D libraries (Debian's ``sweethome3d-furniture``).

Each ``*.sh3f`` file is a zip of OBJ models plus ``PluginFurnitureCatalog.properties``, a Java
properties catalogue giving every piece's name, category, model path and size (width x depth x
height in centimetres). Sweet Home 3D models are y-up with their front facing +z; they are
stretched to their catalogue size, so ``load_model`` does the same and turns them z-up.

Local frame of a loaded model: metres, z up, footprint centred on the z axis, resting on z = 0,
width along x, depth along y, front facing -y (so the back faces +y).
"""

from __future__ import annotations

import functools
import glob
import os
import re
import zipfile
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from scenemem_ros.world.config import FurnitureConfig
from scenemem_ros.world.errors import WorldError
from scenemem_ros.world.mesh import TriMesh

CATALOGUE_FILE = 'PluginFurnitureCatalog.properties'
INSTALL_HINT = ('install the furniture models with `sudo apt-get install sweethome3d-furniture`, '
                "or set FurnitureConfig(source='primitives')")
CACHE_VERSION = 'v1'
# Sweet Home 3D (x, y up, z front) -> world (x, -z, y): a proper rotation, front ends up at -y.
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class CatalogueEntry:
    """One furniture piece of a library; sizes in metres.

    Attributes:
        library: the ``*.sh3f`` file name without extension.
        id: catalogue id (unique within the library).
        name: human-readable name ('Bed', 'Washbasin').
        category: catalogue category ('Bedroom', 'Kitchen', ...).
        width, depth, height: size along the model's local x, y and z.
        model_path: path of the OBJ file inside the zip.
        model_rotation: row-major 3x3 rotation applied to the raw model first, or None.
        elevation: height above the floor the piece is meant to hang at.
        door_or_window: whether the piece is a door or window (never placed freely).
    """

    library: str
    id: str
    name: str
    category: str
    width: float
    depth: float
    height: float
    model_path: str
    model_rotation: tuple[float, ...] | None
    elevation: float
    door_or_window: bool

    @property
    def key(self) -> str:
        """Globally unique name: 'library/id'."""
        return f'{self.library}/{self.id}'


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` text -> key/value dict (continuations and \\u escapes handled)."""
    text = re.sub(r'\\\r?\n[ \t]*', '', text)
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#!':
            continue
        match = re.match(r'((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)', line)
        if match is None:
            continue
        key, value = match.groups()
        if '\\' in value:
            value = re.sub(r'\\u([0-9a-fA-F]{4})', lambda m: chr(int(m.group(1), 16)), value)
            value = re.sub(r'\\(.)', r'\1', value)
        result[key] = value
    return result


def _entries_of(library: str, properties: dict[str, str]) -> list[CatalogueEntry]:
    entries = []
    for key, piece_id in properties.items():
        if not key.startswith('id#'):
            continue
        n = key[3:]

        def get(name: str, default: str = '', n: str = n) -> str:
            return properties.get(f'{name}#{n}', default)

        try:
            rotation = get('modelRotation')
            entries.append(CatalogueEntry(
                library=library, id=piece_id, name=get('name'), category=get('category'),
                width=float(get('width')) / 100, depth=float(get('depth')) / 100,
                height=float(get('height')) / 100, model_path=get('model').lstrip('/'),
                model_rotation=tuple(float(x) for x in rotation.split()) if rotation else None,
                elevation=float(get('elevation', '0')) / 100,
                door_or_window=get('doorOrWindow', 'false') == 'true'))
        except ValueError:
            continue  # a malformed entry: skip it rather than lose the library
    return entries


def library_files(catalogue_dir: str) -> list[str]:
    """Sorted ``*.sh3f`` paths in ``catalogue_dir``; WorldError with an install hint if none."""
    files = sorted(glob.glob(os.path.join(catalogue_dir, '*.sh3f')))
    if not files:
        raise WorldError(f'no Sweet Home 3D furniture libraries (*.sh3f) in {catalogue_dir!r}: '
                         f'{INSTALL_HINT}')
    return files


@functools.lru_cache(maxsize=8)
def load_catalogue(catalogue_dir: str) -> tuple[CatalogueEntry, ...]:
    """Every piece of every library in ``catalogue_dir``, in a stable order."""
    entries: list[CatalogueEntry] = []
    for path in library_files(catalogue_dir):
        library = os.path.splitext(os.path.basename(path))[0]
        with zipfile.ZipFile(path) as archive:
            text = archive.read(CATALOGUE_FILE).decode('latin-1')
        entries.extend(_entries_of(library, parse_properties(text)))
    return tuple(entries)


def parse_obj(text: str) -> TriMesh:
    """Wavefront OBJ text -> mesh of its faces (polygons fan-triangulated; other data ignored)."""
    vertices: list[list[float]] = []
    triangles: list[tuple[int, int, int]] = []
    for line in text.splitlines():
        if line.startswith('v '):
            vertices.append([float(x) for x in line.split()[1:4]])
        elif line.startswith('f '):
            corners = []
            for token in line.split()[1:]:
                index = int(token.split('/', 1)[0])
                corners.append(index - 1 if index > 0 else len(vertices) + index)
            triangles.extend((corners[0], corners[i], corners[i + 1])
                             for i in range(1, len(corners) - 1))
    return TriMesh(np.array(vertices, dtype=np.float64).reshape(-1, 3),
                   np.array(triangles, dtype=np.int32).reshape(-1, 3))


def normalise_model(raw: TriMesh, entry: CatalogueEntry) -> TriMesh:
    """Raw y-up model -> local frame of this module, stretched to the catalogue size."""
    used = np.unique(raw.triangles)
    vertices = raw.vertices[used]
    triangles = np.searchsorted(used, raw.triangles).astype(np.int32)
    if entry.model_rotation is not None:
        vertices = vertices @ np.array(entry.model_rotation).reshape(3, 3).T
    low, high = vertices.min(axis=0), vertices.max(axis=0)
    size = np.array([entry.width, entry.height, entry.depth])
    scale = size / np.maximum(high - low, 1e-9)
    vertices = ((vertices - low) * scale - size / 2) @ _Y_UP_TO_Z_UP.T
    vertices[:, 2] += entry.height / 2
    return TriMesh(vertices, triangles)


def _decimated(mesh: TriMesh, max_triangles: int) -> TriMesh:
    if len(mesh.triangles) <= max_triangles:
        return mesh
    legacy = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices),
                                       o3d.utility.Vector3iVector(mesh.triangles))
    legacy = legacy.simplify_quadric_decimation(max_triangles)
    legacy.remove_unreferenced_vertices()
    return TriMesh(np.asarray(legacy.vertices), np.asarray(legacy.triangles))


def _cache_path(entry: CatalogueEntry, config: FurnitureConfig) -> str:
    safe = re.sub(r'[^A-Za-z0-9_.-]', '_', f'{entry.library}__{entry.id}')
    return os.path.join(config.resolved_cache_dir, CACHE_VERSION,
                        f'{safe}__{config.max_triangles}.npz')


@functools.lru_cache(maxsize=256)
def _load_model_cached(entry: CatalogueEntry, config: FurnitureConfig) -> TriMesh:
    cache_path = _cache_path(entry, config)
    if os.path.exists(cache_path):
        with np.load(cache_path) as data:
            return TriMesh(data['vertices'], data['triangles'])
    library = os.path.join(config.catalogue_dir, f'{entry.library}.sh3f')
    if not os.path.exists(library):
        raise WorldError(f'furniture library {library!r} is missing: {INSTALL_HINT}')
    with zipfile.ZipFile(library) as archive:
        text = archive.read(entry.model_path).decode('latin-1')
    mesh = _decimated(normalise_model(parse_obj(text), entry), config.max_triangles)
    os.makedirs(os.path.dirname(cache_path), exist_ok=True)
    temporary = f'{cache_path}.{os.getpid()}.tmp.npz'
    np.savez(temporary, vertices=mesh.vertices, triangles=mesh.triangles)
    os.replace(temporary, cache_path)
    return mesh


def load_model(entry: CatalogueEntry, config: FurnitureConfig) -> TriMesh:
    """Mesh of ``entry`` in the local frame described above (memory and disk cached)."""
    return _load_model_cached(entry, config)
