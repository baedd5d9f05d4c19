import matplotlib.image
import numpy as np

from dmlp_cli.tracking.plots import PANEL_PX, grid_shape, plot_overlay, plot_panels
from dmlp_cli.tracking.run_history import Curve

BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # matplotlib's first two line colours


def _has_colour(image: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    pixels = np.round(image[..., :3] * 255).astype(int)
    return bool((np.abs(pixels - np.array(rgb)).sum(axis=-1) < 12).any())


def assert_png(path, *, width: int, height: int) -> np.ndarray:
    """The PNG has the figure's size in pixels and more than one colour; what the report tests check of a plot."""
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.01
    return image


def test_one_panel_per_curve_in_a_grid_of_fixed_size(tmp_path):
    steps = list(range(10, 110, 10))
    curves = {f"train/part_{i}": Curve(steps=steps, values=[1.0 / (s + i) for s in steps]) for i in range(4)}
    assert grid_shape(4) == (2, 3) and grid_shape(1) == (1, 1)
    path = plot_panels(tmp_path / "report" / "train.png", curves=curves, title="training curves")
    image = assert_png(path, width=3 * PANEL_PX[0], height=2 * PANEL_PX[1])
    assert _has_colour(image, BLUE)
    assert [p.name for p in path.parent.iterdir()] == ["train.png"]  # no temporary file left behind


def test_a_single_evaluation_still_shows_as_a_point_and_a_loss_spanning_decades_on_a_log_axis(tmp_path):
    curves = {"valid/bleu": Curve(steps=[100], values=[42.0]),
              "train/loss": Curve(steps=[1, 2, 3], values=[1e3, 1.0, 1e-2])}
    image = assert_png(plot_panels(tmp_path / "valid.png", curves=curves, title="t"),
                       width=2 * PANEL_PX[0], height=PANEL_PX[1])
    assert _has_colour(image[:, : PANEL_PX[0]], BLUE)  # the lone point of the first panel


def test_the_overlay_draws_one_line_per_job(tmp_path):
    curves = {"job 0: lr=1": Curve(steps=[1, 2, 3], values=[1.0, 2.0, 3.0]),
              "job 2: lr=2": Curve(steps=[1, 2, 3], values=[3.0, 2.0, 1.0])}
    image = assert_png(plot_overlay(tmp_path / "m.png", curves=curves, metric="valid/bleu", title="t"),
                       width=2 * PANEL_PX[0], height=2 * PANEL_PX[1])
    assert _has_colour(image, BLUE) and _has_colour(image, ORANGE)
