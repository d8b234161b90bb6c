"""The dynamic-vs-static study: one run per generator bank on the same images and cells, the decisive cells side by
side, every bank's paired static-vs-dynamic differences, and the verdict on the paper's central claim in words."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cnr.config import canonical
from cnr.errors import InputError
from cnr.run import Run, resolve_run
from cnr.stats import holm


def study_runs(profile: str, overrides: dict[str, Any] | None = None, banks: Sequence[str] | None = None,
               seed: int | None = None, retrain: bool = False, results_root: Any = None) -> dict[str, Run]:
    """One run per generator preset (default: the profile's own, then `quick`), differing only in `bank.preset`."""
    from cnr.data import BANK_FAMILY

    base = resolve_run(profile, overrides, seed=seed, retrain=retrain, results_root=results_root)
    if BANK_FAMILY.get(base.profile.data.dataset) != "fmnist":  # only bank.preset differs between the runs
        raise InputError(f"the study compares Fashion-MNIST generator banks; profile {profile!r} evaluates on "
                         f"{base.profile.data.dataset!r} (use the study or smoke profile)")
    if banks is not None and (isinstance(banks, str) or not banks):
        raise InputError(f"banks must be a non-empty list of generator presets, e.g. ['paper', 'quick']; got {banks!r}")
    presets = list(dict.fromkeys(banks or (base.profile.bank.preset, "quick")))
    runs = {}
    for preset in presets:
        over = dict(overrides or {})
        if preset != base.profile.bank.preset:  # the bank's preset however the overrides spell it, then this one
            over = {k: v for k, v in over.items() if canonical(k) != ("bank.preset",)}
            over["bank.preset"] = preset
        runs[preset] = resolve_run(profile, over, seed=seed, retrain=retrain, results_root=results_root)
    return runs


def side_by_side(tables: dict[str, pd.DataFrame], ensembles: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every bank's summary table (cnr.reporting.tables.summary_table: cells 'mean / worst', the ensemble rows to
    quote first) joined on (attack, norm, budget), one column per bank and defense ("paper static-N3", ...)."""
    from cnr.reporting.tables import summary_table

    key = ["attack", "norm", "budget"]
    parts = [summary_table(df, ensemble=(ensembles or {}).get(bank)).set_index(key).add_prefix(f"{bank} ")
             for bank, df in tables.items() if not df.empty]
    if not parts:
        raise InputError("no results rows in any bank's table: run the study's grid first (make study)")
    return pd.concat(parts, axis=1).reset_index()


def bank_restoration(runs: dict[str, Run]) -> pd.DataFrame:
    """Every bank's Fashion-MNIST restoration rows (cnr.studies.restoration: PSNR/SSIM gain over JPEG and the
    classifier's accuracy on restored images, per QF and for the static generator) on the same test images."""
    from cnr.classifiers import load_classifier
    from cnr.data import load_fmnist
    from cnr.studies.restoration import restoration_rows
    from cnr.training import load_bank

    first = next(iter(runs.values()))
    x, y = load_fmnist("test", limit=first.profile.samples.restoration)
    x, y = x.to(first.device), y.to(first.device)
    clf = load_classifier("fmnist-cnn", device=first.device, weights=first.classifier_weights("fmnist-cnn"))
    parts = [pd.DataFrame(restoration_rows(load_bank(run, "fmnist"), x, "fmnist-test", y, clf)).assign(bank=bank)
             for bank, run in runs.items()]
    df = pd.concat(parts, ignore_index=True)
    return df[["bank"] + [c for c in df.columns if c != "bank"]]


def paired_by_bank(runs: dict[str, Run]) -> pd.DataFrame:
    """Every bank's paired static-vs-dynamic table (`tables/paired.csv`, written by the grid), with a bank column."""
    from cnr.eval.rows import read_plain_table
    from cnr.paths import relative

    parts = {bank: read_plain_table(run.tables_dir / "paired.csv").assign(bank=bank) for bank, run in runs.items()}
    missing = [f"{bank} ({relative(runs[bank].tables_dir / 'paired.csv')})" for bank, p in parts.items() if p.empty]
    if missing:  # a verdict on fewer banks than asked for would read as the study's
        raise InputError(f"no paired table for the {', '.join(missing)} bank: run the study's grid first (make study)")
    return pd.concat(parts.values(), ignore_index=True)


def bank_vs_bank(runs: dict[str, Run], base: str = "quick",
                 defenses: Sequence[str] = ("static-N3", "dynamic-N3")) -> pd.DataFrame:
    """Does the paper's bigger generator make a defense more robust? Each defense under the other bank minus under
    `base`, paired on the same images and cells (cnr.analysis.paired, the ensemble per budget included); defense_a /
    defense_b read "<defense> (<bank> bank)"."""
    from cnr.analysis.paired import TABLE, paired_table
    from cnr.eval.rows import read_table
    from cnr.paths import relative

    if len(runs) != 2 or base not in runs:
        raise InputError(f"bank_vs_bank compares two banks, one of them {base!r}; got {list(runs)}")
    other = next(bank for bank in runs if bank != base)
    parts = []
    for bank in (base, other):
        csv = runs[bank].robustness_csv
        df = read_table(csv, hint="run the study's grid first (make study)")
        missing = [d for d in defenses if d not in set(df["defense"])]
        if missing:
            raise InputError(f"no {', '.join(missing)} rows in the {bank} bank's table ({relative(csv)})")
        df = df[df["defense"].isin(defenses)].copy()
        df["defense"] = df["defense"] + f" ({bank} bank)"
        df[TABLE] = str(csv)
        parts.append(df)
    pairs = [(f"{d} ({base} bank)", f"{d} ({other} bank)") for d in defenses]
    return paired_table(pd.concat(parts, ignore_index=True), runs[base].robustness_csv, pairs)


ALPHA = 0.05  # the verdict's significance level


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict(paired: pd.DataFrame) -> str:
    """Does switching generators beat one static generator? Per bank, from the paired differences (dynamic minus
    static, same images): the ensemble rows first (what to quote), then how many attack cells lean each way.

    Significance is McNemar's exact test on the images only one side keeps, Holm-adjusted over the bank's ensemble
    rows (the bootstrap interval is shown, but with few discordant images it is too narrow to decide on)."""
    from cnr.reporting.sentences import budget_text

    need = {"bank", "defense_a", "defense_b", "attack", "norm", "budget", "diff", "diff_lo", "diff_hi", "only_a",
            "only_b", "mcnemar_p", "n", "inconclusive"}
    if paired.empty or not need <= set(paired.columns):
        raise InputError(f"verdict needs a paired table with columns {sorted(need)}")
    lines = []
    for bank, t in paired.groupby("bank", sort=False):
        t = t[(t["attack"] != "clean") & ~t["inconclusive"].astype(bool)]
        ens = t[t["attack"] == "ensemble"].sort_values(["defense_a", "norm", "budget"])
        cells = t[t["attack"] != "ensemble"]
        cell_sig = cells["mcnemar_p"] < ALPHA
        up, down = int((cell_sig & (cells["diff"] > 0)).sum()), int((cell_sig & (cells["diff"] < 0)).sum())
        lines.append(f"{bank} bank, dynamic minus static (same images; paired bootstrap 95% interval; McNemar's exact "
                     f"test, Holm-adjusted over the {len(ens)} ensemble rows):")
        ens_holm = holm(ens["mcnemar_p"].tolist())
        for (_, r), p_holm in zip(ens.iterrows(), ens_holm):
            extra = _only_on_b(r)
            lines.append(f"  {r['defense_b']} vs {r['defense_a']}, "
                         f"every attack at {budget_text(r['norm'], r['budget'])}: "
                         f"{r['diff']:+.3f} [{r['diff_lo']:+.3f}, {r['diff_hi']:+.3f}] (n={int(r['n'])}; images kept "
                         f"only by dynamic / only by static: {int(r['only_b'])} / {int(r['only_a'])}; McNemar "
                         f"{_p_text(r['mcnemar_p'])}, Holm {_p_text(p_holm)}"
                         + (f"; dynamic also under {', '.join(extra)}" if extra else "") + ")")
        lines.append(f"  single attacks (McNemar p < {ALPHA}, uncorrected): dynamic above static in {up} of "
                     f"{len(cells)} cells, below in {down}, within chance in {len(cells) - up - down}.")
        sig = [p_holm < ALPHA for p_holm in ens_holm]
        ens_up = sum(s and d > 0 for s, d in zip(sig, ens["diff"]))
        ens_down = sum(s and d < 0 for s, d in zip(sig, ens["diff"]))
        if ens.empty:
            claim = "cannot be judged here: no budget has a conclusive attack with per-image outcomes on both sides"
        elif ens_up and not ens_down:
            claim = "holds: the dynamic bank keeps more images than the static generator"
        elif ens_down and not ens_up:
            claim = "does not hold: the static generator keeps more images than the dynamic bank"
        elif ens_up and ens_down:
            claim = "is mixed: dynamic wins at some budgets and loses at others"
        else:
            claim = "is not shown: no budget separates dynamic from static beyond chance"
        lines.append(f"  -> the paper's claim that switching generators matters {claim}.")
    return "\n".join(lines)


def _only_on_b(row: pd.Series) -> list[str]:
    """The attacks of a paired ensemble row that only its second (dynamic) side faced."""
    a, b = (str(row.get(c, "")) if pd.notna(row.get(c, None)) else "" for c in ("attacks_a", "attacks_b"))
    return [x for x in b.split(";") if x and x not in a.split(";")]


def mechanism_summary(mechanism: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict[str, list[dict]]]:
    """Per bank, the headline numbers of the mechanism with their intervals: the cross-draw gradient cosine per
    defense, its paired dynamic-minus-static difference, and the one-draw EOT alignment with the reference mean."""
    def rows(t: pd.DataFrame, metric: str, **where: Any) -> list[dict]:
        t = t[t["metric"] == metric]
        for k, v in where.items():
            t = t[t[k] == v]
        return t[["defense", "value", "lo", "hi"]].round(3).to_dict("records")

    return {bank: {"cross_draw_cosine": rows(tabs["gradient_cosine"], "cross-draw"),
                   "cross_draw_dynamic_minus_static": rows(tabs["gradient_cosine"], "cross-draw-diff"),
                   "eot_alignment_k1": rows(tabs["eot_alignment"], "alignment", k=1)}
            for bank, tabs in mechanism.items()}


def describe_mechanism(summary: dict[str, dict[str, list[dict]]]) -> str:
    """The mechanism's claim in words: do the gradients of two draws disagree more under the dynamic defense, by a
    paired interval, and how much of that one EOT draw already undoes?"""
    def listing(rows: list[dict], signed: bool = False) -> list[str]:
        f = "+.3f" if signed else ".3f"
        return [f"  {r['defense']:<22} {r['value']:{f}} [{r['lo']:{f}}, {r['hi']:{f}}]" for r in rows]

    lines = []
    for bank, nums in summary.items():
        lines.append(f"{bank} bank, cosine of the input gradients under two independent draws (1: the same gradient):")
        lines += listing(nums["cross_draw_cosine"])
        if nums.get("cross_draw_dynamic_minus_static"):
            lines.append("  dynamic minus static, paired on the same images (below 0: the draws disagree more "
                         "under the dynamic defense):")
            lines += listing(nums["cross_draw_dynamic_minus_static"], signed=True)
        if nums.get("eot_alignment_k1"):
            lines.append(f"{bank} bank, one draw's gradient against the mean of many (what EOT averages toward):")
            lines += listing(nums["eot_alignment_k1"])
    return "\n".join(lines)
