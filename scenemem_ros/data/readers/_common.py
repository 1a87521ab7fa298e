"""Helpers shared by the dataset readers: options, the reader protocol, PNG/text/CSV loading,
stamp association and point visibility.

Every function raises :class:`~scenemem_ros.data.errors.DataError` naming the offending file.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.frame import DEFAULT_WORLD_FRAME, Frame, Sequence
from scenemem_ros.geometry.camera import PinholeCamera
from scenemem_ros.geometry.errors import GeometryError
from scenemem_ros.geometry.transforms import pose_to_matrix

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: PNG colour type -> channels (grey, RGB, grey+alpha, RGBA); palette images are rejected.
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}

#: (3, 3) OpenGL camera axes (x right, y up, z backward) -> OpenCV optical axes, and back.
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class SubsampleOptions:
    """Frame selection shared by every reader.

    Attributes:
        start: index of the first usable frame to keep (>= 0).
        stride: keep every ``stride``-th usable frame (>= 1).
        max_frames: keep at most this many frames; None keeps all.
        world_frame: name given to the dataset's fixed frame in the produced Sequence.
    """

    start: int = 0
    stride: int = 1
    max_frames: int | None = None
    world_frame: str = DEFAULT_WORLD_FRAME

    def __post_init__(self) -> None:
        name = type(self).__name__
        if self.start < 0:
            raise DataError(f'{name}.start must be >= 0, got {self.start!r}')
        if self.stride < 1:
            raise DataError(f'{name}.stride must be >= 1, got {self.stride!r}')
        if self.max_frames is not None and self.max_frames < 1:
            raise DataError(f'{name}.max_frames must be >= 1 or None, got {self.max_frames!r}')
        if not self.world_frame:
            raise DataError(f'{name}.world_frame must be a non-empty string')

    def select(self, count: int) -> list[int]:
        """Indices (into ``count`` usable frames) kept by start / stride / max_frames."""
        kept = list(range(self.start, count, self.stride))
        return kept if self.max_frames is None else kept[:self.max_frames]


def check_positive(owner: object, **values: float | None) -> None:
    """Raise DataError unless every given option is finite and > 0 (None is allowed)."""
    for field_name, value in values.items():
        if value is not None and not (np.isfinite(value) and value > 0):
            raise DataError(f'{type(owner).__name__}.{field_name} must be finite and > 0, '
                            f'got {value!r}')


@runtime_checkable
class SequenceSource(Protocol):
    """What every reader is: a lazily loaded, subsampled run of frames from one recording.

    ``iter(source)`` loads frames one at a time (large datasets never sit in memory at once);
    ``source.read()`` gathers them into a :class:`Sequence`.
    """

    name: str
    world_frame: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def read(self) -> Sequence: ...


OptionsT = TypeVar('OptionsT', bound=SubsampleOptions)


def make_options(options_type: type[OptionsT], options: OptionsT | None,
                 overrides: dict[str, Any]) -> OptionsT:
    """Options from an instance and/or keyword overrides; unknown keys raise DataError."""
    base = options if options is not None else options_type()
    if not isinstance(base, options_type):
        raise DataError(f'expected {options_type.__name__}, got {type(base).__name__}')
    known = set(options_type.__dataclass_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise DataError(f'{options_type.__name__} has no option(s) {unknown}; '
                        f'known: {sorted(known)}')
    if not overrides:
        return base
    values = {key: getattr(base, key) for key in known}
    values.update(overrides)
    return options_type(**values)


class IndexedSource:
    """Base of the readers: ``_count`` usable frames, loaded on demand by ``_load(i)``."""

    name: str
    world_frame: str
    _selected: list[int]

    def _load(self, index: int) -> Frame:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._selected)

    def __iter__(self) -> Iterator[Frame]:
        for index in self._selected:
            yield self._load(index)

    def read(self) -> Sequence:
        """All selected frames as a Sequence (stamps checked sorted by Sequence)."""
        return Sequence(frames=list(self), name=self.name, world_frame=self.world_frame)


def require_file(path: Path, what: str = 'file') -> Path:
    if not path.is_file():
        raise DataError(f'missing {what}: {path}')
    return path


def require_dir(path: Path, what: str = 'folder') -> Path:
    if not path.is_dir():
        raise DataError(f'missing {what}: {path}')
    return path


def png_header(path: Path) -> tuple[int, int, int, int]:
    """-> (width, height, bit_depth, channels) from a PNG's IHDR chunk."""
    require_file(path, 'PNG file')
    with open(path, 'rb') as handle:
        head = handle.read(33)
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b'IHDR':
        raise DataError(f'not a PNG file: {path}')
    width, height, bit_depth, colour_type = struct.unpack('>IIBB', head[16:26])
    if colour_type not in _PNG_CHANNELS:
        raise DataError(f'unsupported PNG colour type {colour_type} (palette?) in {path}')
    return width, height, bit_depth, _PNG_CHANNELS[colour_type]


