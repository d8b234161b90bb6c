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
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from cnr.argan.discriminator import PatchDiscriminator
from cnr.argan.generator import Generator, build_generator
from cnr.argan.losses import PerceptualLoss, adversarial_d_loss, adversarial_g_loss, pixel_loss, psnr, ssim, ssim_loss
from cnr.argan.recipe import perceptual_name, same_training, training_recipe
from cnr.argan.sources import ImageSource, draw_qfs
from cnr.checks import check_output_file, resolve_device  # one device check for the whole kit
from cnr.config.training import TrainSettings
from cnr.errors import InputError
from cnr.parsing import check_int
from cnr.schedule import warmup_cosine
from cnr.weights import load_checkpoint, read_metadata, save_checkpoint, save_weights


def _init_distributed(device: torch.device) -> tuple[int, int, bool]:
    """Join the process group torchrun describes; returns (rank, world, whether we created it)."""
    world = check_int(os.environ.get("WORLD_SIZE", "1"), "environment variable WORLD_SIZE", 1, text=True)
    if world <= 1:
        return 0, 1, False
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), created


def _perceptual(spec: Any, dataset: str) -> PerceptualLoss | None:
    """The frozen feature network: 'auto' is the kit's classifier on Fashion-MNIST and none on natural photos."""
    if spec == "auto":
        spec = perceptual_name(spec, dataset)
    if spec is None:
        return None
    if isinstance(spec, str):
        from cnr.classifiers import load_classifier

        spec = load_classifier(spec)
    if not hasattr(spec, "features"):
        raise InputError(f"perceptual network {type(spec).__name__} has no features(x) method")
    return PerceptualLoss(spec.features, spec)


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


