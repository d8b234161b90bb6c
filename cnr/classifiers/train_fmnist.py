"""Train the kit's Fashion-MNIST classifier: seeded, resumable, atomically checkpointed."""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from cnr.classifiers.fmnist_cnn import FashionCNN
from cnr.data import load_fmnist
from cnr.prediction import predict
from cnr.schedule import warmup_cosine
from cnr.weights import load_checkpoint, read_metadata, save_checkpoint, save_weights


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random 2-px translation and horizontal flip, batched."""
    n = x.shape[0]
    padded = F.pad(x, (2, 2, 2, 2))
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()  # one shift per batch keeps it a slice
    x = padded[:, :, dy : dy + 28, dx : dx + 28]
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)


def _correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    model.eval()
    return int((predict(model, x, 1000) == y).sum())


def _train_limits() -> dict:
    from cnr.parsing import Limit, count_limit, number_limit

    return dict(epochs=count_limit(), batch_size=count_limit(), lr=number_limit(0, lo_open=True),
                train_limit=Limit("int", lo=1, optional=True), eval_limit=Limit("int", lo=1, optional=True))


TRAIN_LIMITS = _train_limits()  # the ranges of train_fmnist_cnn's arguments, beside its defaults


def train_fmnist_cnn(
    out_path: str | Path,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    train_limit: int | None = None,
    eval_limit: int | None = None,
    device: str = "cpu",
    command: str = "",
) -> dict:
    """Train FashionCNN, resuming from `<out>.ckpt.safetensors` if a matching one exists; returns the final metadata."""
    from cnr.checks import check_output_file, resolve_device
    from cnr.data.registry import check_sample_size
    from cnr.parsing import check_limits, parse_seed

    args = check_limits(dict(epochs=epochs, batch_size=batch_size, lr=lr, train_limit=train_limit,
                             eval_limit=eval_limit), TRAIN_LIMITS, "train_fmnist_cnn argument")
    epochs, batch_size, lr = args["epochs"], args["batch_size"], args["lr"]
    for dataset, limit, name in (("fmnist-train", train_limit, "train_limit"), ("fmnist", eval_limit, "eval_limit")):
        if limit is not None:  # more images than the split holds: refused, not quietly fewer
            check_sample_size(dataset, limit, name)
    seed, device = parse_seed(seed, "seed"), resolve_device(device, flag="device")
    out_path = check_output_file(out_path, ".safetensors", "out_path")  # before an hour of training, not after
    ckpt_path = out_path.with_suffix(".ckpt.safetensors")
    torch.manual_seed(seed)
    x_train, y_train = load_fmnist("train", limit=train_limit)
    x_test, y_test = load_fmnist("test", limit=eval_limit)
    model = FashionCNN().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = epochs * steps_per_epoch
    config = dict(architecture="fmnist-cnn", dataset="fmnist", epochs=epochs, batch_size=batch_size, lr=lr,
                  seed=seed, train_n=len(x_train))
    start_epoch, elapsed, history = 0, 0.0, []
    if ckpt_path.is_file() and {k: read_metadata(ckpt_path).get(k) for k in config} == config:
        progress = load_checkpoint(ckpt_path, {"model": model}, {"opt": opt}, expect=config)
        start_epoch, elapsed, history = progress["epoch"], progress["elapsed"], progress["history"]
        print(f"resuming from {ckpt_path} at epoch {start_epoch}/{epochs}")

    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        model.train()
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)  # epoch-keyed: resume replays the same batches
        torch.manual_seed(seed * 1000 + epoch)
        order = torch.randperm(len(x_train), generator=gen)
        running = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        for i in bar:
            idx = order[i * batch_size : (i + 1) * batch_size]
            xb, yb = _augment(x_train[idx], gen).to(device), y_train[idx].to(device)
            for g in opt.param_groups:
                g["lr"] = warmup_cosine(epoch * steps_per_epoch + i, total, lr, warmup=0.15, start=0.1, offset=0)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running = 0.9 * running + 0.1 * loss.item() if i else loss.item()
            bar.set_postfix(loss=f"{running:.3f}")
        correct = _correct(model, x_test, y_test)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "loss": round(running, 4), "test_acc": correct / len(x_test),
                        "elapsed_s": round(elapsed, 1)})
        print(f"epoch {epoch + 1}/{epochs}: loss {running:.4f}, test accuracy {correct / len(x_test):.4f}, "
              f"{elapsed:.0f} s")
        save_checkpoint(ckpt_path, {"model": model}, {"opt": opt},
                        {"epoch": epoch + 1, "elapsed": elapsed, "history": history}, config)

    correct = _correct(model, x_test, y_test)
    meta = {**config, "test_n": len(x_test), "test_accuracy": correct / len(x_test), "train_seconds": round(elapsed, 1),
            "history": history, "command": command, "torch": torch.__version__,
            "threads": torch.get_num_threads()}
    save_weights(out_path, model.state_dict(), meta)
    ckpt_path.unlink(missing_ok=True)
    return meta
