"""Pictures for people: top-down maps with paths, overrides and depth frames (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402


def draw_grid(axis: plt.Axes, cells: np.ndarray, origin: Sequence[float], resolution: float,
              title: str) -> None:
    """Draw an (X, Y) grid: -1 unknown (grey), 0 free (white), 100 / True occupied (black)."""
    values = np.asarray(cells)
    image = np.full(values.shape, 0.75)
    if values.dtype == bool:
        image[:] = 1.0
        image[values] = 0.0
    else:
        image[values == 0] = 1.0
        image[values >= 50] = 0.0
    extent = (origin[0], origin[0] + values.shape[0] * resolution,
              origin[1], origin[1] + values.shape[1] * resolution)
    axis.imshow(image.T, origin='lower', extent=extent, cmap='gray', vmin=0, vmax=1,
                interpolation='nearest')
    axis.set_title(title)
    axis.set_xlabel('x (m)')
    axis.set_ylabel('y (m)')
    axis.set_aspect('equal')


def draw_path(axis: plt.Axes, xy: np.ndarray, colour: str, label: str) -> None:
    """Draw an (N, 2) path."""
    if len(xy):
        axis.plot(xy[:, 0], xy[:, 1], '-', color=colour, linewidth=2, label=label)


def draw_box(axis: plt.Axes, minimum: Sequence[float], maximum: Sequence[float], colour: str,
             label: str) -> None:
    axis.add_patch(Rectangle((minimum[0], minimum[1]), maximum[0] - minimum[0],
                             maximum[1] - minimum[1], fill=True, alpha=0.45, color=colour,
                             label=label))


def draw_depth(axis: plt.Axes, depth: np.ndarray, title: str) -> None:
    """Draw an (H, W) depth image in metres (NaN shown black)."""
    shown = axis.imshow(np.where(np.isfinite(depth), depth, np.nan), cmap='turbo')
    axis.set_title(title)
    axis.axis('off')
    plt.colorbar(shown, ax=axis, fraction=0.035, label='m')


def save_figure(figure: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
