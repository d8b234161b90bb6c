"""The attack grid -> one tidy results table: resumable, shardable, every number with n and an interval."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from cnr.defense import CompressRestore, Defended
from cnr.errors import InputError, unknown_name
from cnr.stats import wilson_interval

EVAL_DRAW_BASE = 1_000_000_000  # scoring draws never coincide with the draws an attack saw
KEY_COLUMNS = ["dataset", "classifier", "defense", "attack", "norm", "budget", "params", "seed"]


@dataclass(frozen=True)
class DefenseSpec:
    """A named defense configuration of the grid."""

    name: str
    mode: str  # none | jpeg | static | dynamic
    n_iter: int = 1
    qf_range: tuple[int, int] = (20, 60)

    def build(self, bank: nn.Module | None, grad: str = "bpda", seed: int = 0) -> CompressRestore | None:
        """The defense module, or None for the undefended classifier."""
        if self.mode == "none":
            return None
        return CompressRestore(bank, self.qf_range, self.n_iter, mode=self.mode, grad=grad, seed=seed)


@dataclass(frozen=True)
class AttackSpec:
    """A named attack of the grid: the cnr.attacks name, what gradient it sees, its norm, budget and params."""

    label: str  # e.g. bpda-pgd, eot-bpda-pgd, oblivious-pgd, square
    attack: str  # the cnr.attacks registry name
    norm: str
    budget: float
    view: str = "bpda"  # bpda | surrogate | identity | oblivious: the model the attacker differentiates
    sample: str = "eval"  # eval | costly: which sample size of the profile
    params: tuple[tuple[str, Any], ...] = ()


@dataclass
class Cell:
    defense: DefenseSpec
    attack: AttackSpec

    def key(self, dataset: str, classifier: str, seed: int) -> dict[str, Any]:
        """The table key of this cell (resume and shard merge use it)."""
        return dict(dataset=dataset, classifier=classifier, defense=self.defense.name, attack=self.attack.label,
                    norm=self.attack.norm, budget=float(self.attack.budget),
                    params=json.dumps(dict(self.attack.params), sort_keys=True), seed=seed)


def default_defenses(qf_range: tuple[int, int] = (20, 60), ns: Iterable[int] = (1, 3, 5)) -> list[DefenseSpec]:
    """none, JPEG with a random QF, static and dynamic (Compress and Restore)^N for each N."""
    out = [DefenseSpec("none", "none"), DefenseSpec("jpeg", "jpeg", 1, qf_range)]
    out += [DefenseSpec(f"static-N{n}", "static", n, qf_range) for n in ns]
    out += [DefenseSpec(f"dynamic-N{n}", "dynamic", n, qf_range) for n in ns]
    return out


@torch.no_grad()
def score(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, draws: int, batch_size: int = 500) -> torch.Tensor:
    """(draws, n) bool matrix of correct predictions over fresh draws of a random model."""
    rows = []
    for j in range(draws):
        preds = []
        for i in range(0, len(x_adv), batch_size):
            xb = x_adv[i : i + batch_size]
            out = model(xb, draw=EVAL_DRAW_BASE + j) if isinstance(model, Defended) else model(xb)
            preds.append(out.argmax(1).cpu())
        rows.append(torch.cat(preds) == y.cpu())
    return torch.stack(rows)


def summarize(correct: torch.Tensor) -> dict[str, Any]:
    """Mean accuracy over draws and the worst case (an image counts only if every draw is right), with intervals."""
    draws, n = correct.shape
    k_mean = correct.double().sum().item() / draws  # exact k for one draw (float32 means drift below k/n)
    k_worst = int(correct.all(0).sum())
    lo, hi = wilson_interval(round(k_mean), n)
    wlo, whi = wilson_interval(k_worst, n)
    return dict(n=n, draws=draws, accuracy=k_mean / n, acc_lo=lo, acc_hi=hi, worst_accuracy=k_worst / n,
                worst_lo=wlo, worst_hi=whi, draw_std=correct.float().mean(1).std().item() if draws > 1 else 0.0)


class Evaluator:
    """Holds the data, the classifier and the bank once, and runs cells against them."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classifier: nn.Module, bank: nn.Module | None,
                 dataset: str, classifier_name: str, sizes: dict[str, int], draws: int, seed: int = 0):
        self.x, self.y, self.classifier, self.bank = x, y, classifier, bank
        self.dataset, self.classifier_name, self.sizes, self.draws, self.seed = dataset, classifier_name, sizes, draws, seed
        self._bare: dict[tuple, Any] = {}  # attacks on the bare classifier: crafted once, reused by oblivious cells

    def run_cell(self, cell: Cell) -> dict[str, Any]:
        """Attack one (defense, attack) cell and score the final adversarials over fresh draws."""
        from cnr.attacks import run_attack

        n = min(self.sizes[cell.attack.sample], len(self.x))
        x, y = self.x[:n], self.y[:n]
        view = cell.attack.view
        grad = view if view in ("bpda", "surrogate", "identity") else "bpda"
        defense = cell.defense.build(self.bank, grad=grad, seed=self.seed)
        target = self.classifier if defense is None else Defended(defense, self.classifier)
        attacked = self.classifier if view == "oblivious" else target
        t0 = time.perf_counter()
        if cell.attack.attack == "clean" or cell.attack.budget == 0:
            x_adv, counts, extra = x, (0, 0), {}
        else:
            # the undefended PGD cell and every oblivious cell of a budget craft the same adversarials: once
            bare = attacked is self.classifier and cell.attack.attack == "pgd"
            key = (cell.attack.attack, cell.attack.norm, cell.attack.budget, cell.attack.params, n)
            res = self._bare.get(key) if bare else None
            if res is None:
                res = run_attack(cell.attack.attack, attacked, x, y, cell.attack.budget, norm=cell.attack.norm,
                                 seed=self.seed, **dict(cell.attack.params))
                if bare:
                    self._bare[key] = res
            x_adv, counts, extra = res.x_adv, (res.n_forward, res.n_backward), getattr(res, "extra", {}) or {}
        attack_s = time.perf_counter() - t0
        random_defense = defense is not None and defense.is_random
        correct = score(target, x_adv, y, self.draws if random_defense else 1)
        delta = (x_adv - x).flatten(1)
        l2 = (delta.norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-12))
        row = {**cell.key(self.dataset, self.classifier_name, self.seed), **summarize(correct),
               "random_defense": random_defense, "view": view, "n_forward": counts[0], "n_backward": counts[1],
               "pert_l2_median": l2.median().item(), "pert_linf_max": delta.abs().max().item() if n else 0.0,
               "wall_s": round(time.perf_counter() - t0, 2), "attack_s": round(attack_s, 2)}
        if "pert_norm" in extra:
            pn = torch.as_tensor(extra["pert_norm"]).float()
            pn = pn[torch.isfinite(pn)]
            row["min_pert_l2_median"] = pn.median().item() if len(pn) else float("nan")
        return row