def load_png16(path: Path, channels: int = 1) -> np.ndarray:
    """16-bit PNG -> (H, W) uint16 for ``channels=1``, (H, W, C) uint16 otherwise.

    The bit depth and channel count are checked from the header first, so an 8-bit image is
    rejected instead of being silently read at the wrong scale.
    """
    width, height, bit_depth, found = png_header(path)
    if bit_depth != 16:
        raise DataError(f'expected a 16-bit PNG, got {bit_depth}-bit: {path}')
    if found != channels:
        raise DataError(f'expected a {channels}-channel PNG, got {found} channels: {path}')
    try:
        if channels == 1:
            from PIL import Image

            with Image.open(path) as image:
                array = np.asarray(image, dtype=np.uint16)
        else:
            # Pillow truncates 16-bit colour PNGs to 8 bits; libpng (via open3d) keeps them.
            import open3d as o3d

            array = np.asarray(o3d.io.read_image(path), dtype=np.uint16)
    except (OSError, ValueError, SyntaxError, zlib.error) as exc:
        raise DataError(f'cannot decode PNG {path}: {exc}') from exc
    expected = (height, width) if channels == 1 else (height, width, channels)
    if array.shape != expected:
        raise DataError(f'decoded PNG has shape {array.shape}, header says {expected}: {path}')
    return array


def read_number_table(path: Path, columns: int, what: str = 'table') -> np.ndarray:
    """Whitespace-separated numbers, '#' comments -> (N, columns) float64; checks every row."""
    require_file(path, what)
    rows: list[list[float]] = []
    with open(path, encoding='utf-8') as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.split('#', 1)[0].replace(',', ' ').split()
            if not text:
                continue
            if len(text) != columns:
                raise DataError(f'{path}:{line_no}: expected {columns} columns, got {len(text)}')
            try:
                rows.append([float(value) for value in text])
            except ValueError as exc:
                raise DataError(f'{path}:{line_no}: {exc}') from None
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def read_stamped_names(path: Path) -> tuple[np.ndarray, list[str]]:
    """TUM-style list ``timestamp filename`` ('#' comments) -> ((N,) float64 stamps, names)."""
    require_file(path, 'file list')
    stamps: list[float] = []
    names: list[str] = []
    with open(path, encoding='utf-8') as handle:
        for line_no, line in enumerate(handle, start=1):
            text = line.split('#', 1)[0].split()
            if not text:
                continue
            if len(text) != 2:
                raise DataError(f'{path}:{line_no}: expected 2 columns, got {len(text)}')
            try:
                stamps.append(float(text[0]))
            except ValueError:
                raise DataError(f'{path}:{line_no}: bad timestamp {text[0]!r}') from None
            names.append(text[1])
    return np.asarray(stamps, dtype=np.float64), names


def check_sorted(stamps: np.ndarray, path: Path) -> None:
    """Raise DataError unless ``stamps`` are finite and non-decreasing."""
    if not np.isfinite(stamps).all():
        raise DataError(f'non-finite timestamps in {path}')
    decreasing = np.nonzero(np.diff(stamps) < 0)[0]
    if decreasing.size:
        row = int(decreasing[0]) + 1
        raise DataError(f'timestamps are not sorted in {path} (row {row}: '
                        f'{stamps[row]!r} < {stamps[row - 1]!r})')


def associate_nearest(query: np.ndarray, reference: np.ndarray, max_difference: float
                      ) -> np.ndarray:
    """(N,) query stamps, (M,) sorted reference stamps -> (N,) int64 nearest index, -1 if none
    lies within ``max_difference`` seconds."""
    result = np.full(len(query), -1, dtype=np.int64)
    if len(reference) == 0 or len(query) == 0:
        return result
    right = np.clip(np.searchsorted(reference, query), 0, len(reference) - 1)
    left = np.clip(right - 1, 0, len(reference) - 1)
    pick_left = np.abs(query - reference[left]) <= np.abs(reference[right] - query)
    nearest = np.where(pick_left, left, right)
    ok = np.abs(reference[nearest] - query) <= max_difference
    result[ok] = nearest[ok]
    return result


