"""DDS environment helpers: keep tests and demos on loopback, ship the shared-memory profile.

Only our tests, benchmarks and demo use these; on a robot the user's own DDS settings apply.
Environment variables are read when a process creates its first DDS participant, so set them
before ``rclpy.init`` (in-process) or pass them to ``subprocess`` (``env={**os.environ, **env}``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Valid ROS_DOMAIN_ID range on Linux without port clashes (0..101).
MAX_DOMAIN_ID = 101
PROFILE_NAME = 'fastdds_shm.xml'
PACKAGE_NAME = 'scenemem_ros'


def loopback_environment(domain_id: int, *, shm_profile: bool = False) -> dict[str, str]:
    """Environment variables that keep ROS 2 discovery and traffic on this machine.

    * ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``: Jazzy and later.
    * ``ROS_LOCALHOST_ONLY=1``: Humble (Kilted ignores it).
    * ``FASTDDS_BUILTIN_TRANSPORTS=SHM``: Fast DDS uses shared memory only.
    * ``ROS_DOMAIN_ID``: isolates concurrent test workers from each other.

    With ``shm_profile=True`` the shipped ``config/fastdds_shm.xml`` (shared memory only, 16 MiB
    segment, for large best-effort depth images) is also selected as the default Fast DDS profile
    through :func:`profiles_file_variable`. Fast DDS reads it once per process, when the first
    participant is created: apply it to a fresh process (or before the first ``rclpy.init``).

    Raises:
        ValueError: ``domain_id`` outside 0..101.
    """
    if isinstance(domain_id, bool) or not isinstance(domain_id, int) or not (
            0 <= domain_id <= MAX_DOMAIN_ID):
        raise ValueError(f'domain_id must be an int in 0..{MAX_DOMAIN_ID}, got {domain_id!r}')
    env = {
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOCALHOST_ONLY': '1',
        'FASTDDS_BUILTIN_TRANSPORTS': 'SHM',
        'ROS_DOMAIN_ID': str(domain_id),
    }
    if shm_profile:
        env[profiles_file_variable()] = str(fastdds_profile_path())
    return env


def profiles_file_variable(distro: str | None = None) -> str:
    """The variable naming Fast DDS's XML profile file for ``distro`` (default ``$ROS_DISTRO``).

    Humble's Fast DDS 2.6 reads ``FASTRTPS_DEFAULT_PROFILES_FILE``; Jazzy and later read
    ``FASTDDS_DEFAULT_PROFILES_FILE`` (and warn that the old name is deprecated).
    """
    distro = (distro if distro is not None else os.environ.get('ROS_DISTRO', '')).lower()
    legacy = distro in ('humble', 'iron', 'galactic', 'foxy')
    return 'FASTRTPS_DEFAULT_PROFILES_FILE' if legacy else 'FASTDDS_DEFAULT_PROFILES_FILE'


def apply_environment(env: dict[str, str]) -> dict[str, str | None]:
    """Set ``env`` in ``os.environ``; returns the previous values (None = unset) to restore."""
    previous = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    return previous


def restore_environment(previous: dict[str, str | None]) -> None:
    """Undo :func:`apply_environment`."""
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def fastdds_profile_path() -> Path:
    """Path of the shipped ``fastdds_shm.xml``.

    Looks in the installed package share directory (``share/scenemem_ros/config``) first, then
    in the source tree's ``config/``.

    Raises:
        FileNotFoundError: neither exists.
    """
    candidates = []
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )

        try:
            candidates.append(Path(get_package_share_directory(PACKAGE_NAME)) / 'config')
        except (PackageNotFoundError, ValueError, LookupError, OSError):
            pass
    except ImportError:
        pass
    candidates.append(Path(__file__).resolve().parents[2] / 'config')
    for directory in candidates:
        path = directory / PROFILE_NAME
        if path.is_file():
            return path
    raise FileNotFoundError(f'{PROFILE_NAME} not found in {[str(c) for c in candidates]}')