# --- the table on disk: one JSON line per finished row, appended and fsynced ---------------------

def _rows_path(out_csv: Path, shard: tuple[int, int]) -> Path:
    i, k = shard
    return out_csv.with_name(f"{out_csv.stem}.rows-{i}-of-{k}.jsonl")


def read_rows(out_csv: str | os.PathLike) -> pd.DataFrame:
    """All finished rows of every shard, deduplicated by key (a torn last line is ignored)."""
    out_csv = Path(out_csv)
    rows = []
    for path in sorted(out_csv.parent.glob(f"{out_csv.stem}.rows-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the row in flight when the process died
    df = pd.DataFrame(rows)
    if not df.empty:
        df = df.drop_duplicates(subset=KEY_COLUMNS, keep="last").reset_index(drop=True)
    return df


def _append_row(path: Path, row: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"  # a row cut short by a crash: start on a line of our own
    with open(path, "a") as f:
        f.write(("\n" if torn else "") + json.dumps(row, default=float) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_table(df: pd.DataFrame, out_csv: str | os.PathLike) -> Path:
    """Write the merged table atomically."""
    from cnr.weights import atomic_write_bytes

    out_csv = Path(out_csv)
    atomic_write_bytes(out_csv, df.to_csv(index=False, float_format="%.4f").encode())
    return out_csv


def parse_shard(text: str | None) -> tuple[int, int]:
    """'2/4' -> (2, 4): this process runs every 4th cell starting at cell 2 (1-based)."""
    if not text:
        return (1, 1)
    try:
        i, k = (int(v) for v in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like i/k (e.g. 1/4), got {text!r}") from None
    if not 1 <= i <= k:
        raise InputError(f"--shard i/k needs 1 <= i <= k, got {text!r}")
    return (i, k)


def run_cells(evaluator: Evaluator, cells: list[Cell], out_csv: str | os.PathLike, shard: tuple[int, int] = (1, 1),
              resume: bool = True) -> pd.DataFrame:
    """Run this shard's cells that are not in the table yet; returns the merged table (written to out_csv)."""
    out_csv = Path(out_csv)
    i, k = shard
    mine = [c for idx, c in enumerate(cells) if idx % k == i - 1]
    done = read_rows(out_csv) if resume else pd.DataFrame()
    done_keys = set()
    if not done.empty:
        done_keys = {tuple(r) for r in done[KEY_COLUMNS].astype(str).itertuples(index=False)}
    todo = [c for c in mine if tuple(str(v) for v in c.key(evaluator.dataset, evaluator.classifier_name,
                                                           evaluator.seed).values()) not in done_keys]
    rows_path = _rows_path(out_csv, shard)
    bar = tqdm(todo, desc=f"grid {i}/{k}", unit="cell")
    for cell in bar:
        bar.set_postfix_str(f"{cell.defense.name} / {cell.attack.label} {cell.attack.norm} {cell.attack.budget:g}")
        _append_row(rows_path, evaluator.run_cell(cell))
    df = read_rows(out_csv)
    if not df.empty:
        write_table(df, out_csv)
    return df
