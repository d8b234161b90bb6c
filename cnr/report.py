"""Small functions the notebooks 01-04 call: which weights to evaluate, accuracy summaries, training histories,
and sentences read from the results tables (so that no notebook hard-codes a claim about the numbers)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from cnr.profiles import Profile, get_profile
from cnr.stats import wilson_interval

REPO_ROOT = Path(__file__).resolve().parent.parent


def _borrows_weights(p: Profile) -> bool:
    """True for a profile (smoke) whose models_dir belongs to another profile."""
    return not Path(p.models_dir).is_relative_to(p.results_dir)


# --- 01: the classifier -------------------------------------------------------------------------------------

def classifier_weights(profile: str | Profile = "quick", retrain: bool = False, seed: int = 0) -> Path:
    """The fmnist-cnn weights to evaluate: the shipped file, or (retrain=True) a fresh one trained with the profile's
    settings into `<models_dir>/fmnist-cnn.safetensors` (`results/<profile>/models/` for a profile that borrows)."""
    from cnr.classifiers import FMNIST_CNN_WEIGHTS

    p = get_profile(profile)
    if not retrain:
        return FMNIST_CNN_WEIGHTS
    from cnr.train_classifier import train_fmnist_cnn

    root = Path(p.results_dir) / "models" if _borrows_weights(p) else Path(p.models_dir)
    out = (root if root.is_absolute() else REPO_ROOT / root) / "fmnist-cnn.safetensors"
    train_fmnist_cnn(out, epochs=p.clf_epochs, batch_size=p.clf_batch, seed=seed, train_limit=p.clf_train_limit,
                     eval_limit=p.clf_eval_limit, command=f"cnr train-classifier --profile {p.name} --seed {seed}")
    if _borrows_weights(p):
        print(f"retrained into {out}; the attack grid of profile {p.name!r} still uses the shipped "
              f"{FMNIST_CNN_WEIGHTS}")
    return out


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


# --- 02: the AR-GAN bank --------------------------------------------------------------------------------------

def bank_history(folder: str | Path, dataset: str | None = None) -> pd.DataFrame:
    """Every bank file's validation history (step, phase, PSNR/SSIM of JPEG and restored, losses), long format."""
    from cnr.weights import read_metadata

    frames = []
    for f in sorted(Path(folder).glob("*.safetensors")):
        if f.name.endswith(".ckpt.safetensors"):
            continue
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
    for f in sorted(Path(folder).glob("*.safetensors")):
        if f.name.endswith(".ckpt.safetensors"):
            continue
        m = read_metadata(f)
        arch, val = m.get("architecture", {}), m.get("val") or {}
        rows.append(dict(file=f.name, qf=str(m.get("qf")), dataset=m.get("dataset"), preset=arch.get("preset"),
                         channels=arch.get("channels"), blocks=arch.get("blocks"), steps=m.get("steps"),
                         train_s=m.get("train_seconds"), val_n=val.get("n"), val_psnr_jpeg=val.get("psnr_jpeg"),
                         val_psnr_restored=val.get("psnr")))
    return pd.DataFrame(rows)


def retrain_banks(profile: str | Profile = "quick", datasets: Sequence[str] = ("fmnist", "natural")) -> list[str]:
    """Retrain the profile's banks (resumable, skips up-to-date files); a profile that borrows weights is skipped."""
    from cnr.argan.pipeline import bank_dir, train_bank

    p = get_profile(profile)
    if _borrows_weights(p):
        print(f"profile {p.name!r} reuses the banks in {p.models_dir} (made by another profile): not retraining. "
              f"Retrain them with `cnr reproduce --profile quick --retrain`, or train your own with "
              f"`cnr train-argan --profile {p.name} --out <folder>`.")
        return []
    for ds in datasets:
        train_bank(ds, p)
    return [str(bank_dir(p, ds)) for ds in datasets]


def describe_restoration_table(df: pd.DataFrame) -> str:
    """Per dataset and generator: where restored beats JPEG in PSNR and where it does not; accuracy effect."""
    lines = []
    for (dataset, gen), g in df.groupby(["dataset", "generator"], sort=False):
        win = g[g["psnr_restored"] > g["psnr_jpeg"]]["qf"].tolist()
        lose = g[g["psnr_restored"] <= g["psnr_jpeg"]]["qf"].tolist()
        gain = g["psnr_restored"] - g["psnr_jpeg"]
        s = (f"{dataset}, {gen} generator(s), n={int(g['n'].iloc[0])}: restored beats JPEG in PSNR at "
             f"{len(win)} of {len(g)} QFs (gain {gain.min():+.2f} to {gain.max():+.2f} dB)")
        if lose:
            s += f"; NOT at QF {', '.join(map(str, lose))}"
        if "acc_restored" in g and g["acc_restored"].notna().all():
            d = g["acc_restored"] - g["acc_jpeg"]
            s += (f". Classifier accuracy on restored minus on JPEG: {d.min():+.3f} to {d.max():+.3f} "
                  f"(clean {g['acc_clean'].iloc[0]:.3f})")
        lines.append(s + ".")
    return "\n".join(lines)


