"""Train one AR-GAN generator: pixel+SSIM pre-training, then a GAN phase; seeded, resumable, DDP-ready.

Every batch is a pure function of (seed, step) and is JPEG-compressed on the fly with the real codec, the
learning rate is a pure function of the step, and checkpoints hold both networks and both optimizers, so an
interrupted run resumes to the same weights. Under `torchrun` (WORLD_SIZE > 1) each rank takes a slice of the
global batch, gradients are averaged by DistributedDataParallel (gloo on CPU, NCCL on GPU), and only rank 0
validates and writes files.
"""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from cnr.argan.discriminator import PatchDiscriminator
from cnr.argan.generator import Generator, build_generator
from cnr.argan.losses import (PerceptualLoss, adversarial_d_loss, adversarial_g_loss, pixel_loss, psnr, ssim,
                              ssim_loss)
from cnr.argan.sources import NATURAL_SOURCE, ImageSource, default_channels, draw_qfs
from cnr.checks import check_output_file, resolve_device  # one device check for the whole kit
from cnr.errors import InputError
from cnr.parsing import check_limits, parse_seed
from cnr.profiles import QF_SET
from cnr.schedule import warmup_cosine
from cnr.weights import load_checkpoint, read_metadata, save_checkpoint, save_weights


def _init_distributed(device: torch.device) -> tuple[int, int, bool]:
    """Join the process group torchrun describes; returns (rank, world, whether we created it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), created


def _perceptual(spec: Any, dataset: str) -> PerceptualLoss | None:
    """The frozen feature network: 'auto' is the kit's classifier on Fashion-MNIST and none on natural photos."""
    if spec == "auto":
        spec = "fmnist-cnn" if dataset == "fmnist" else None
    if spec is None:
        return None
    if isinstance(spec, str):
        from cnr.classifiers import load_classifier

        spec = load_classifier(spec)
    if not hasattr(spec, "features"):
        raise InputError(f"perceptual network {type(spec).__name__} has no features(x) method")
    return PerceptualLoss(spec.features, spec)


def _qf_label(qfs: int | str | Sequence[int]) -> tuple[int | str, tuple[int, ...]]:
    """Normalize the QF argument: an int, or 'static' / a list (one QF per image drawn from the set)."""
    if isinstance(qfs, str):
        if qfs == "static":
            return "static", QF_SET
        if qfs.isdigit():
            qfs = int(qfs)
        else:
            raise InputError(f"qf must be an integer 1..100 or 'static', got {qfs!r}")
    if isinstance(qfs, int):
        if not 1 <= qfs <= 100:
            raise InputError(f"JPEG quality factor must lie in 1..100, got {qfs}")
        return qfs, (qfs,)
    qset = tuple(sorted(int(q) for q in qfs))
    if not qset or not all(1 <= q <= 100 for q in qset):
        raise InputError(f"static QF set must be non-empty, values in 1..100; got {qfs!r}")
    return "static", qset


@torch.no_grad()
def evaluate_restoration(generator: nn.Module, clean: torch.Tensor, qf: int | torch.Tensor,
                         batch: int = 256) -> dict[str, float]:
    """PSNR/SSIM of JPEG vs restored on clean images: the numbers of the restoration table."""
    from cnr.jpeg import jpeg_roundtrip

    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    sums = dict(psnr_jpeg=0.0, psnr=0.0, ssim_jpeg=0.0, ssim=0.0)
    for i in range(0, len(clean), batch):
        x = clean[i : i + batch]
        q = qf[i : i + batch] if isinstance(qf, torch.Tensor) else qf
        j = jpeg_roundtrip(x, q)
        r = generator(j.to(device)).cpu()
        sums["psnr_jpeg"] += psnr(j, x, "none").sum().item()
        sums["psnr"] += psnr(r, x, "none").sum().item()
        sums["ssim_jpeg"] += ssim(j, x, "none").sum().item()
        sums["ssim"] += ssim(r, x, "none").sum().item()
    generator.train(was_training)
    return {k: round(v / len(clean), 4) for k, v in sums.items()}


