"""How strong must the quick profile's C&W, Nattack and HopSkipJump be? Their accuracy on the UNDEFENDED classifier
against their settings (target: <= 5% at the profile's budget, as white-box PGD), with the seconds each costs.

An attack that leaves the bare model far above white-box PGD says nothing about a defense (cnr.analysis.ensemble marks
such rows inconclusive). Cost on a defended model is this cost times the defense's slowdown (see the grid's wall_s).
"""
from __future__ import annotations

import argparse
import time

from cnr.attacks import run_attack
from cnr.cells.groups import group_params
from cnr.eval.evaluator import make_evaluator
from cnr.eval.scoring import score
from cnr.run import resolve_run

SETTINGS = {
    "cw": ("l2", float("inf"), [dict(binary_steps=3, steps=20), dict(binary_steps=3, steps=20, initial_const=1.0),
                                dict(binary_steps=5, steps=50, initial_const=1.0),
                                dict(binary_steps=5, steps=100, initial_const=1.0)]),
    "nattack": ("linf", None, [dict(iterations=20, population=20), dict(iterations=50, population=50),
                               dict(iterations=100, population=100), dict(iterations=200, population=100)]),
    "hsj": ("l2", None, [dict(steps=5, initial_gradient_eval_steps=25, init_steps=25),
                         dict(steps=10, initial_gradient_eval_steps=50, init_steps=50),
                         dict(steps=20, initial_gradient_eval_steps=100, init_steps=50)]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--only", nargs="*", default=list(SETTINGS))
    args = ap.parse_args()
    run = resolve_run(args.profile)
    p = run.profile
    ev = make_evaluator(run)
    x, y = ev.x[: args.n], ev.y[: args.n]
    budgets = {"linf": p.grid.ref_linf, "l2": p.grid.ref_l2}
    steps = group_params(p, "bpda-pgd")["steps"]
    pgd = run_attack("pgd", ev.classifier, x, y, p.grid.ref_linf, norm="linf", seed=p.seed, steps=steps)
    print(f"{run.name}, n={len(x)}, seed {p.seed}: white-box PGD-{steps} Linf {p.grid.ref_linf:g} leaves "
          f"{score(ev.classifier, pgd.x_adv, y, 1).float().mean().item():.3f}")
    for name in args.only:
        norm, budget, grid = SETTINGS[name]
        budget = budgets[norm] if budget is None else budget
        for params in grid:
            t0 = time.perf_counter()
            res = run_attack(name, ev.classifier, x, y, budget, norm=norm, seed=p.seed, **params)
            acc = score(ev.classifier, res.x_adv, y, 1).float().mean().item()
            print(f"{name:<8} {norm} {budget:g} {params}: undefended accuracy {acc:.3f}, "
                  f"{time.perf_counter() - t0:.1f} s, {res.n_forward} forward images", flush=True)


if __name__ == "__main__":
    main()