def pose_from_xyz_quat(values: np.ndarray, path: Path) -> np.ndarray:
    """(..., 7) ``tx ty tz qx qy qz qw`` (Hamilton, scalar last) -> (..., 4, 4) float64."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f'non-finite pose values in {path}')
    try:
        return pose_to_matrix(values[..., :3], values[..., 3:7])
    except GeometryError as exc:
        raise DataError(f'bad pose in {path}: {exc}') from exc


def check_rigid(matrix: np.ndarray, path: Path, tol: float = 1e-3) -> np.ndarray:
    """(4, 4) -> the same as float64 if it is finite and rigid (det +1) within ``tol``."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (4, 4):
        raise DataError(f'expected a 4x4 pose, got shape {m.shape} in {path}')
    if not np.isfinite(m).all():
        raise DataError(f'non-finite pose in {path}')
    rotation = m[:3, :3]
    if (np.abs(rotation.T @ rotation - np.eye(3)).max() > tol
            or abs(np.linalg.det(rotation) - 1.0) > tol
            or np.abs(m[3] - [0.0, 0.0, 0.0, 1.0]).max() > tol):
        raise DataError(f'pose is not a rigid transform (det {np.linalg.det(rotation):+.4f}) '
                        f'in {path}')
    return m


def read_csv_columns(path: Path, required: list[str], optional: tuple[str, ...] = ()
                     ) -> dict[str, np.ndarray]:
    """CSV (optionally .gz) with a header -> {column: (N,) array} for ``required`` columns and
    those of ``optional`` that exist. Extra columns are ignored (as projectaria_tools does)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    require_file(path, 'CSV file')
    try:
        table = pacsv.read_csv(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f'cannot parse CSV {path}: {exc}') from exc
    missing = [name for name in required if name not in table.column_names]
    if missing:
        raise DataError(f'{path} lacks column(s) {missing}; has {table.column_names}')
    wanted = list(required) + [name for name in optional if name in table.column_names]
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in wanted}


def float_columns(columns: dict[str, np.ndarray], names: list[str], path: Path) -> np.ndarray:
    """Stack ``names`` from a column dict as (N, len(names)) float64; non-numeric -> DataError."""
    try:
        return np.stack([np.asarray(columns[name], dtype=np.float64) for name in names], axis=1)
    except (TypeError, ValueError) as exc:
        raise DataError(f'non-numeric values in {names} of {path}: {exc}') from exc


def visible_points(points: np.ndarray, camera_to_world: np.ndarray, camera: PinholeCamera,
                   max_range: float, hidden_point_removal: bool = False,
                   hpr_radius_factor: float = 100.0) -> np.ndarray:
    """(N, 3) world points -> (M, 3) of them inside the camera's frustum within ``max_range``
    metres of the optical centre; with ``hidden_point_removal`` also only those open3d's
    hidden-point-removal operator (Katz et al. 2007) sees from the camera centre."""
    world_from_camera = np.asarray(camera_to_world, dtype=np.float64)
    rotation, centre = world_from_camera[:3, :3], world_from_camera[:3, 3]
    local = (np.asarray(points, dtype=np.float64) - centre) @ rotation
    z = local[:, 2]
    in_front = z > 1e-6
    safe_z = np.where(in_front, z, 1.0)
    u = camera.fx * local[:, 0] / safe_z + camera.cx
    v = camera.fy * local[:, 1] / safe_z + camera.cy
    keep = (in_front & (u >= -0.5) & (u < camera.width - 0.5) & (v >= -0.5)
            & (v < camera.height - 0.5) & (np.linalg.norm(local, axis=1) <= max_range))
    selected = np.asarray(points)[keep]
    if hidden_point_removal and len(selected) > 3:
        import open3d as o3d

        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(selected.astype(np.float64)))
        radius = hpr_radius_factor * float(np.linalg.norm(selected - centre, axis=1).max())
        try:
            _, visible = cloud.hidden_point_removal(centre, radius)
        except RuntimeError:  # degenerate (coplanar) input: keep the frustum selection
            return selected
        selected = selected[np.asarray(visible, dtype=np.int64)]
    return selected


def find_first(folder: Path, candidates: list[str], what: str) -> Path:
    """The first existing ``folder / c`` among ``candidates``; DataError naming all tried."""
    for candidate in candidates:
        path = folder / candidate
        if path.exists():
            return path
    tried = ', '.join(str(folder / c) for c in candidates)
    raise DataError(f'missing {what}: none of {tried}')