def _train_limits() -> dict[str, Any]:
    from cnr.parsing import FLAG, Limit, choice_limit, count_limit, number_limit

    return dict(pretrain_steps=count_limit(0), gan_steps=count_limit(0), batch=count_limit(), patch=count_limit(4),
                lr=number_limit(0, lo_open=True), pixel=choice_limit("l1", "l2"), ssim_weight=number_limit(0),
                perceptual_weight=number_limit(0), adv_weight=number_limit(0), ckpt_every=count_limit(),
                val_every=count_limit(), n_val=count_limit(), stop_after=Limit("int", lo=1, optional=True),
                progress=FLAG, amp=FLAG)


TRAIN_LIMITS = _train_limits()  # the ranges of train_argan's arguments, beside its defaults


def train_argan(
    qfs: int | str | Sequence[int] = 10,
    dataset: str = "fmnist",
    preset: str = "quick",
    in_channels: int | None = None,
    pretrain_steps: int = 1500,
    gan_steps: int = 500,
    batch: int = 32,
    patch: int = 28,
    seed: int = 0,
    out_path: str | Path | None = None,
    device: str | torch.device = "auto",
    lr: float = 1e-3,
    pixel: str = "l1",
    ssim_weight: float = 0.5,
    perceptual: Any = "auto",
    perceptual_weight: float = 0.1,
    adv_weight: float = 1e-3,
    ckpt_every: int = 250,
    val_every: int = 500,
    n_val: int = 512,
    command: str = "",
    stop_after: int | None = None,
    progress: bool = True,
    amp: bool = True,
    init_from: str | Path | None = None,
) -> tuple[Generator, list[dict[str, Any]]]:
    """Train a generator for one QF (or 'static': a QF per image from the set); returns it (eval mode) and its history.

    With `out_path`, final fp16 weights go there and a resumable checkpoint to `<out>.ckpt.safetensors`
    every `ckpt_every` steps (resumed automatically when its configuration matches). `stop_after` ends this
    call after that many steps, leaving the checkpoint (used to test resumption).
    """
    from cnr.jpeg import jpeg_roundtrip

    args = check_limits(dict(pretrain_steps=pretrain_steps, gan_steps=gan_steps, batch=batch, patch=patch, lr=lr,
                             pixel=pixel, ssim_weight=ssim_weight, perceptual_weight=perceptual_weight,
                             adv_weight=adv_weight, ckpt_every=ckpt_every, val_every=val_every, n_val=n_val,
                             stop_after=stop_after, progress=progress, amp=amp), TRAIN_LIMITS, "train_argan argument")
    if args["pretrain_steps"] + args["gan_steps"] < 1:
        raise InputError("train_argan needs at least one step: pretrain_steps + gan_steps is 0")
    (pretrain_steps, gan_steps, batch, patch, lr, pixel, ssim_weight, perceptual_weight, adv_weight, ckpt_every,
     val_every, n_val, stop_after, progress, amp) = args.values()
    seed = parse_seed(seed, "seed")
    if out_path is not None:
        out_path = check_output_file(out_path, ".safetensors", "out_path")  # before training, not after it
    qf_label, qf_set = _qf_label(qfs)
    in_channels = in_channels or default_channels(dataset)
    device = resolve_device(device, flag="device")
    rank, world, created_pg = _init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    source = ImageSource(dataset, in_channels, patch, seed)
    total = pretrain_steps + gan_steps

    torch.manual_seed(seed)  # parameter init; everything later uses explicit, step-keyed generators
    g_raw = build_generator(preset, in_channels).to(device)
    if dataset == "natural" and device.type == "cpu":  # faster channels-last, as in cnr.argan.bank
        g_raw = g_raw.to(memory_format=torch.channels_last)
    d_raw = PatchDiscriminator(in_channels, channels=32, layers=2 if patch <= 32 else 3).to(device)
    opt_g = torch.optim.Adam(g_raw.parameters(), lr=lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(d_raw.parameters(), lr=lr, betas=(0.5, 0.999))
    perc = _perceptual(perceptual, dataset) if gan_steps and perceptual_weight else None
    if perc is not None:
        perc.to(device)

    arch = {**g_raw.architecture(), "preset": preset}
    config = dict(kind="argan-generator", architecture=arch, qf=qf_label, qf_set=list(qf_set), dataset=dataset,
                  pretrain_steps=pretrain_steps, gan_steps=gan_steps, steps=total, batch=batch, patch=patch, seed=seed,
                  lr=lr, losses=dict(pixel=pixel, ssim=ssim_weight, perceptual=perceptual_weight if perc else 0.0,
                                     perceptual_net=_perc_name(perceptual, dataset) if perc else None,
                                     adversarial=adv_weight))
    if dataset == "natural":
        config["source"] = NATURAL_SOURCE
    if init_from is not None:
        config["init_from"] = _warm_start(g_raw, Path(init_from), arch)
    out_path = Path(out_path) if out_path is not None else None
    ckpt_path = out_path.with_suffix(".ckpt.safetensors") if out_path is not None else None
    start, elapsed, cpu, history = 0, 0.0, 0.0, []
    if ckpt_path is not None and ckpt_path.is_file():
        found = read_metadata(ckpt_path)
        if all(_same(found.get(k), v) for k, v in config.items()):
            prog = load_checkpoint(ckpt_path, {"g": g_raw, "d": d_raw}, {"g": opt_g, "d": opt_d})
            start, elapsed, history = prog["step"], prog["elapsed"], prog["history"]
            cpu = prog.get("cpu_elapsed", 0.0)
            if rank == 0:
                print(f"resuming {ckpt_path} at step {start}/{total}")
        elif rank == 0:
            print(f"ignoring {ckpt_path}: it was made for another configuration")

    g, d = g_raw, d_raw
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        g = nn.parallel.DistributedDataParallel(g_raw, device_ids=ids)
        d = nn.parallel.DistributedDataParallel(d_raw, device_ids=ids)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext())

    val_clean = source.validation(n_val) if rank == 0 else None
    val_qf: int | torch.Tensor = qf_set[0] if qf_label != "static" else torch.tensor(
        [qf_set[i % len(qf_set)] for i in range(n_val)])
    end = total if stop_after is None else min(total, start + stop_after)
    g_raw.train(), d_raw.train()
    bar = tqdm(range(start, end), initial=start, total=total, desc=f"AR-GAN {dataset} qf={qf_label}",
               disable=not progress or rank != 0, leave=False)
    t0, c0 = time.perf_counter(), time.process_time()  # wall, and this process's CPU (what a loaded machine keeps)
    stats: dict[str, float] = {}
    for step in bar:
        clean, gen = source.batch(step, batch, rank, world)
        q = draw_qfs(qf_set, batch, gen, rank, world) if qf_label == "static" else qf_set[0]
        jpeg = jpeg_roundtrip(clean, q).to(device, non_blocking=True)
        clean = clean.to(device, non_blocking=True)
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = warmup_cosine(step, total, lr, warmup=0.03, floor=0.05)
        gan = step >= pretrain_steps
        with autocast:
            fake = g(jpeg)
        fake = fake.float()
        if gan:  # discriminator step on (jpeg, clean) vs (jpeg, restored)
            with autocast:
                logits = d(torch.cat([jpeg, jpeg]), torch.cat([clean, fake.detach()])).float()
            loss_d = adversarial_d_loss(*logits.chunk(2))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            stats["loss_d"] = loss_d.item()
        loss_pix = pixel_loss(fake, clean, pixel)
        loss = loss_pix
        stats["loss_pixel"] = loss_pix.item()
        if ssim_weight:
            loss_s = ssim_loss(fake, clean)
            loss = loss + ssim_weight * loss_s
            stats["loss_ssim"] = loss_s.item()
        if gan:
            d_raw.requires_grad_(False)  # no D gradients from the G step (and no DDP hooks on D)
            with autocast:
                loss_adv = adversarial_g_loss(d_raw(jpeg, fake).float())
            d_raw.requires_grad_(True)
            loss = loss + adv_weight * loss_adv
            stats["loss_adv"] = loss_adv.item()
            if perc is not None:
                loss_p = perc(fake, clean)
                loss = loss + perceptual_weight * loss_p
                stats["loss_perceptual"] = loss_p.item()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        stats["loss"] = loss.item()
        bar.set_postfix({k: f"{v:.4f}" for k, v in stats.items()}, refresh=False)

        done = step + 1
        last = done == total
        if rank == 0 and (done % val_every == 0 or last):
            rec = {"step": done, "phase": "gan" if gan else "pretrain", **{k: round(v, 5) for k, v in stats.items()},
                   **evaluate_restoration(g_raw, val_clean, val_qf)}
            history.append(rec)
            bar.write(f"step {done}/{total}: " + ", ".join(f"{k} {v}" for k, v in rec.items() if k != "step"))
        if ckpt_path is not None and (done % ckpt_every == 0 or done == end) and not last:
            if rank == 0:
                save_checkpoint(ckpt_path, {"g": g_raw, "d": d_raw}, {"g": opt_g, "d": opt_d},
                                {"step": done, "elapsed": elapsed + time.perf_counter() - t0,
                                 "cpu_elapsed": cpu + time.process_time() - c0, "history": history},
                                config)
            if world > 1:
                dist.barrier()
    bar.close()
    elapsed += time.perf_counter() - t0
    cpu += time.process_time() - c0

    if world > 1:  # BN running stats are per rank; make every rank hold rank 0's
        for buf in g_raw.buffers():
            dist.broadcast(buf, 0)
    if end == total and rank == 0 and out_path is not None:
        final = history[-1] if history else {}
        meta = {**config, "command": command, "train_seconds": round(elapsed, 1),
                "train_cpu_seconds": round(cpu, 1), "world_size": world,
                "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "val": {"n": n_val, "qf": qf_label, **{k: final.get(k) for k in ("psnr_jpeg", "psnr", "ssim_jpeg", "ssim")}},
                "history": history}
        save_weights(out_path, g_raw.state_dict(), meta, dtype=torch.float16)
        ckpt_path.unlink(missing_ok=True)
    if world > 1:
        dist.barrier()
        if created_pg:
            dist.destroy_process_group()
    g_raw.eval()
    return g_raw, history


