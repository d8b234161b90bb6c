"""Run the four mechanism measurements (cnr.studies.mechanism.measure_all) on any bank folder and save their tables and
figures, timing each (the study notebook's `run_mechanism` does the same for a run's own bank).

Fashion-MNIST test images (the first --n), the shipped quick bank and classifier, the grid's JPEG / static-N /
dynamic-N defenses (plus the undefended classifier in the smoothing table). Tables go to OUT/tables as CSV and
Markdown, figures to OUT/figures as PNG and PDF, the wall time of each measurement to OUT/tables/mechanism_wall.csv.

    PYTHONPATH=. .venv/bin/python benchmarks/run_mechanism.py [--n 64] [--qf-range 20 60] [--ns 1 3 5] [--out DIR]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from cnr.argan.bank import RestorerBank
from cnr.classifiers import load_classifier
from cnr.data import load_dataset
from cnr.paths import WEIGHTS_DIR
from cnr.reporting.mechanism_figures import save_mechanism_figures
from cnr.reporting.tables import save_table
from cnr.studies import mechanism as mech

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--qf-range", type=int, nargs=2, default=(20, 60))
    p.add_argument("--ns", type=int, nargs="+", default=(1, 3, 5))
    p.add_argument("--draws", type=int, default=8, help="draws of the cross-draw cosine")
    p.add_argument("--reference", type=int, default=32, help="draws of the EOT reference gradient")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bank", default=str(WEIGHTS_DIR / "argan-fmnist-quick"))
    p.add_argument("--out", default=str(ROOT / "results" / "quick" / "mechanism"))
    a = p.parse_args()
    bank = RestorerBank.load(a.bank, dataset="fmnist")
    clf = load_classifier("fmnist-cnn")
    x, y = load_dataset("fmnist", limit=a.n)
    tables, wall = mech.measure_all(bank, clf, x, y, tuple(a.qf_range), a.ns, draws=a.draws, reference=a.reference,
                                    seed=a.seed)
    out = Path(a.out)
    for name, table in tables.items():
        print(f"{name}: {wall.set_index('measurement').loc[name, 'wall_s']} s", flush=True)
        save_table(table, out / "tables", f"mechanism_{name}", floatfmt=".4f")
    save_table(wall, out / "tables", "mechanism_wall", floatfmt=".1f")
    save_mechanism_figures(tables, out / "figures")


if __name__ == "__main__":
    main()