def train_argan(qfs: int | str | Sequence[int] = 10, out_path: str | Path | None = None,
                device: str | torch.device = "auto", command: str = "", **settings: Any,
                ) -> tuple[Generator, list[dict[str, Any]]]:
    """Train a generator for one QF (or 'static': a QF per image from the set); returns it (eval mode) and its history.

    `settings` are the fields of cnr.config.training.TrainSettings (dataset, preset, pretrain_steps, gan_steps, batch,
    patch, seed, lr, the losses and their weights, init_from, checkpointing), with its defaults. With `out_path`,
    final fp16 weights go there and a resumable checkpoint to `<out>.ckpt.safetensors` every `ckpt_every` steps
    (resumed automatically when it records the same training, cnr.argan.recipe). `stop_after` ends this call after
    that many steps, leaving the checkpoint (used to test resumption).
    """
    from cnr.jpeg import jpeg_roundtrip

    cfg = TrainSettings.from_kwargs(settings)
    if out_path is not None:
        out_path = check_output_file(out_path, ".safetensors", "out_path")  # before training, not after it
    config = training_recipe(qfs, cfg)  # what this training records and what a checkpoint must match
    qf_label, qf_set = config["qf"], tuple(config["qf_set"])
    in_channels = config["architecture"]["in_channels"]
    device = resolve_device(device, flag="device")
    rank, world, created_pg = _init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    source = ImageSource(cfg.dataset, in_channels, cfg.patch, cfg.seed)
    total = cfg.steps

    torch.manual_seed(cfg.seed)  # parameter init; everything later uses explicit, step-keyed generators
    g_raw = build_generator(cfg.preset, in_channels).to(device)
    if cfg.dataset == "natural" and device.type == "cpu":  # faster channels-last, as in cnr.argan.bank
        g_raw = g_raw.to(memory_format=torch.channels_last)
    d_raw = PatchDiscriminator(in_channels, channels=32, layers=2 if cfg.patch <= 32 else 3).to(device)
    opt_g = torch.optim.Adam(g_raw.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(d_raw.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    perc = _perceptual(cfg.perceptual, cfg.dataset) if config["losses"]["perceptual_net"] else None
    if perc is not None:
        perc.to(device)
    if cfg.init_from is not None:
        _warm_start(g_raw, Path(cfg.init_from), config["architecture"])
    out_path = Path(out_path) if out_path is not None else None
    ckpt_path = out_path.with_suffix(".ckpt.safetensors") if out_path is not None else None
    start, elapsed, cpu, history = 0, 0.0, 0.0, []
    if ckpt_path is not None and ckpt_path.is_file():
        if same_training(read_metadata(ckpt_path), config):
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
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.amp and device.type == "cuda" else nullcontext())

    val_clean = source.validation(cfg.n_val) if rank == 0 else None
    val_qf: int | torch.Tensor = qf_set[0] if qf_label != "static" else torch.tensor(
        [qf_set[i % len(qf_set)] for i in range(cfg.n_val)])
    end = total if cfg.stop_after is None else min(total, start + cfg.stop_after)
    g_raw.train(), d_raw.train()
    bar = tqdm(range(start, end), initial=start, total=total, desc=f"AR-GAN {cfg.dataset} qf={qf_label}",
               disable=not cfg.progress or rank != 0, leave=False)
    t0, c0 = time.perf_counter(), time.process_time()  # wall, and this process's CPU (what a loaded machine keeps)
    stats: dict[str, float] = {}
    for step in bar:
        clean, gen = source.batch(step, cfg.batch, rank, world)
        q = draw_qfs(qf_set, cfg.batch, gen, rank, world) if qf_label == "static" else qf_set[0]
        jpeg = jpeg_roundtrip(clean, q).to(device, non_blocking=True)
        clean = clean.to(device, non_blocking=True)
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = warmup_cosine(step, total, cfg.lr, warmup=0.03, floor=0.05)
        gan = step >= cfg.pretrain_steps
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
        loss_pix = pixel_loss(fake, clean, cfg.pixel)
        loss = loss_pix
        stats["loss_pixel"] = loss_pix.item()
        if cfg.ssim_weight:
            loss_s = ssim_loss(fake, clean)
            loss = loss + cfg.ssim_weight * loss_s
            stats["loss_ssim"] = loss_s.item()
        if gan:
            d_raw.requires_grad_(False)  # no D gradients from the G step (and no DDP hooks on D)
            with autocast:
                loss_adv = adversarial_g_loss(d_raw(jpeg, fake).float())
            d_raw.requires_grad_(True)
            loss = loss + cfg.adv_weight * loss_adv
            stats["loss_adv"] = loss_adv.item()
            if perc is not None:
                loss_p = perc(fake, clean)
                loss = loss + cfg.perceptual_weight * loss_p
                stats["loss_perceptual"] = loss_p.item()
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        stats["loss"] = loss.item()
        bar.set_postfix({k: f"{v:.4f}" for k, v in stats.items()}, refresh=False)

        done = step + 1
        last = done == total
        if rank == 0 and (done % cfg.val_every == 0 or last):
            rec = {"step": done, "phase": "gan" if gan else "pretrain", **{k: round(v, 5) for k, v in stats.items()},
                   **evaluate_restoration(g_raw, val_clean, val_qf)}
            history.append(rec)
            bar.write(f"step {done}/{total}: " + ", ".join(f"{k} {v}" for k, v in rec.items() if k != "step"))
        if ckpt_path is not None and (done % cfg.ckpt_every == 0 or done == end) and not last:
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
                "val": {"n": cfg.n_val, "qf": qf_label,
                        **{k: final.get(k) for k in ("psnr_jpeg", "psnr", "ssim_jpeg", "ssim")}},
                "history": history}
        save_weights(out_path, g_raw.state_dict(), meta, dtype=torch.float16)
        ckpt_path.unlink(missing_ok=True)
    if world > 1:
        dist.barrier()
        if created_pg:
            dist.destroy_process_group()
    g_raw.eval()
    return g_raw, history


def _warm_start(g: Generator, path: Path, arch: dict[str, Any]) -> None:
    """Load a finished generator into `g` (its identity is in the recipe: cnr.argan.recipe.warm_start_record)."""
    from cnr.weights import load_weights

    tensors, meta = load_weights(path, dtype=None)
    found = meta.get("architecture", {})
    if found != arch:
        raise InputError(f"init_from {path}: architecture {found!r} is not this run's {arch!r}")
    g.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
