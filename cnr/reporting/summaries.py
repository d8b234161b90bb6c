"""Summaries the notebooks show: accuracies with intervals, training histories, bank contents, the grid's plan."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from cnr.run import Run
from cnr.stats import wilson_interval


def accuracy_summary(pred: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """k, n, accuracy and its 95% Wilson interval."""
    k, n = int((pred == y).sum()), len(y)
    lo, hi = wilson_interval(k, n)
    return dict(k=k, n=n, accuracy=k / n if n else float("nan"), lo=lo, hi=hi)


def per_class_accuracy(pred: torch.Tensor, y: torch.Tensor, classes: Sequence[str]) -> pd.DataFrame:
    """One row per class: n, accuracy, Wilson interval, and the class it is most often mistaken for."""
    rows = []
    for c, name in enumerate(classes):
        m = y == c
        s = accuracy_summary(pred[m], y[m])
        wrong = pred[m & (pred != y)]
        confused = classes[int(wrong.mode().values)] if len(wrong) else "-"
        rows.append(dict(cls=name, n=s["n"], accuracy=s["accuracy"], lo=s["lo"], hi=s["hi"],
                         most_confused_with=confused))
    return pd.DataFrame(rows)


def history_frame(meta: dict[str, Any]) -> pd.DataFrame:
    """The training history a weights file's metadata carries (empty if it has none)."""
    return pd.DataFrame(meta.get("history") or [])


def _bank_files(folder: str | Path) -> list[Path]:
    """The weights files of a bank folder; a folder that is missing or a file is refused, not read as empty."""
    from cnr.errors import WeightsError

    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"AR-GAN bank {folder} {'is a file' if folder.exists() else 'does not exist'}; pass the "
                           f"folder that holds qfNN.safetensors")
    return sorted(f for f in folder.glob("*.safetensors") if not f.name.endswith(".ckpt.safetensors"))


def bank_history(folder: str | Path, dataset: str | None = None) -> pd.DataFrame:
    """Every bank file's validation history (step, phase, PSNR/SSIM of JPEG and restored, losses), long format."""
    from cnr.weights import read_metadata

    frames = []
    for f in _bank_files(folder):
        meta = read_metadata(f)
        h = history_frame(meta)
        if h.empty:
            continue
        h.insert(0, "qf", str(meta.get("qf")))
        h.insert(0, "dataset", dataset or meta.get("dataset"))
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def bank_summary(folder: str | Path) -> pd.DataFrame:
    """One row per bank file: QF, generator size, training steps and time, final validation PSNR of JPEG/restored."""
    from cnr.weights import read_metadata

    rows = []
    for f in _bank_files(folder):
        m = read_metadata(f)
        arch, val = m.get("architecture", {}), m.get("val") or {}
        rows.append(dict(file=f.name, qf=str(m.get("qf")), dataset=m.get("dataset"), preset=arch.get("preset"),
                         channels=arch.get("channels"), blocks=arch.get("blocks"), steps=m.get("steps"),
                         train_s=m.get("train_seconds"), val_n=val.get("n"), val_psnr_jpeg=val.get("psnr_jpeg"),
                         val_psnr_restored=val.get("psnr")))
    return pd.DataFrame(rows)


def load_results(run: Run, seed: int | None = None) -> pd.DataFrame:
    """The run's robustness table (finished rows, shards merged), optionally one seed; empty if none yet."""
    from cnr.analysis.ensemble import mark_inconclusive
    from cnr.eval.merge import load_table
    from cnr.parsing import parse_seed

    seed = None if seed is None else parse_seed(seed, "seed")
    df = mark_inconclusive(load_table(run.robustness_csv))
    if seed is not None and not df.empty and "seed" in df:
        df = df[df["seed"] == seed].reset_index(drop=True)
    return df


def grid_overview(run: Run) -> pd.DataFrame:
    """What the profile's grid runs: per attack label, the gradient it sees, norms, budgets, defenses and images."""
    from cnr.cells.groups import build_grid

    p = run.profile
    rows: dict[str, dict[str, Any]] = {}
    for c in build_grid(p):
        a = c.attack
        r = rows.setdefault(a.label, dict(attack=a.label, kind=a.kind, method=a.attack, sees=a.view, norms=set(),
                                          budgets=set(), defenses=set(), images=p.sample_sizes()[a.sample],
                                          params=dict(a.params), cells=0))
        r["norms"].add(a.norm)
        r["budgets"].add(f"{a.norm}:{a.budget:g}")
        r["defenses"].add(c.defense.name)
        r["cells"] += 1
    out = pd.DataFrame(rows.values())
    for col in ("norms", "budgets"):
        out[col] = out[col].map(lambda v: ", ".join(sorted(v)))
    out["defenses"] = out["defenses"].map(len)
    return out


def load_ensemble(run: Run) -> pd.DataFrame:
    """The per-image ensemble table of the run (what to quote), or empty when the grid has not written it."""
    from cnr.eval.rows import read_plain_table

    return read_plain_table(run.tables_dir / "ensemble.csv")