# --- 03/04: the attack grid ---------------------------------------------------------------------------------

def load_results(profile: str | Profile = "quick", seed: int | None = None) -> pd.DataFrame:
    """The profile's robustness table (finished rows, shards merged), optionally one seed; empty if none yet."""
    from cnr.evaluate import read_rows
    from cnr.grid import robustness_csv

    df = read_rows(robustness_csv(profile))
    if df.empty:
        csv = robustness_csv(profile)
        df = pd.read_csv(csv) if csv.is_file() else df
    if seed is not None and not df.empty and "seed" in df:
        df = df[df["seed"] == seed].reset_index(drop=True)
    return df


def _at(df: pd.DataFrame, defense: str, attack: str, norm: str | None = None,
        budget: float | None = None) -> pd.Series | None:
    m = (df["defense"] == defense) & (df["attack"] == attack)
    if norm is not None:
        m &= df["norm"] == norm
    if budget is not None:
        m &= (df["budget"] - budget).abs() < 1e-9
    rows = df[m]
    return None if rows.empty else rows.iloc[0]


def strongest_attacks(df: pd.DataFrame, norm: str, budget: float) -> pd.DataFrame:
    """Per defense: the attack (at this norm and budget) that leaves the lowest worst-case accuracy."""
    if df.empty:
        return pd.DataFrame()
    sub = df[(df["norm"] == norm) & ((df["budget"] - budget).abs() < 1e-9)]
    if sub.empty:
        return pd.DataFrame()
    idx = sub.groupby("defense")["worst_accuracy"].idxmin()
    out = sub.loc[idx, ["defense", "attack", "n", "accuracy", "worst_accuracy", "worst_lo", "worst_hi"]]
    from cnr.figures import _ordered

    return out.set_index("defense").loc[_ordered(out["defense"])].reset_index()


def describe_grid(df: pd.DataFrame, profile: str | Profile = "quick", defense: str = "dynamic-N3") -> str:
    """The grid's headline, read from the table: clean cost of the defense, then its accuracy under the strongest
    attack at each reference budget compared with the undefended model's."""
    p = get_profile(profile)
    if df.empty:
        return "The results table is empty: run cnr.grid.run_grid first."
    lines = []
    c0, c1 = _at(df, "none", "clean"), _at(df, defense, "clean")
    if c0 is not None and c1 is not None:
        lines.append(f"Clean accuracy: {c0['accuracy']:.3f} without defense, {c1['accuracy']:.3f} with {defense} "
                     f"(worst case over {int(c1['draws'])} draws {c1['worst_accuracy']:.3f}; n={int(c1['n'])}).")
    for norm, b in (("linf", p.ref_linf), ("l2", p.ref_l2)):
        s = strongest_attacks(df, norm, b)
        if s.empty:
            continue
        s = s.set_index("defense")
        name = "L-inf" if norm == "linf" else "normalized L2"
        for d in ("none", defense):
            if d in s.index:
                r = s.loc[d]
                lines.append(f"{name} {b:g}: the strongest attack on {d} is {r['attack']}, worst-case accuracy "
                             f"{r['worst_accuracy']:.3f} (95% CI {r['worst_lo']:.3f}-{r['worst_hi']:.3f}, "
                             f"n={int(r['n'])}).")
        if "none" in s.index and defense in s.index:
            gap = s.loc[defense, "worst_accuracy"] - s.loc["none", "worst_accuracy"]
            lines.append(f"  -> at this budget the defense {'adds' if gap > 0 else 'does not add'} robustness "
                         f"against the strongest attack we ran ({gap:+.3f})"
                         f"{_noise_note(s.loc[defense], s.loc['none']) if gap > 0 else ''}.")
    return "\n".join(lines)


def describe_sanity(report: pd.DataFrame) -> str:
    """How many sanity checks passed, naming each failure and its detail."""
    bad = report[~report["passed"]]
    s = f"{int(report['passed'].sum())} of {len(report)} sanity checks passed."
    for r in bad.itertuples():
        s += f"\nFAILED: {r.check}: {r.detail}"
    if not bad.empty:
        s += "\nA failed check means the evaluation itself is suspect (too few steps, a broken gradient, ...)."
    return s


