"""The AR-GAN restoration table: does each restorer actually undo JPEG, and does the classifier notice?

Per QF of the bank: PSNR and SSIM of JPEG vs restored on Fashion-MNIST test images, on 224-px crops of the photo
corpus's TEST photos and on Foolbox's 20 ImageNet images (neither ever trained on: the natural bank learned from
the corpus's train photos), each a mean with a normal-approximation 95% interval over images; the PSNR gain with
a PAIRED 95% t-interval (per-image restored - JPEG: the two means share their images, so their own intervals
overlap even where every image gains); plus the classifier's clean accuracy on JPEG vs restored Fashion-MNIST
(Wilson).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import torch
from torch import nn

from cnr.argan.bank import RestorerBank
from cnr.argan.losses import psnr, ssim
from cnr.jpeg import jpeg_roundtrip
from cnr.prediction import batched, predict
from cnr.run import Run
from cnr.stats import mean_half_width, t_half_width, wilson_interval

CORPUS_TEST_CROPS = dict(size=224, per_photo=4, seed=0)  # 6 test photos x 4 crops, at the classifiers' 224 px


@torch.no_grad()
def restoration_rows(bank: RestorerBank, x: torch.Tensor, dataset: str, y: torch.Tensor | None = None,
                     classifier: nn.Module | None = None, static: bool = True) -> list[dict[str, Any]]:
    """One row per QF of the bank (and per QF with the static generator): quality of JPEG vs restored."""
    rows = []
    variants = [("per-qf", None)] + ([("static", "static")] if static and bank.has_static else [])
    for qf in bank.qfs:
        j = jpeg_roundtrip(x, qf)
        jpeg_psnr, jpeg_ssim = psnr(j, x, "none"), ssim(j, x, "none")
        acc_jpeg = None
        if classifier is not None:
            acc_jpeg = int((predict(classifier, j) == y.cpu()).sum())
        for variant, key in variants:
            r = batched(partial(bank.restore, qf=key or qf), j, 256)
            rp, rs = psnr(r, x, "none"), ssim(r, x, "none")
            row = dict(dataset=dataset, generator=variant, qf=qf, n=len(x))
            for name, vals in (("psnr_jpeg", jpeg_psnr), ("psnr_restored", rp), ("ssim_jpeg", jpeg_ssim),
                               ("ssim_restored", rs)):
                row[name], row[f"{name}_ci"] = mean_half_width(vals)
            row["psnr_gain"] = row["psnr_restored"] - row["psnr_jpeg"]
            row["psnr_gain_ci"] = t_half_width(rp.double() - jpeg_psnr.double())
            row["restored_wins"] = bool(row["psnr_restored"] > row["psnr_jpeg"])
            if classifier is not None:
                k = int((predict(classifier, r) == y.cpu()).sum())
                clean = int((predict(classifier, x) == y.cpu()).sum()) if not rows else rows[0]["k_clean"]
                row.update(k_clean=clean, acc_clean=clean / len(x), acc_jpeg=acc_jpeg / len(x), acc_restored=k / len(x))
                row["acc_jpeg_lo"], row["acc_jpeg_hi"] = wilson_interval(acc_jpeg, len(x))
                row["acc_restored_lo"], row["acc_restored_hi"] = wilson_interval(k, len(x))
            rows.append(row)
    return rows


def restoration_table(run: Run) -> pd.DataFrame:
    """The paper's AR-GAN table for a run's banks: Fashion-MNIST test, corpus test photos, Foolbox's ImageNet."""
    from cnr.classifiers import load_classifier
    from cnr.data import load_fmnist, load_foolbox_samples
    from cnr.data.photo_corpus import corpus_crops
    from cnr.training import load_bank

    p, device = run.profile, run.device
    x, y = load_fmnist("test", limit=p.samples.restoration)
    fm_bank = load_bank(run, "fmnist")
    clf = load_classifier("fmnist-cnn", device=device, weights=run.classifier_weights("fmnist-cnn"))
    rows = restoration_rows(fm_bank, x.to(device), "fmnist-test", y.to(device), clf)
    nat_bank = load_bank(run, "natural")
    rows += restoration_rows(nat_bank, corpus_crops("test", **CORPUS_TEST_CROPS).to(device), "corpus-test")
    xi, _, _ = load_foolbox_samples("imagenet")
    rows += restoration_rows(nat_bank, xi.to(device), "foolbox-imagenet")
    df = pd.DataFrame(rows)
    df.insert(0, "profile", p.name)
    return df


def write_restoration_table(run: Run) -> pd.DataFrame:
    """Compute the table and save it as CSV, Markdown and LaTeX next to the other tables."""
    from cnr.table_files import save_table

    df = restoration_table(run)
    save_table(df, run.tables_dir, run.restoration_csv.stem)
    return df
