"""Measures the mechanism behind the paper's claim that switching generators "makes the gradient approximation
difficult".

Four measurements, each returning a tidy DataFrame: the setup columns SETUP_COLUMNS (defense, mode, N, qf_range, grad,
n_images, draws, seed), the measurement's own keys, then metric, value (a mean over images), lo and hi (a 95%
percentile-bootstrap interval over images, cnr.stats.bootstrap_mean, seeded with `seed`) and interval:

(a) gradient_cosine: how alike the BPDA input gradients of two independent draws are, with the same-draw check;
(b) eot_alignment: how well a k-draw EOT mean gradient matches a disjoint reference mean over many draws;
(c) generator_divergence: how differently the per-QF generators (and the static one) restore the same JPEG image;
(d) smoothing: how much each defense shrinks a random or an adversarial perturbation, and how often it flips a label.

Draw indices come from measurement_draws: seeded and disjoint from the attacks' draws (0, 1, ...) and the
evaluation's scoring draws (EVAL_DRAW_BASE + j). Defenses are passed as {name: CompressRestore or None (undefended)};
standard_defenses builds the grid's set. Everything runs in batches; only (a) and (b) take gradients.

Modules: common (draws, gradients, intervals, row columns), gradients (a, b), outputs (c, d), suite (all four).
"""
from cnr.studies.mechanism.common import (
                                       BATCH_SIZE,
                                       DRAWS_PER_SEED,
                                       INTERVAL,
                                       MECH_DRAW_BASE,
                                       SETUP_COLUMNS,
                                       VALUE_COLUMNS,
                                       Defenses,
                                       bootstrap_mean,
                                       input_gradients,
                                       measurement_draws,
                                       per_image_cosine,
                                       standard_defenses,
)
from cnr.studies.mechanism.gradients import eot_alignment, gradient_cosine
from cnr.studies.mechanism.outputs import generator_divergence, perturbations, smoothing
from cnr.studies.mechanism.suite import MEASUREMENTS, measure_all, mechanism_jobs, timed

__all__ = ["BATCH_SIZE", "DRAWS_PER_SEED", "INTERVAL", "MEASUREMENTS", "MECH_DRAW_BASE", "SETUP_COLUMNS",
           "VALUE_COLUMNS", "Defenses", "bootstrap_mean", "eot_alignment", "generator_divergence", "gradient_cosine",
           "input_gradients", "measure_all", "measurement_draws", "mechanism_jobs", "per_image_cosine", "perturbations",
           "smoothing", "standard_defenses", "timed"]
