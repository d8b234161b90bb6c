"""cnr.reporting.style: saved figures are the same bytes when drawn again."""
from __future__ import annotations


def test_a_figure_drawn_twice_saves_the_same_bytes(tmp_path):
    """A rerun that draws the same figure leaves the committed PNG and PDF unchanged (the PDF has no creation date)."""
    import matplotlib.pyplot as plt

    from cnr.reporting.style import save_figure

    saved = []
    for out in (tmp_path / "a", tmp_path / "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        saved.append([p.read_bytes() for p in save_figure(fig, out, "line")])
        plt.close(fig)
    assert saved[0] == saved[1] and b"CreationDate" not in saved[0][1]
