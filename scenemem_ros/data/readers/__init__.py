"""Dataset readers: each turns one dataset's published on-disk layout into Frames.

Every reader class satisfies :class:`SequenceSource`: construct it with the dataset path and
options (an options dataclass and/or keyword overrides), iterate it for lazily loaded frames,
or call ``read()`` for a :class:`~scenemem_ros.data.frame.Sequence`::

    source = open_source('tum', 'rgbd_dataset_freiburg1_xyz', stride=5, max_frames=100)
    for frame in source: ...

Each module's docstring states and cites the dataset's conventions.
"""

from __future__ import annotations

from pathlib import Path

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers._common import SequenceSource, SubsampleOptions
from scenemem_ros.data.readers.aria_mps import AriaMpsOptions, AriaMpsReader, EgoExo4DReader
from scenemem_ros.data.readers.interndata import InternDataOptions, InternDataReader
from scenemem_ros.data.readers.replica import ReplicaOptions, ReplicaReader
from scenemem_ros.data.readers.rosbag import RosbagOptions, RosbagReader
from scenemem_ros.data.readers.scannet import ScanNetOptions, ScanNetReader
from scenemem_ros.data.readers.synthia import SynthiaOptions, SynthiaReader
from scenemem_ros.data.readers.tum import TumOptions, TumReader

#: format name -> reader class (constructor ``(path, options=None, **overrides)``).
READERS: dict[str, type] = {
    'tum': TumReader,
    'scannet': ScanNetReader,
    'replica': ReplicaReader,
    'synthia': SynthiaReader,
    'hd-epic': AriaMpsReader,
    'ego-exo4d': EgoExo4DReader,
    'interndata': InternDataReader,
    'rosbag': RosbagReader,
}


def open_source(format_name: str, path: str | Path, **options) -> SequenceSource:
    """The reader registered as ``format_name`` opened on ``path`` with keyword options."""
    try:
        reader = READERS[format_name]
    except KeyError:
        raise DataError(f'unknown dataset format {format_name!r}; expected one of '
                        f'{sorted(READERS)}') from None
    return reader(path, **options)


__all__ = [
    'READERS', 'AriaMpsOptions', 'AriaMpsReader', 'EgoExo4DReader', 'InternDataOptions',
    'InternDataReader', 'ReplicaOptions', 'ReplicaReader', 'RosbagOptions', 'RosbagReader',
    'ScanNetOptions', 'ScanNetReader',
    'SequenceSource', 'SubsampleOptions', 'SynthiaOptions', 'SynthiaReader', 'TumOptions',
    'TumReader', 'open_source',
]
