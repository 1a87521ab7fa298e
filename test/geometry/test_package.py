"""The geometry package loads its names lazily: voxels alone import no torch."""

import subprocess
import sys

import scenemem_ros.geometry as geometry


def test_every_exported_name_resolves():
    for name in geometry.__all__:
        assert getattr(geometry, name) is not None
    assert set(geometry.__all__) <= set(dir(geometry))


def test_voxels_and_cameras_import_without_torch():
    script = ('import sys\n'
              'from scenemem_ros.geometry import GridSpec2D\n'
              'from scenemem_ros.geometry.camera import PinholeCamera\n'
              'from scenemem_ros.geometry.voxels import VoxelGrid\n'
              'import numpy as np\n'
              'grid = VoxelGrid((0, 0, 0), 0.5, (2, 2, 2))\n'
              'grid.point_counts(np.zeros((3, 3)))\n'
              'PinholeCamera.from_fov(4, 3, 90.0).matrix\n'
              'print("torch" in sys.modules)\n')
    output = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            check=True).stdout
    assert output.strip() == 'False'
