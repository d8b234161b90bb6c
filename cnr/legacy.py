"""The paper's published black-box numbers under its own protocol: the runs of each track (Fashion-MNIST with the quick
and the paper-size bank, the ImageNet CPU track), their grids, and the kit's accuracy-vs-budget curves read off them.

The protocol is the `legacy*` profiles' (cnr/config/profiles.py): clean cells, HopSkipJump once per image without a
budget (its budget curve: cnr.analysis.budget_curve) and Square at each normalized L2 budget.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cnr.errors import InputError
from cnr.notebook_run import start_from_committed
from cnr.run import Run, resolve_run


@dataclass(frozen=True)
class Track:
    """One track of a legacy profile: its label, the profile of its run, that run's overrides, the profile of the
    run whose white-box cells give its white-box view (None: its own run's), and whether the published table is
    compared with it."""

    label: str
    profile: str
    overrides: dict[str, Any] = field(default_factory=dict)
    white_box: str | None = None
    compare: bool = True  # False: its protocol cells repeat another track's on fewer images (not compared again)


# profile -> its tracks; a profile that is not a key is one track of its own
TRACKS: dict[str, tuple[Track, ...]] = {
    # the paper-size restorers in bf16 autocast (3.3x on this CPU, float32 classifier; within chance of float32 on the
    # study's cells: benchmarks/NOTES.md)
    "legacy": (Track("fmnist quick bank", "legacy"),
               Track("fmnist paper bank", "legacy", {"bank.preset": "paper", "compute.precision": "bf16-restorers"}),
               Track("imagenet natural bank", "legacy-imagenet", white_box="imagenet"),
               Track("fmnist quick bank, randomness", "legacy-randomness", compare=False)),
    "legacy-imagenet": (Track("legacy-imagenet", "legacy-imagenet", white_box="imagenet"),),
    "smoke": (Track("smoke quick bank", "legacy-smoke"),),
}
# cell group -> the name its curve carries (the legacy table's for the protocol's own two attacks)
ATTACKS = {"legacy-hsj": "HopSkipJump", "legacy-square": "Square (L2)",
           **{f"legacy-hsj-vote{k}": f"HopSkipJump, {k}-draw majority" for k in (3, 9)},
           **{f"legacy-hsj-vote{k}-x{k}": f"HopSkipJump, {k}-draw majority, {k}x queries" for k in (3, 9)},
           "legacy-hsj-fresh": "HopSkipJump, answers not remembered past its start",
           **{f"legacy-square-eot{k}": f"Square (L2), loss over {k} draws" for k in (3, 9)},
           **{f"legacy-square-eot{k}-x{k}": f"Square (L2), loss over {k} draws, {k}x queries" for k in (3, 9)}}
CURVE_BUDGETS = (0.01, 0.03, 0.05, 0.06, 0.07, 0.08)  # the legacy table's columns: the HSJ curve gives every one


def legacy_runs(profile: str, overrides: dict[str, Any] | None = None, tracks: Sequence[str] | None = None,
                seed: int | None = None, retrain: bool = False, results_root: Any = None) -> dict[str, Run]:
    """One run per track of the profile (all of them, or those named in `tracks`), `overrides` applied to each."""
    known = TRACKS.get(profile, (Track(profile, profile),))
    labels = [t.label for t in known]
    if tracks is not None:
        if isinstance(tracks, str) or not tracks:
            raise InputError(f"tracks must be a non-empty list of track names ({', '.join(labels)}); got {tracks!r}")
        stray = [t for t in tracks if t not in labels]
        if stray:
            raise InputError(f"profile {profile!r} has no track {stray[0]!r}; its tracks: {', '.join(labels)}")
    runs = {}
    for t in known:
        if tracks is None or t.label in tracks:
            runs[t.label] = resolve_run(t.profile, {**t.overrides, **(overrides or {})}, seed=seed, retrain=retrain,
                                        results_root=results_root)
            start_from_committed(runs[t.label])  # a session's track starts from the committed rows (else: no-op)
    for label, run in runs.items():
        missing = [g for g in ("legacy-clean", "legacy-hsj", "legacy-square") if g not in run.profile.grid.groups]
        if missing:
            raise InputError(f"track {label!r} (profile {run.profile.name!r}) does not run the legacy cell groups "
                             f"{', '.join(missing)}; use a legacy profile")
    return runs


def _outcomes(out_csv: Any, row: pd.Series) -> Any:
    from cnr.eval.outcomes import load_outcomes

    return load_outcomes(out_csv, row.to_dict())


def kit_curves(runs: dict[str, Run], hsj_budgets: Sequence[float] = CURVE_BUDGETS) -> pd.DataFrame:
    """Each track's accuracy vs budget, per defense and attack (budget 0: clean accuracy on the same images), with
    n, draws, the mean over draws and its 95% Wilson interval, the worst case over draws, and (HSJ) the attacker's own
    view. Rows the grids have not finished yet are left out."""
    from cnr.analysis.budget_curve import budget_curve
    from cnr.cells.groups import GROUPS
    from cnr.eval.rows import read_table

    parts = []
    for label, run in runs.items():
        if not run.robustness_csv.is_file():
            continue
        df = read_table(run.robustness_csv, hint="run the legacy grid first (make legacy)")
        budgets = sorted({*hsj_budgets, *run.profile.grid.l2_budgets})
        for defense, rows in df.groupby("defense", sort=False):
            clean = rows[rows["attack"] == "legacy-clean"]
            if clean.empty:
                continue
            base = dict(track=label, run=run.name, dataset=run.profile.data.dataset,
                        classifier=run.profile.data.classifier, defense=defense, mode=rows["mode"].iloc[0])
            for group in [g for g in ATTACKS if g in set(rows["attack"])]:
                cells = rows[rows["attack"] == group].sort_values("budget")
                if GROUPS[group].attack == "hsj":  # one unbounded run per image: its budget curve
                    curve = budget_curve(_outcomes(run.robustness_csv, cells.iloc[0]),
                                         _outcomes(run.robustness_csv, clean.iloc[0]), budgets)
                    parts += [{**base, "attack": ATTACKS[group], "group": group, **r,
                               "queries_median": cells["queries_median"].iloc[0]} for r in curve]
                else:  # one run per budget
                    keep = ["budget", "n", "draws", "accuracy", "acc_lo", "acc_hi", "worst_accuracy", "worst_lo",
                            "worst_hi", "queries_median"]
                    parts += [{**base, "attack": ATTACKS[group], "group": group, **{k: r[k] for k in keep if k in r}}
                              for r in [clean.iloc[0].to_dict(), *cells.to_dict("records")]]
    if not parts:
        return pd.DataFrame()
    out = pd.DataFrame(parts)
    out.loc[out["budget"] == 0, "queries_median"] = 0.0  # the clean point: no attack
    return out


def _tracks(profile: str) -> dict[str, Track]:
    return {t.label: t for t in TRACKS.get(profile, (Track(profile, profile),))}


def white_box_run(run: Run, track: Track | None) -> Run:
    """The run whose white-box cells give a track its white-box view: its own, or the grid it borrows them from
    (same seed, results folder and weights; a session's copy starts from the committed rows)."""
    if track is None or track.white_box is None:
        return run
    source = resolve_run(track.white_box, seed=run.seed, retrain=run.retrain, results_root=run.results_root)
    start_from_committed(source)
    return source


def compared(curves: pd.DataFrame, profile: str) -> pd.DataFrame:
    """The curve points of the tracks the published table is compared with (each image counted once)."""
    keep = [label for label, t in _tracks(profile).items() if t.compare]
    return curves[curves["track"].isin(keep)] if not curves.empty else curves


def views_table(runs: dict[str, Run], profile: str) -> pd.DataFrame:
    """Every track's views of each defense at its L2 budgets (cnr.analysis.three_views); tracks without rows yet, and
    views without cells, are left out."""
    from cnr.analysis.three_views import three_views
    from cnr.eval.rows import read_table

    tracks, parts = _tracks(profile), []
    for label, run in runs.items():
        source = white_box_run(run, tracks.get(label))
        if not run.robustness_csv.is_file():
            continue
        table = read_table(run.robustness_csv, hint="run the legacy grid first (make legacy)")
        white = (read_table(source.robustness_csv, hint=f"run the {source.name} grid first")
                 if source.robustness_csv.is_file() else table.iloc[:0])
        parts.append(three_views(label, table, run.robustness_csv, white, source.robustness_csv,
                                 run.profile.grid.l2_budgets))
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# the two measurements beside the grids, on the first track's images: decision noise toward HopSkipJump's boundary
# (JPEG alone is deterministic: its flip rate is the control) and the paper's white-box tool as documented and in the
# setting that breaks the bare model (benchmarks/paper_bpda_settings.py)
NOISE_DEFENSES = ("jpeg-qf40", "static-N3", "dynamic-N3")
TOOL_DEFENSES = ("none", "jpeg-qf40", "dynamic-N3")
TOOL_SETTINGS = {"as documented": {}, "aimed at the runner-up": {"target": "runner-up", "step_size": 0.1}}


def cached_study(run: Run, name: str, settings: dict[str, Any], compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """A study table of the run computed once per settings: tables/<name>.csv, beside it <name>.settings.json; other
    settings recompute it (a rerun of the notebook reads it back)."""
    from cnr.table_files import save_table

    csv, sidecar = run.tables_dir / f"{name}.csv", run.tables_dir / f"{name}.settings.json"
    # the run (profile, overrides, seed) and whether its models were retrained belong to the settings too
    wanted = json.loads(json.dumps({**settings, "run": run.name, "retrain": run.retrain}, sort_keys=True, default=str))
    if csv.is_file() and sidecar.is_file() and json.loads(sidecar.read_text(encoding="utf-8")) == wanted:
        return pd.read_csv(csv)
    save_table(compute(), run.tables_dir, name, floatfmt=".3f")
    sidecar.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return pd.read_csv(csv)  # as a later run reads it back


def studies(runs: dict[str, Run]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """noise_and_tool on the first Fashion-MNIST track (16 images for the noise, the costly sample for the tool);
    (None, None) when the runs have none (the 224 px tracks' HopSkipJump walks cost hours of CPU)."""
    first = next((r for r in runs.values() if r.profile.data.dataset == "fmnist"), None)
    if first is None:
        return None, None
    s = first.profile.samples
    return noise_and_tool(first, noise_images=min(16, s.blackbox or s.costly), tool_images=s.costly)


def noise_and_tool(run: Run, noise_images: int, tool_images: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The decision-noise table (cnr.studies.decision_noise) and the paper's-tool table (cnr.studies.paper_bpda, one
    block per TOOL_SETTINGS entry) of a track's run, each computed once per settings."""
    from cnr.cells.groups import group_params
    from cnr.eval.evaluator import make_evaluator
    from cnr.studies.decision_noise import decision_noise_study
    from cnr.studies.paper_bpda import paper_bpda

    hsj = group_params(run.profile, "legacy-hsj")
    ev = make_evaluator(run, n=max(noise_images, tool_images))
    noise = cached_study(run, "legacy_decision_noise", dict(n=noise_images, seed=run.seed, hsj=hsj,
                                                            defenses=NOISE_DEFENSES, draws=ev.draws),
                         lambda: decision_noise_study(ev, NOISE_DEFENSES, n=noise_images, hsj_params=hsj))
    tool = cached_study(run, "legacy_paper_bpda", dict(n=tool_images, seed=run.seed, settings=TOOL_SETTINGS,
                                                       defenses=TOOL_DEFENSES, draws=ev.draws,
                                                       pgd=group_params(run.profile, "bpda-pgd")),
                        lambda: pd.concat([paper_bpda(ev, TOOL_DEFENSES, n=tool_images, settings=s).assign(setting=k)
                                           for k, s in TOOL_SETTINGS.items()], ignore_index=True))
    return noise, tool


def mark_weak(curves: pd.DataFrame, runs: dict[str, Run], profile: str) -> pd.DataFrame:
    """Add undefended_accuracy, reference_accuracy and inconclusive to every attacked curve point, the kit's rule
    (cnr.analysis.ensemble.mark_inconclusive) at each budget: an attack that leaves the bare model more than
    INCONCLUSIVE_GAP above the best white-box attack there says nothing about a defense. NA: not checked (no
    bare-model cell of that attack, or no white-box cell at or below that budget)."""
    from cnr.analysis.ensemble import INCONCLUSIVE_GAP
    from cnr.analysis.three_views import l2_reference, reference_at
    from cnr.eval.rows import read_table

    if curves.empty:
        return curves
    tracks, refs = _tracks(profile), {}
    for label, run in runs.items():
        source = white_box_run(run, tracks.get(label))
        refs[label] = (l2_reference(read_table(source.robustness_csv)) if source.robustness_csv.is_file()
                       else pd.Series(dtype=float))
    out = curves.copy()
    bare = curves[curves["mode"] == "none"].drop_duplicates(["track", "attack", "budget"], keep="last")
    bare = bare.set_index(["track", "attack", "budget"])["accuracy"]
    out["undefended_accuracy"] = [bare.get((t, a, b), np.nan) for t, a, b in
                                  zip(out["track"], out["attack"], out["budget"])]
    out["reference_accuracy"] = [reference_at(refs.get(t, pd.Series(dtype=float)), b)
                                 for t, b in zip(out["track"], out["budget"])]
    known = out["undefended_accuracy"].notna() & out["reference_accuracy"].notna()
    weak = out["undefended_accuracy"] > out["reference_accuracy"] + INCONCLUSIVE_GAP
    out["inconclusive"] = pd.array([bool(w) if k else pd.NA for w, k in zip(weak, known)], dtype="boolean")
    out.loc[out["budget"] == 0, "inconclusive"] = False  # the clean point: no attack
    return out
