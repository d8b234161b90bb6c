"""The paper's tables drawn from the results tables alone, selected by attack kind and group flags; saved as
CSV+MD+LaTeX."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cnr.errors import MissingRows
from cnr.eval.identity import fill_older_columns
from cnr.paths import relative
from cnr.reporting.select import GRADIENT_KINDS, at_budget, attack_labels, rows_of
from cnr.reporting.style import ordered, save_figure
from cnr.table_files import save_table  # also imported from here by notebooks and tests


def summary_table(df: pd.DataFrame, attacks: list[str] | None = None, ensemble: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """A wide table: rows (attack, norm, budget) in grid order, one column per defense, cells 'mean / worst'.

    Rows of an inconclusive attack (too weak on the undefended model) are marked "(inconclusive)"; with `ensemble`,
    rows "ensemble (quote this)" come first per budget: per-image robust accuracy over every attack and draw."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    sub = df if attacks is None else df[df["attack"].isin(attacks)]
    weak = sub["inconclusive"].astype(bool) if "inconclusive" in sub else pd.Series(False, index=sub.index)
    sub = sub.assign(cell=[f"{m:.3f} / {w:.3f}" + (" (inconclusive)" if x else "")
                           for m, w, x in zip(sub["accuracy"], sub["worst_accuracy"], weak)])
    order = attack_labels(sub)
    if ensemble is not None and not ensemble.empty:
        ens = ensemble.assign(attack="ensemble (quote this)",
                              cell=[f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in
                                    zip(ensemble["robust_accuracy"], ensemble["robust_lo"], ensemble["robust_hi"])])
        sub = pd.concat([sub, ens[["attack", "norm", "budget", "defense", "cell"]]], ignore_index=True)
        order = ["ensemble (quote this)"] + order
    wide = sub.pivot_table(index=["attack", "norm", "budget"], columns="defense", values="cell", aggfunc="first")
    wide = wide[ordered(wide.columns)].reset_index()
    rank = {a: i for i, a in enumerate(order)}
    return wide.sort_values(["attack", "norm", "budget"], key=lambda c: c.map(rank) if c.name == "attack" else c,
                            kind="stable").reset_index(drop=True)


RESTORATION_COLUMNS = ["dataset", "generator", "qf", "n", "psnr_jpeg", "psnr_restored", "psnr_gain", "psnr_gain_ci",
                       "ssim_jpeg", "ssim_restored", "acc_jpeg", "acc_restored"]


def restoration_summary(rest: pd.DataFrame) -> pd.DataFrame:
    """The restoration table's main columns (the paper's AR-GAN table)."""
    if rest.empty:
        raise MissingRows("restoration.csv is missing or empty: run notebooks/02_argan (or cnr restoration-table)")
    return rest[[c for c in RESTORATION_COLUMNS if c in rest]].reset_index(drop=True)


def ablation_table(df: pd.DataFrame, ref_linf: float, ref_l2: float) -> pd.DataFrame:
    """Worst-case accuracy at the reference budgets of every defense (JPEG, static/dynamic, N, fixed QF) under the
    ablation groups: rows (attack, norm, budget), one column per defense, cells 'mean / worst'."""
    from cnr.parsing import nonnegative_float

    ref_linf, ref_l2 = nonnegative_float(ref_linf, "ref_linf"), nonnegative_float(ref_l2, "ref_l2")
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    sub = rows_of(df, "ablation", ablation=True)
    sub = pd.concat([at_budget(sub, "linf", ref_linf), at_budget(sub, "l2", ref_l2)])
    if sub.empty:
        raise MissingRows("ablation: no BPDA rows at the reference budgets")
    return summary_table(sub)


def minimal_perturbation_table(df: pd.DataFrame) -> pd.DataFrame:
    """Minimal-perturbation attacks (C&W, DeepFool) per defense: accuracy on the final adversarials (mean / worst
    over draws) and the median normalized L2 size of the perturbation they needed."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    sub = rows_of(df, "minimal perturbation", kinds=("minimal",))
    col = pert_column(sub)
    out = sub[["attack", "defense", "n", "accuracy", "worst_accuracy", col]].rename(columns={col: "median_l2_pert"})
    out["defense"] = pd.Categorical(out["defense"], ordered(out["defense"]), ordered=True)
    out = out.sort_values(["attack", "defense"]).reset_index(drop=True)
    return out.assign(defense=out["defense"].astype(str))


def blackbox_table(df: pd.DataFrame) -> pd.DataFrame:
    """The black-box attacks (Square, Nattack, HopSkipJump, ...) and clean accuracy: 'mean / worst' per defense."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    sub = rows_of(df, "black-box", kinds=("black-box",))
    return summary_table(df, ["clean"] + attack_labels(sub))


def save_output(kind: str, name: str, build, *args, out_dir: str | Path, **kwargs):
    """Build a figure ('figure') or table ('table') and save it; on MissingRows print a note and return None."""
    try:
        obj = build(*args, **kwargs)
    except MissingRows as e:
        print(f"skipped {kind} {name!r}: {e}")
        return None
    paths = save_figure(obj, out_dir, name) if kind == "figure" else save_table(obj, out_dir, name)
    print(f"{kind} {name}: " + ", ".join(relative(p) for p in paths))
    return obj


def bpda_table(df: pd.DataFrame) -> pd.DataFrame:
    """The gradient-based attacks: adaptive ones through the defense (BPDA, EOT, ...) and oblivious white-box ones."""
    df = fill_older_columns(df)  # a table of an older kit: mode and kind derived
    return summary_table(rows_of(df, "gradient attacks", kinds=GRADIENT_KINDS))


def pert_column(sub: pd.DataFrame) -> str:
    """The attack's own minimal perturbation size if it reported one, else the measured final perturbation."""
    if "min_pert_l2_median" in sub and sub["min_pert_l2_median"].notna().any():
        return "min_pert_l2_median"
    return "pert_l2_median"