def grid_overview(profile: str | Profile = "quick") -> pd.DataFrame:
    """What the profile's grid runs: per attack label, the gradient it sees, norms, budgets, defenses and images."""
    from cnr.grid import build_grid

    p = get_profile(profile)
    rows: dict[str, dict[str, Any]] = {}
    for c in build_grid(p):
        a = c.attack
        r = rows.setdefault(a.label, dict(attack=a.label, method=a.attack, sees=a.view, norms=set(), budgets=set(),
                                          defenses=set(), images=p.n_costly if a.sample == "costly" else p.n_eval,
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


MAIN_DEFENSES = ("none", "jpeg", "static-N3", "dynamic-N3")


def _overlap(a: pd.Series, b: pd.Series) -> bool:
    """Whether two rows' 95% intervals of the worst-case accuracy overlap (then the difference may be noise)."""
    return not (a["worst_lo"] > b["worst_hi"] or b["worst_lo"] > a["worst_hi"])


def _noise_note(a: pd.Series, b: pd.Series) -> str:
    return " (the 95% intervals overlap: not a clear difference at this n)" if _overlap(a, b) else ""


def _budget_text(norm: str, budget: float) -> str:
    if budget == 0:
        return "no attack"
    if budget == float("inf"):
        return "unbounded"
    return f"{'L-inf' if norm == 'linf' else 'normalized L2'} {budget:g}"


def describe_attacks(df: pd.DataFrame, attacks: Sequence[str], defenses: Sequence[str] = MAIN_DEFENSES) -> str:
    """One line per (attack, norm, budget): worst-case accuracy of each listed defense (and the median
    perturbation for minimal-perturbation attacks), read from the table; attacks with no rows are named."""
    if df.empty:
        return "no results yet: run notebooks/03_attacks.ipynb (or cnr grid)"
    lines = []
    for attack in attacks:
        sub = df[(df["attack"] == attack) & df["defense"].isin(defenses)]
        if sub.empty:
            lines.append(f"{attack}: no rows in the table")
            continue
        for (norm, budget), g in sub.groupby(["norm", "budget"], sort=True):
            g = g.set_index("defense")
            cells = []
            for d in defenses:
                if d in g.index:
                    r = g.loc[d]
                    txt = f"{d} {r['worst_accuracy']:.3f}"
                    pert = r.get("min_pert_l2_median", float("nan"))
                    if budget == float("inf") and pd.notna(pert):
                        txt += f" (median L2 {pert:.3f})"
                    cells.append(txt)
            lines.append(f"{attack}, {_budget_text(norm, budget)}, n={int(g['n'].iloc[0])}: " + ", ".join(cells))
    return "\n".join(lines)


def describe_ablation(df: pd.DataFrame, profile: str | Profile = "quick", attack: str = "generalized-bpda-pgd") -> str:
    """The ablation's story from the table: JPEG vs static vs dynamic, and whether more rounds N help."""
    from cnr.figures import parse_defense

    p = get_profile(profile)
    if df.empty:
        return "no results yet: run notebooks/03_attacks.ipynb (or cnr grid)"
    lines = []
    for norm, b in (("linf", p.ref_linf), ("l2", p.ref_l2)):
        sub = df[(df["attack"] == attack) & (df["norm"] == norm) & ((df["budget"] - b).abs() < 1e-9)]
        if sub.empty:
            lines.append(f"{attack} at {_budget_text(norm, b)}: no rows")
            continue
        acc = dict(zip(sub["defense"], sub["worst_accuracy"]))
        row = {d: r for d, r in zip(sub["defense"], (r for _, r in sub.iterrows()))}
        parts = [f"{d} {acc[d]:.3f}" for d in ("jpeg", "static-N3", "dynamic-N3") if d in acc]
        n = int(sub["n"].iloc[0])
        lines.append(f"{attack} at {_budget_text(norm, b)} (worst case, n={n}): " + ", ".join(parts))
        for mode in ("static", "dynamic"):
            by_n = sorted((parse_defense(d)[1], a, d) for d, a in acc.items()
                          if parse_defense(d)[0] == mode and parse_defense(d)[2] is None)
            if len(by_n) > 1:
                (n0, a0, d0), (n1, a1, d1) = by_n[0], by_n[-1]
                trend = "higher" if a1 > a0 else "not higher"
                note = _noise_note(row[d0], row[d1]) if a1 != a0 else ""
                lines.append(f"  {mode}: " + ", ".join(f"N={n}: {a:.3f}" for n, a, _ in by_n)
                             + f" -> {trend} with N={n1} than with N={n0}{note}")
        fixed = [(d, a) for d, a in acc.items() if parse_defense(d)[2] is not None]
        for d, a in fixed:
            mode, n, q = parse_defense(d)
            ref = acc.get(f"{mode}-N{n}")
            if ref is not None:
                note = _noise_note(row[d], row[f"{mode}-N{n}"]) if a != ref else ""
                lines.append(f"  fixed QF {q} vs random QF {p.qf_range[0]}-{p.qf_range[1]} ({mode}, N={n}): "
                             f"{a:.3f} vs {ref:.3f}{note}")
    return "\n".join(lines)
