"""ament_python package definition for scenemem_ros (colcon build or pip install)."""

from glob import glob

from setuptools import Extension, find_packages, setup

PACKAGE = 'scenemem_ros'

# The planner's A* in plain C (no Python API): a shared library loaded with ctypes by
# scenemem_ros/planning/native.py, which falls back to a scipy search when it is missing.
PLANNER_SEARCH = Extension(f'{PACKAGE}.planning._astar', sources=[f'{PACKAGE}/planning/_astar.c'],
                           extra_compile_args=['-O3', '-std=c99'], optional=True)

NODE_ENTRY_POINTS = [
    'scene_memory = scenemem_ros.ros.scene_memory_node:main',
    'planner = scenemem_ros.ros.planner_node:main',
    'change_detector = scenemem_ros.ros.change_detector_node:main',
    'scenemem_bag_play = scenemem_ros.ros.bag_player:main',
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'benchmarks']),
    ext_modules=[PLANNER_SEARCH],
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.xml')),
        (f'share/{PACKAGE}/models', glob('models/*.pt') + glob('models/*.npz') + glob('models/*.md')),
    ],
    python_requires='>=3.10',
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='scenemem_ros developers',
    maintainer_email='scenemem@example.com',
    description='Learned memory of known scenes for ROS 2: occupancy, plans, change overrides.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': NODE_ENTRY_POINTS + ['scenemem = scenemem_ros.cli:main'],
    },
)
