"""Image grids that run the models: restoration examples and adversarial examples side by side."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from cnr.argan.losses import psnr
from cnr.jpeg import jpeg_roundtrip


def show(ax: plt.Axes, img: torch.Tensor, title: str, interpolation: str | None = None) -> None:
    """One (C,H,W) [0,1] image on an axis, gray or RGB, titled, without ticks; "nearest" shows enlarged pixels as
    squares."""
    img = img.detach().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1, interpolation=interpolation)
    else:
        ax.imshow(img.permute(1, 2, 0), interpolation=interpolation)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


@torch.no_grad()
def restoration_grid(images: torch.Tensor, bank: nn.Module, qfs: Sequence[int], scale: float = 1.0) -> plt.Figure:
    """Rows: images; columns: original, then JPEG and restored at each QF, titled with PSNR (dB); `scale` zooms."""
    n, cols = len(images), 1 + 2 * len(qfs)
    fig, axes = plt.subplots(n, cols, figsize=(1.3 * cols * scale, 1.4 * n * scale), squeeze=False)
    for r in range(n):
        show(axes[r][0], images[r], "original" if r == 0 else "")
    for j, qf in enumerate(qfs):
        jpeg = jpeg_roundtrip(images, qf)
        restored = bank.restore(jpeg, qf)
        pj, pr = psnr(jpeg, images, reduction="none"), psnr(restored, images, reduction="none")
        for r in range(n):
            show(axes[r][1 + 2 * j], jpeg[r], f"JPEG {qf}\n{pj[r]:.1f} dB")
            show(axes[r][2 + 2 * j], restored[r], f"restored\n{pr[r]:.1f} dB")
    fig.tight_layout()
    return fig


JPEG_BLOCK = 8  # JPEG codes 8x8 pixel blocks: crops aligned to them show whole blocks


@torch.no_grad()
def busiest_crop(image: torch.Tensor, qf: int, size: int = 32) -> tuple[int, int]:
    """Top-left (row, column), on the 8x8 block grid, of the `size`-pixel square where JPEG at `qf` changes the
    (C,H,W) image most: where its blocks and ringing show."""
    error = (jpeg_roundtrip(image[None], qf) - image[None]).abs().mean(1, keepdim=True)
    mean = F.avg_pool2d(error, size, stride=JPEG_BLOCK)[0, 0]
    row, col = divmod(int(mean.flatten().argmax()), mean.shape[1])
    return row * JPEG_BLOCK, col * JPEG_BLOCK


@torch.no_grad()
def zoomed_restoration(image: torch.Tensor, bank: nn.Module, qfs: Sequence[int], size: int = 32,
                       corner: tuple[int, int] | None = None) -> plt.Figure:
    """The whole (C,H,W) image with a `size`-pixel square marked, and per QF that square of the original, of JPEG
    and of its restoration, enlarged with square pixels so that the 8x8 blocks show; PSNR of the whole image."""
    top, left = busiest_crop(image, min(qfs), size) if corner is None else corner
    crop = (slice(None), slice(top, top + size), slice(left, left + size))
    rows = len(qfs)
    fig = plt.figure(figsize=(2.4 * 4, 2.4 * rows + 0.4))
    grid = fig.add_gridspec(rows, 4)
    whole = fig.add_subplot(grid[:, 0])
    show(whole, image, f"original, {image.shape[-1]} px wide\n(the square is enlarged on the right)")
    whole.add_patch(Rectangle((left - 0.5, top - 0.5), size, size, fill=False, edgecolor="red", linewidth=1.5))
    x = image[None]
    for r, qf in enumerate(qfs):
        jpeg = jpeg_roundtrip(x, qf)
        restored = bank.restore(jpeg, qf).clamp(0, 1)
        panels = ((x, "original"), (jpeg, f"JPEG QF {qf}, {psnr(jpeg, x).item():.1f} dB"),
                  (restored, f"restored, {psnr(restored, x).item():.1f} dB"))
        for c, (img, title) in enumerate(panels):
            show(fig.add_subplot(grid[r, c + 1]), img[0][crop], title, interpolation="nearest")
    fig.suptitle(f"{size} x {size} px square at row {top}, column {left}, each pixel drawn as a square "
                 f"(JPEG's 8x8 blocks: {size // JPEG_BLOCK} per side); PSNR of the whole image", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def adversarial_pair(
    clean: torch.Tensor,
    adv_bare: torch.Tensor,
    adv_defended: torch.Tensor,
    labels: Sequence[str],
    captions: Sequence[str] = ("clean", "fools the bare model", "fools the defended model"),
) -> plt.Figure:
    """The paper's teaser: clean image, the (small) perturbation that fools the bare classifier, the (visible)
    one that fools the defended classifier, with predictions and perturbation sizes."""
    n = len(clean)
    fig, axes = plt.subplots(n, 5, figsize=(10, 2.1 * n), squeeze=False)
    for r in range(n):
        d1, d2 = adv_bare[r] - clean[r], adv_defended[r] - clean[r]
        scale = max(d1.abs().max().item(), d2.abs().max().item(), 1e-8)
        show(axes[r][0], clean[r], f"{captions[0]}\n{labels[3 * r]}")
        show(axes[r][1], adv_bare[r], f"{captions[1]}\n{labels[3 * r + 1]}, L∞={d1.abs().max():.3f}")
        show(axes[r][2], 0.5 + 0.5 * d1 / scale, "perturbation (bare)")
        show(axes[r][3], adv_defended[r], f"{captions[2]}\n{labels[3 * r + 2]}, L∞={d2.abs().max():.3f}")
        show(axes[r][4], 0.5 + 0.5 * d2 / scale, "perturbation (defended)")
    fig.tight_layout()
    return fig


def misclassified_grid(x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, classes: Sequence[str], k: int = 8,
                       cols: int = 8) -> plt.Figure:
    """The first `k` misclassified images, titled 'true -> predicted'."""
    wrong = (pred != y).nonzero().flatten()[:k].tolist()
    if not wrong:
        fig, ax = plt.subplots(figsize=(3, 1))
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        ax.axis("off")
        return fig
    cols = min(cols, len(wrong))
    rows = -(-len(wrong) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        show(ax, x[i], f"{classes[int(y[i])]}\n-> {classes[int(pred[i])]}")
    fig.tight_layout()
    return fig
