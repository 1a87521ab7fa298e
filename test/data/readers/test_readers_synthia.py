"""SYNTHIA-SEQS reader: centimetres in channel 0, and proof that the left-handed y-up poses
become right-handed z-up poses that put known planes where they belong.

The fixture is built entirely in SYNTHIA's own frame (left-handed, y up, OpenGL camera axes)
and ray-cast there, independently of the reader's conversion.
"""

from __future__ import annotations

import numpy as np
import pytest
from reader_fixtures import write_png

from scenemem_ros.data.errors import DataError
from scenemem_ros.data.readers import READERS, SynthiaReader
from scenemem_ros.data.readers.synthia import SYNTHIA_CAMERA

CAMERA_HEIGHT = 1.5


def synthia_matrix(position, yaw: float, pitch: float) -> np.ndarray:
    """(4, 4) SYNTHIA camera-to-world with OpenGL camera axes in the left-handed y-up world:
    yaw turns the view from +z towards +x, pitch > 0 looks down."""
    forward = np.array([np.sin(yaw) * np.cos(pitch), -np.sin(pitch),
                        np.cos(yaw) * np.cos(pitch)])
    up_world = np.array([0.0, 1.0, 0.0])
    # left-handed world: right = up x forward
    right = np.cross(up_world, forward)
    right /= np.linalg.norm(right)
    up = np.cross(forward, right)
    matrix = np.eye(4)
    matrix[:3, :3] = np.stack([right, up, -forward], axis=1)  # OpenGL: z points backwards
    matrix[:3, 3] = position
    return matrix


def synthia_depth_cm(matrix: np.ndarray, plane_axis: int, plane_value: float) -> np.ndarray:
    """(760, 1280) uint16 centimetre z-depth of the SYNTHIA-frame plane p[axis] = value."""
    cam = SYNTHIA_CAMERA
    v, u = np.mgrid[0:cam.height, 0:cam.width].astype(np.float64)
    x, y = (u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy
    gl = np.stack([x, -y, -np.ones_like(x)], axis=-1)  # OpenCV ray (x, y, 1) in GL axes
    directions = gl @ matrix[:3, :3].T
    with np.errstate(divide='ignore', invalid='ignore'):
        t = (plane_value - matrix[plane_axis, 3]) / directions[..., plane_axis]
    t = np.where(np.isfinite(t) & (t > 0) & (t < 600), t, 0.0)
    return np.round(t * 100).astype(np.uint16)


FRAMES = [  # (SYNTHIA matrix, plane axis, plane value): ground y = 0, then a wall z = 20
    (synthia_matrix([2.0, CAMERA_HEIGHT, -3.0], yaw=0.3, pitch=0.35), 1, 0.0),
    (synthia_matrix([2.0, CAMERA_HEIGHT, -3.0], yaw=0.0, pitch=0.0), 2, 20.0),
]


def make_synthia(root, frames=FRAMES, channels=3, bit_depth=16):
    sequence = root / 'SYNTHIA-SEQS-05-SPRING'
    for i, (matrix, axis, value) in enumerate(frames):
        depth = synthia_depth_cm(matrix, axis, value)
        labels = np.full_like(depth, 7)  # other channels hold unrelated data
        image = np.stack([depth, labels, labels + 1], axis=-1)[..., :channels]
        image = image[..., 0] if channels == 1 else image
        write_png(sequence / 'Depth/Stereo_Left/Omni_F' / f'{i:06d}.png',
                  np.clip(image, 0, 255) if bit_depth == 8 else image, bit_depth)
        params = sequence / 'CameraParams/Stereo_Left/Omni_F' / f'{i:06d}.txt'
        params.parent.mkdir(parents=True, exist_ok=True)
        params.write_text(' '.join(f'{v:.8f}' for v in matrix.flatten(order='F')) + '\n')
    return sequence


def test_fixture_matrices_are_left_handed():
    for matrix, _, _ in FRAMES:
        assert np.linalg.det(matrix[:3, :3]) == pytest.approx(-1.0)


def test_poses_become_right_handed_z_up_and_planes_land_in_place(tmp_path):
    reader = SynthiaReader(make_synthia(tmp_path))
    assert READERS['synthia'] is SynthiaReader
    ground, wall = reader.read()
    assert (ground.stamp, wall.stamp) == (0.0, 0.2)  # 5 fps
    assert ground.camera == SYNTHIA_CAMERA
    for frame in (ground, wall):
        rotation = frame.camera_to_world[:3, :3]
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-7)
        # SYNTHIA (x, y, z) = (2, 1.5, -3) -> (forward z_s, left -x_s, up y_s)
        np.testing.assert_allclose(frame.camera_position, [-3.0, -2.0, CAMERA_HEIGHT])
        assert rotation[:, 1] @ [0.0, 0.0, 1.0] < -0.9  # image down = world down
    # the SYNTHIA ground y_s = 0 is z = 0 here; the camera looks down at it
    points = ground.world_points()
    assert len(points) > 100_000
    assert np.abs(points[:, 2]).max() < 0.02
    assert ground.camera_to_world[:3, 2] @ [0.0, 0.0, 1.0] == pytest.approx(-np.sin(0.35))
    # the SYNTHIA wall z_s = 20 is the plane x = 20 here, straight ahead of the camera
    points = wall.world_points()
    assert np.abs(points[:, 0] - 20.0).max() < 0.02
    np.testing.assert_allclose(wall.camera_to_world[:3, 2], [1.0, 0.0, 0.0], atol=1e-7)
    # channel 0 in centimetres: the centre pixel sees the wall 23 m ahead
    assert wall.depth[380, 640] == pytest.approx(23.0, abs=0.005)


def test_max_depth_and_subsampling(tmp_path):
    folder = make_synthia(tmp_path)
    assert len(SynthiaReader(folder, stride=2)) == 1
    ground = SynthiaReader(folder, max_depth=5.0, max_frames=1).read()[0]
    assert np.nanmax(ground.depth) <= 5.0


@pytest.mark.parametrize('case', ['det_plus_one', 'fifteen_numbers', 'one_channel', 'eight_bit',
                                  'missing_params', 'nan_params'])
def test_malformed_inputs_name_the_file(tmp_path, case):
    frames = FRAMES[:1]
    if case == 'det_plus_one':
        matrix = frames[0][0].copy()
        matrix[:3, 2] *= -1
        frames = [(matrix, 1, 0.0)]
    folder = make_synthia(tmp_path, frames, channels=1 if case == 'one_channel' else 3,
                          bit_depth=8 if case == 'eight_bit' else 16)
    params = folder / 'CameraParams/Stereo_Left/Omni_F/000000.txt'
    target = params
    if case == 'fifteen_numbers':
        params.write_text(' '.join(params.read_text().split()[:15]))
    elif case == 'nan_params':
        params.write_text('nan ' + ' '.join(params.read_text().split()[1:]))
    elif case == 'missing_params':
        params.unlink()
    elif case in ('one_channel', 'eight_bit'):
        target = folder / 'Depth/Stereo_Left/Omni_F/000000.png'
    with pytest.raises(DataError, match=str(target)):
        SynthiaReader(folder).read()