def _warm_start(g: Generator, path: Path, arch: dict[str, Any]) -> dict[str, Any]:
    """Load a finished generator into `g`; returns what identifies it (file, QF, steps, checksum) for metadata."""
    from cnr.weights import load_weights, tensor_checksum

    tensors, meta = load_weights(path, dtype=None)
    found = meta.get("architecture", {})
    if not _same(found, arch):
        raise InputError(f"init_from {path}: architecture {found!r} is not this run's {arch!r}")
    g.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    return {"file": path.name, "qf": meta.get("qf"), "steps": meta.get("steps"), "dataset": meta.get("dataset"),
            "sha256": tensor_checksum(tensors)}


def _perc_name(spec: Any, dataset: str) -> str | None:
    if spec == "auto":
        return "fmnist-cnn" if dataset == "fmnist" else None
    return spec if isinstance(spec, str) else type(spec).__name__


def _same(found: Any, want: Any) -> bool:
    """Metadata equality after the JSON round trip (tuples come back as lists)."""
    if isinstance(want, (tuple, list)):
        return isinstance(found, list) and len(found) == len(want) and all(_same(f, w) for f, w in zip(found, want))
    if isinstance(want, dict):
        return isinstance(found, dict) and set(found) == set(want) and all(_same(found[k], want[k]) for k in want)
    return found == want
