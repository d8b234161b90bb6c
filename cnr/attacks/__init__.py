"""White-box, black-box and adaptive attacks behind one call: ``run_attack(name, model, x, y, budget, norm)``.

An attack knows only "a model": an nn.Module from [0, 1] NCHW images to logits, possibly random
(every call a fresh draw) and slow. Budgets: ``norm="linf"`` eps in pixels; ``norm="l2"`` the
normalized L2 ||x' - x|| / ||x|| <= budget per image (see cnr.attacks.base). ``budget=0`` returns
x; ``budget=inf`` is unbounded (minimal-perturbation attacks report ``extra["pert_norm"]``).

Counting: ``n_forward`` / ``n_backward`` count images (a batch of 250 counts 250), including the
one-image pass that reads the number of classes and the attacks' own final checks. The black-box attacks
(square, nattack, hsj) also return each image's model queries in ``extra["queries"]`` (int64, its first and final
checks included, so they sum to ``n_forward`` less that one-image pass).
``success`` is the attack's own final view; on a random model the evaluator re-scores ``x_adv``
over fresh draws. Runs are seeded (global torch RNG, restored afterwards) and batched.

The registry (cnr.attacks.registry) says how to add an attack; the runner (cnr.attacks.runner) checks the inputs and
runs it.
"""
from cnr.attacks.registry import ATTACKS, AttackDef, attack_params, register_attack
from cnr.attacks.runner import AttackResult, run_attack

__all__ = ["ATTACKS", "AttackDef", "AttackResult", "attack_params", "register_attack", "run_attack"]
