"""What one cell will run and cost, said before it runs (`cnr attack`), and its progress while it runs."""
from __future__ import annotations

import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

from cnr.cells.specs import Cell
from cnr.run import Run


@dataclass(frozen=True)
class Estimate:
    """A cell's expected cost, scaled from a row of a results table that ran the same attack settings (or, for PGD
    without such a row, its own count of forward passes)."""

    wall_s: float  # NaN: no row to scale, a count only
    forward: int  # images through the classifier: the attack's queries and the scoring draws
    source: str  # which row it was scaled from, said beside the number


def effective_params(cell: Cell) -> dict[str, object]:
    """The attack's parameters as it runs them: its registry defaults, then what the profile and the user set."""
    from cnr.attacks import attack_params

    return attack_params(cell.attack.attack, **dict(cell.attack.params))


def scoring_draws(cell: Cell, draws: int) -> int:
    """How many draws the evaluator scores a cell on: the profile's for a defense with a random QF, else one."""
    return draws if cell.defense.columns()["random_qf"] else 1


def describe_cell(cell: Cell, n: int, draws: int, origin: str) -> list[str]:
    """The lines `cnr attack` prints before it starts: attack, defense, budget, every parameter, images, and the
    draws it is scored on (`scoring_draws`)."""
    a = cell.attack
    params = ", ".join(f"{k}={v}" for k, v in sorted(effective_params(cell).items()))
    scoring = (f"scored on {draws} fresh draws of the defense (mean and worst case)" if draws > 1
               else "scored once")
    lines = [f"cell: {a.attack} ({origin}) on {cell.defense.name}, {a.norm} {a.budget:g}, {a.view} gradients",
             f"parameters (registry defaults, then the profile's and yours): {params}",
             f"images: {n} (sample '{a.sample}'), {scoring}"]
    return [wrap(line) for line in lines]


def wrap(line: str, width: int = 100) -> str:
    """A printed line wrapped to `width` columns, its continuation lines indented."""
    return textwrap.fill(line, width, subsequent_indent="    ", break_on_hyphens=False)


def _tables(run: Run) -> list[Path]:
    """The run's own table, then its profile's (the committed one for a run with overrides)."""
    own = run.robustness_csv
    base = Path(run.results_root) / run.profile.name / "tables" / "robustness.csv"
    return list(dict.fromkeys(p for p in (own, base) if p.is_file()))


def estimate_cost(run: Run, cell: Cell, n: int, draws: int) -> Estimate | None:
    """The cell's wall time and forward passes, scaled by n from the table row with the same defense, attack
    label and parameters (the same budget if there is one: the cost hardly depends on it); None without one."""
    from cnr.eval.merge import load_table
    from cnr.paths import relative

    a = cell.attack
    params = json.dumps(dict(a.params), sort_keys=True)
    for table in _tables(run):
        df = load_table(table)
        if df.empty or "n_forward" not in df:
            continue
        same = df[(df["defense"] == cell.defense.name) & (df["attack"] == a.label) & (df["norm"] == a.norm)
                  & (df["params"].map(lambda v: json.dumps(json.loads(v), sort_keys=True)) == params)]
        at_budget = same[(same["budget"] - a.budget).abs() < 5e-5]
        rows = at_budget if len(at_budget) else same
        if rows.empty:
            continue
        r = rows.iloc[0]
        scale = n / int(r["n"])
        attack_forward = int(r["n_forward"]) if math.isfinite(float(r["n_forward"])) else 0
        probe = min(attack_forward, 1)  # run_attack's one-image probe of the model does not scale with n
        forward = probe + round((attack_forward - probe) * scale) + draws * n
        where = "this cell" if len(at_budget) else f"the same cell at {a.norm} {float(r['budget']):g}"
        source = (f"{where} in {relative(table)}: {float(r['wall_s']):.1f} s for {int(r['n'])} images on the machine "
                  f"that made it, scaled by n; a smaller n costs more per image")
        return Estimate(float(r["wall_s"]) * scale, forward, source)
    if a.attack == "pgd" and a.budget > 0:  # no row to scale (an install has no tables): PGD's own count
        p = effective_params(cell)
        forward = 1 + n * p["eot"] * (p["steps"] + 1) + draws * n
        return Estimate(math.nan, forward, f"PGD's one-image probe, n x eot x (steps + 1) and {draws} scoring draws "
                                           "of n; no table row ran these settings, so no time")
    return None


def describe_cost(estimate: Estimate | None) -> str:
    """The expected-cost line, saying where the number comes from."""
    if estimate is None:
        return wrap("expected cost: no table row ran these settings, so no estimate; progress counts forward passes")
    time = "" if math.isnan(estimate.wall_s) else f"about {estimate.wall_s:,.0f} s and "
    return wrap(f"expected cost: {time}{estimate.forward:,} images through the classifier ({estimate.source})")


def run_previewed(run: Run, cell: Cell, n: int, origin: str) -> dict[str, object]:
    """What `cnr attack` does: say what the cell runs and costs before starting, run it on its first n images with
    a progress bar, and return its row with the effective parameters (registry defaults included)."""
    import json

    from cnr.cells.specs import SAMPLES
    from cnr.eval.evaluator import make_evaluator
    from cnr.progress import forward_passes

    draws = scoring_draws(cell, run.profile.samples.draws)
    estimate = estimate_cost(run, cell, n, draws)
    print("\n".join([*describe_cell(cell, n, draws, origin), describe_cost(estimate)]), flush=True)
    ev = make_evaluator(run, n=n)  # that many images loaded: no more than the cell uses
    ev.sizes = dict.fromkeys(SAMPLES, n)
    # every attack query and scoring pass goes through the classifier
    with forward_passes(ev.classifier, estimate.forward if estimate else None, "forward passes", per_image=True):
        row = ev.run_cell(cell)
    row["effective_params"] = json.dumps(effective_params(cell), sort_keys=True)
    return row
