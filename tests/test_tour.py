"""The tour's pieces a class sees: the zoomed restoration figure (whole JPEG blocks, square pixels), sliders within
the bank's QFs, the class setting, and numbers labelled against the committed run."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

from cnr import tour
from cnr.notebook_run import committed_run
from cnr.reporting.gallery import busiest_crop, zoomed_restoration
from cnr.run import resolve_run
from cnr.training import load_bank


@pytest.fixture(scope="module")
def bank():
    return load_bank(resolve_run("smoke"), "natural")


def test_the_zoom_finds_the_square_jpeg_changes_most_on_the_block_grid():
    torch.manual_seed(0)
    image = torch.full((3, 96, 96), 0.5)
    image[:, 40:72, 48:80] = torch.rand(3, 32, 32)  # the only detail JPEG can lose, at a block-aligned spot
    assert busiest_crop(image, 10, 32) == (40, 48)


def test_zoomed_restoration_draws_the_crop_with_square_pixels(bank):
    torch.manual_seed(0)
    image = torch.rand(3, 64, 64)
    fig = zoomed_restoration(image, bank, [10, 40], size=16, corner=(8, 24))
    whole, *crops = fig.axes
    assert len(crops) == 2 * 3 and whole.images[0].get_array().shape[:2] == (64, 64)
    for ax in crops:
        assert ax.images[0].get_array().shape[:2] == (16, 16) and ax.images[0].get_interpolation() == "nearest"
    assert torch.equal(torch.as_tensor(crops[0].images[0].get_array().data).permute(2, 0, 1).float(),
                       image[:, 8:24, 24:40])  # the original's square, at its own pixels
    assert [ax.get_title().split(",")[0] for ax in crops[:3]] == ["original", "JPEG QF 10", "restored"]


def test_sliders_stay_within_the_banks_qfs_and_redraw_on_release(bank):
    shown = tour.explorer(torch.rand(3, 32, 32), bank, qf=95, n=2)
    qf, n = shown.widget.children[:2]
    assert (qf.min, qf.max, qf.value) == (min(bank.qfs), max(bank.qfs), max(bank.qfs))
    assert not qf.continuous_update and not n.continuous_update and n.value == 2


def test_class_setting_is_smaller_and_its_numbers_say_so(tmp_path):
    assert tour.tour_size(True).demo_images < 20 and tour.tour_size(True).teaser_images == 1
    assert tour.tour_size(False).demo_images is None  # the profile's own images: what `cnr reproduce` records
    run = resolve_run("quick", results_root=tmp_path)
    numbers = dict(n=4, draws=5, adaptive_defended=0.25, oblivious_defended=0.5)
    demo = tour.AttackDemo(pd.DataFrame(), *[None] * 4, [], None, None, 4 / 255, numbers)
    text = tour.label_numbers(run, demo, tour.tour_size(True))
    assert text.startswith("CLASS SETTING: 4 images") and "class_mode = False" in text
    assert "committed run (results/quick/notebooks/00_tour.json)" in text  # beside the committed run's numbers
    here = committed_run(run)
    assert tour.label_numbers(here, demo, tour.tour_size(False)).count("\n") == 0  # no comparison with itself
