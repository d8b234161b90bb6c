"""The dynamic-vs-static study: one run per generator bank on the same images and cells, the decisive cells side by
side, every bank's paired static-vs-dynamic differences, and the verdict on the paper's central claim in words."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from cnr.errors import InputError
from cnr.run import Run, resolve_run


def study_runs(profile: str, overrides: dict[str, Any] | None = None, banks: Sequence[str] | None = None,
               seed: int | None = None, retrain: bool = False, results_root: Any = None) -> dict[str, Run]:
    """One run per generator preset (default: the profile's own, then `quick`), differing only in `argan_preset`."""
    base = resolve_run(profile, overrides, seed=seed, retrain=retrain, results_root=results_root)
    if banks is not None and (isinstance(banks, str) or not banks):
        raise InputError(f"banks must be a non-empty list of generator presets, e.g. ['paper', 'quick']; got {banks!r}")
    presets = list(dict.fromkeys(banks or (base.profile.argan_preset, "quick")))
    runs = {}
    for preset in presets:
        over = dict(overrides or {})
        if preset != base.profile.argan_preset:
            over["argan_preset"] = preset
        runs[preset] = resolve_run(profile, over, seed=seed, retrain=retrain, results_root=results_root)
    return runs


def _cell(r: pd.Series) -> str:
    text = f"{r['worst_accuracy']:.3f} [{r['worst_lo']:.3f}, {r['worst_hi']:.3f}]"
    return text + " (inconclusive)" if bool(r.get("inconclusive", False)) else text


def side_by_side(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Worst-case accuracy over draws [95% interval] per (attack, norm, budget, n), one column per bank and defense
    ("paper static-N3", ...), banks in the order given."""
    parts = [df.assign(bank=bank, cell=df.apply(_cell, axis=1)) for bank, df in tables.items() if not df.empty]
    if not parts:
        raise InputError("no results rows in any bank's table: run the study's grid first (make study)")
    rows = pd.concat(parts, ignore_index=True)
    wide = rows.pivot_table(index=["attack", "norm", "budget", "n"], columns=["bank", "defense"], values="cell",
                            aggfunc="first")
    wide = wide[[c for bank in tables for c in wide.columns if c[0] == bank]]
    wide.columns = [f"{bank} {defense}" for bank, defense in wide.columns]
    return wide.reset_index()


def paired_by_bank(runs: dict[str, Run]) -> pd.DataFrame:
    """Every bank's paired static-vs-dynamic table (`tables/paired.csv`, written by the grid), with a bank column."""
    from cnr.eval.rows import read_plain_table

    parts = [read_plain_table(run.tables_dir / "paired.csv").assign(bank=bank) for bank, run in runs.items()]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InputError("no paired table in any bank's results: run the study's grid first (make study)")
    return pd.concat(parts, ignore_index=True)


def _budget(norm: str, budget: float) -> str:
    return f"{'Linf' if norm == 'linf' else 'L2'} {budget:g}"


def verdict(paired: pd.DataFrame) -> str:
    """Does switching generators beat one static generator? Per bank, from the paired differences (dynamic minus
    static, same images): the ensemble rows first (what to quote), then how many attack cells lean each way."""
    need = {"bank", "defense_a", "defense_b", "attack", "norm", "budget", "diff", "diff_lo", "diff_hi", "only_a",
            "only_b", "mcnemar_p", "n"}
    if paired.empty or not need <= set(paired.columns):
        raise InputError(f"verdict needs a paired table with columns {sorted(need)}")
    lines = []
    for bank, t in paired.groupby("bank", sort=False):
        t = t[(t["attack"] != "clean") & ~t["inconclusive"].astype(bool)]
        ens = t[t["attack"] == "ensemble"].sort_values(["defense_a", "norm", "budget"])
        cells = t[t["attack"] != "ensemble"]
        up, down = int((cells["diff_lo"] > 0).sum()), int((cells["diff_hi"] < 0).sum())
        lines.append(f"{bank} bank, dynamic minus static (same images, paired bootstrap 95% interval, McNemar):")
        for _, r in ens.iterrows():
            lines.append(f"  {r['defense_b']} vs {r['defense_a']}, every attack at {_budget(r['norm'], r['budget'])}: "
                         f"{r['diff']:+.3f} [{r['diff_lo']:+.3f}, {r['diff_hi']:+.3f}] (n={int(r['n'])}; "
                         f"{int(r['only_b'])} images kept only by dynamic, {int(r['only_a'])} only by static; "
                         f"p={r['mcnemar_p']:.3g})")
        lines.append(f"  single attacks: dynamic significantly above static in {up} of {len(cells)} cells, below in "
                     f"{down}, within chance in {len(cells) - up - down}.")
        ens_up, ens_down = int((ens["diff_lo"] > 0).sum()), int((ens["diff_hi"] < 0).sum())
        if ens_up and not ens_down:
            claim = "holds: the dynamic bank keeps more images than the static generator"
        elif ens_down and not ens_up:
            claim = "does not hold: the static generator keeps more images than the dynamic bank"
        elif ens_up and ens_down:
            claim = "is mixed: dynamic wins at some budgets and loses at others"
        else:
            claim = "is not shown: no budget separates dynamic from static beyond chance"
        lines.append(f"  -> the paper's claim that switching generators matters {claim}.")
    return "\n".join(lines)
