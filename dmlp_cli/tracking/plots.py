"""PNG plots of curves against steps, drawn with matplotlib's Agg canvas (no display, no global pyplot state)
and written atomically, so a viewer never opens half an image.

Every figure has a fixed size in pixels (PANEL_PX per panel, no tight cropping): what a page embeds, and
what the tests check, does not depend on the labels.
"""

import io
import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dmlp_cli.data.jsonl import write_atomically
from dmlp_cli.tracking.run_history import Curve

PANEL_PX = (400, 300)  # width, height of one panel
DPI = 100
COLUMNS = 3  # panels per row of a grid


def _save(figure: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return write_atomically(path, buffer.getvalue())


def _axes_scale(axes, values: list[float]) -> None:
    """Log scale for a positive curve spanning more than three decades (a loss falling from its start)."""
    finite = [value for value in values if math.isfinite(value)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 1e3:
        axes.set_yscale("log")


def grid_shape(panels: int) -> tuple[int, int]:
    """(rows, columns) of a grid of `panels` panels."""
    columns = min(panels, COLUMNS)
    return math.ceil(panels / columns), columns


def plot_panels(path: Path, *, curves: dict[str, Curve], title: str) -> Path:
    """One panel per curve (its name as the panel's title), in a grid of up to COLUMNS panels a row."""
    rows, columns = grid_shape(len(curves))
    figure = Figure(figsize=(columns * PANEL_PX[0] / DPI, rows * PANEL_PX[1] / DPI), dpi=DPI, layout="constrained")
    figure.suptitle(title)
    for index, (name, curve) in enumerate(curves.items()):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.plot(curve.steps, curve.values, marker="o" if len(curve.steps) < 30 else None, markersize=3)
        axes.set_title(name, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        _axes_scale(axes, curve.values)
    return _save(figure, path)


def plot_overlay(path: Path, *, curves: dict[str, Curve], metric: str, title: str) -> Path:
    """All curves of one metric on one pair of axes, one line per label (a sweep's jobs)."""
    figure = Figure(figsize=(2 * PANEL_PX[0] / DPI, 2 * PANEL_PX[1] / DPI), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for label, curve in curves.items():
        axes.plot(curve.steps, curve.values, marker="o" if len(curve.steps) < 30 else None, markersize=3, label=label)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    _axes_scale(axes, [value for curve in curves.values() for value in curve.values])
    if curves:
        axes.legend(fontsize=7, loc="best")
    return _save(figure, path)
