"""cnr.reporting.style: saved figures are the same bytes when drawn again; legends name each curve once."""
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


def test_legend_entries_name_each_label_once_first_seen_first():
    """Panels that draw the same curves give one legend entry per label, in the order they were first drawn."""
    import matplotlib.pyplot as plt

    from cnr.reporting.style import legend_entries

    fig, (left, right) = plt.subplots(1, 2)
    first = left.plot([0, 1], [0, 1], label="a")[0]
    left.plot([0, 1], [1, 0], label="b")
    right.plot([0, 1], [0, 1], label="b")
    right.plot([0, 1], [1, 1], label="c")
    right.plot([0, 1], [0, 0], label="a")
    entries = legend_entries([left, right])
    assert list(entries) == ["a", "b", "c"] and entries["a"] is first
    plt.close(fig)
