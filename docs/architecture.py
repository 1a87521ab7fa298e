"""Draws docs/architecture.png: python docs/architecture.py (matplotlib only)."""

from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

BOXES = {
    # name: (x, y, width, height, colour, text)
    'sensors': (0.2, 6.3, 3.4, 1.1, '#dde8f5',
                'depth Image (32FC1 / 16UC1)\nCameraInfo, camera PoseStamped'),
    'detector': (0.2, 4.2, 3.4, 1.5, '#f9e3c8',
                 'change_detector node\npair by stamp -> expected depth\n'
                 'evidence + hysteresis -> classify'),
    'encoder': (0.2, 2.4, 3.4, 1.1, '#f9e3c8', 'slot encoder (GPU when present)\nobjects in view'),
    'memory': (4.6, 4.2, 3.6, 1.5, '#d8efd8',
               'scene_memory node (lifecycle)\nLiveMap = learned memory\n+ override journal'),
    'planner': (9.2, 4.2, 3.0, 1.5, '#e6dcf2', 'planner node\nexact grid A*\nrobot inflation'),
    'nav': (9.2, 2.4, 3.0, 1.1, '#eeeeee', 'navigation stack\nGetPlan client, RViz'),
    'model': (4.6, 6.3, 3.6, 1.1, '#eeeeee', 'memory checkpoint (.npz)\ntrained offline'),
    'train': (9.2, 6.1, 3.0, 1.5, '#fff5c2',
              'offline training\n(scenemem train): synthetic,\nTUM, ScanNet, Replica,\n'
              'SYNTHIA, Aria, InternData, rosbag2'),
    'grid': (4.6, 2.4, 3.6, 1.1, '#d8efd8', '/map OccupancyGrid (latched)\nGetMap, overrides'),
}
ARROWS = [('sensors', 'detector', 'depth + pose', 0.1), ('detector', 'encoder', '', 0),
          ('encoder', 'detector', 'slots', 0), ('detector', 'memory', 'override updates', -0.45),
          ('model', 'memory', 'load', 0.1), ('memory', 'grid', '', 0),
          ('grid', 'planner', '/map', 0.1), ('planner', 'nav', 'GetPlan / Path', 0.1),
          ('nav', 'memory', 'operator overrides', -0.3), ('train', 'model', 'checkpoint', 0.1),
          ('memory', 'detector', 'expected geometry', 0.35)]


def centre(name):
    x, y, w, h, *_ = BOXES[name]
    return x + w / 2, y + h / 2


def main() -> None:
    figure, axis = plt.subplots(figsize=(12.5, 6.2))
    for x, y, w, h, colour, text in BOXES.values():
        axis.add_patch(FancyBboxPatch((x, y), w, h, boxstyle='round,pad=0.05', fc=colour,
                                      ec='#444444'))
        axis.text(x + w / 2, y + h / 2, text, ha='center', va='center', fontsize=9.5)
    for source, target, label, offset in ARROWS:
        (x0, y0), (x1, y1) = centre(source), centre(target)
        axis.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle='-|>', mutation_scale=14,
                                       shrinkA=38, shrinkB=38, color='#333333',
                                       connectionstyle='arc3,rad=0.08'))
        if label:
            axis.text((x0 + x1) / 2, (y0 + y1) / 2 + offset, label, fontsize=8.5, ha='center',
                      color='#1f3f7f')
    axis.set_xlim(0, 12.4)
    axis.set_ylim(2.2, 7.7)
    axis.axis('off')
    axis.set_title('scenemem_ros: known scene in, change noticed, plan rerouted', fontsize=12)
    out = Path(__file__).with_name('architecture.png')
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    print(out)


if __name__ == '__main__':
    main()
