"""The per-QF bank of AR-GAN generators the defense draws from, plus the static one, loaded once from a folder.

Files: `qf05.safetensors ... qf60.safetensors` and `static.safetensors` (fp16 weights + JSON metadata written by
`train_argan`). Loading checks every file's metadata (kind, QF, dataset, channels) and fails with a WeightsError
naming the file, what was expected and what was found; weights are read at construction, never in forward.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnr.argan.bank_files import STATIC, check_coverage, qf_filename, scan_bank, trained_qf_set
from cnr.argan.generator import Generator, generator_from_architecture
from cnr.checks import check_images, resolve_device, values_checked
from cnr.errors import InputError, WeightsError
from cnr.parsing import check_qf
from cnr.weights import load_state_into, read_metadata, save_weights

__all__ = ["STATIC", "RestorerBank", "load_generator", "qf_filename"]


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu",
                   expect: Mapping[str, Any] | None = None, regenerate: str = "",
                   channels_last: bool | None = None, allow_unverified: bool = False) -> Generator:
    """Build a generator from a weights file's architecture metadata and load it (eval mode, float32).

    `channels_last`: its convolutions' memory layout (None: channels_last on CPU, where oneDNN runs them faster,
    NCHW elsewhere); outputs agree within float rounding either way (tests/test_argan.py)."""
    device = resolve_device(device, flag="device")  # a bad or absent device fails before the file is read
    meta = read_metadata(path, regenerate)
    if meta.get("kind") != "argan-generator" or not isinstance(meta.get("architecture"), dict):
        raise WeightsError(f"{path} is not an AR-GAN generator (its metadata has kind={meta.get('kind')!r} and "
                           f"architecture={meta.get('architecture')!r}; a generator has kind='argan-generator' and "
                           f"an architecture object)" + (f". Regenerate it with: {regenerate}" if regenerate else ""))
    for key, want in (expect or {}).items():
        found = meta["architecture"].get(key) if key in ("in_channels", "channels", "blocks") else meta.get(key)
        if found != want:
            raise WeightsError(f"{path}: expected {key}={want!r}, found {key}={found!r}."
                               + (f" Regenerate it with: {regenerate}" if regenerate else ""))
    try:
        gen = generator_from_architecture(meta["architecture"])
    except InputError as e:
        raise WeightsError(f"{path}: {e}") from e
    load_state_into(gen, path, regenerate=regenerate, allow_unverified=allow_unverified)
    gen.meta = meta  # kept so that bank.save() writes the same provenance back
    gen = gen.to(device).eval()
    if channels_last is None:
        channels_last = device.type == "cpu"  # oneDNN's convs at 16-64 channels run faster (benchmarks/NOTES.md)
    if channels_last:
        gen = gen.to(memory_format=torch.channels_last)
    return gen


class RestorerBank(nn.Module):
    """Generators keyed by the QF they were trained for, plus an optional static (all-QF) generator."""

    def __init__(self, generators: Mapping[int, Generator], static: Generator | None = None):
        super().__init__()
        if not isinstance(generators, Mapping) or not generators:
            raise InputError(f"a RestorerBank needs a mapping of QF -> Generator with at least one entry, got "
                             f"{type(generators).__name__}"
                             + (f" of {len(generators)} item(s)" if hasattr(generators, "__len__") else ""))
        for q, g in generators.items():
            check_qf(q, f"RestorerBank key {q!r}")
            if not isinstance(g, nn.Module):  # a Generator, or any restorer module of one's own
                raise InputError(f"RestorerBank generator for QF {q} must be a torch module (a cnr Generator), got "
                                 f"{type(g).__name__}")
        if static is not None and not isinstance(static, nn.Module):
            raise InputError(f"RestorerBank static must be a torch module (a cnr Generator) or None, got "
                             f"{type(static).__name__}")
        named = {**{f"generator for QF {q}": g for q, g in generators.items()},
                 **({"static generator": static} if static is not None else {})}
        blind = [k for k, g in named.items() if not isinstance(getattr(g, "in_channels", None), int)]
        if blind:
            raise InputError(f"RestorerBank {blind[0]} ({type(named[blind[0]]).__name__}) must say the channels it "
                             f"restores: an int in_channels attribute, as a cnr Generator has")
        chans = {g.in_channels for g in named.values()}
        if len(chans) != 1:
            raise InputError(f"bank generators disagree on input channels: {sorted(chans)}")
        self.in_channels = chans.pop()
        self.generators = nn.ModuleDict({self._key(q): g for q, g in sorted(generators.items())})
        self.static_generator = static
        self.qfs: tuple[int, ...] = tuple(sorted(int(q) for q in generators))
        self.register_buffer("_qf_desc", torch.tensor(sorted(self.qfs, reverse=True)), persistent=False)

    @staticmethod
    def _key(qf: int) -> str:
        return f"qf{int(qf):02d}"

    @property
    def static(self) -> Generator:
        """The single generator trained on all QFs (the paper's "static" contrast)."""
        if self.static_generator is None:
            raise WeightsError(f"this bank has no static generator (add {qf_filename(STATIC)} to its folder)")
        return self.static_generator

    @property
    def has_static(self) -> bool:
        """Whether a static generator is loaded."""
        return self.static_generator is not None

    def nearest(self, qf: int) -> int:
        """The trained QF nearest to `qf`; a tie goes to the higher QF (milder restoration, closer to the input)."""
        return min(self.qfs, key=lambda q: (abs(q - int(qf)), -q))

    def nearest_tensor(self, qf: torch.Tensor) -> torch.Tensor:
        """`nearest` for a per-image QF tensor, vectorized (same tie rule)."""
        table = self._qf_desc.to(qf.device)
        return table[(qf.view(-1, 1) - table.view(1, -1)).abs().argmin(1)]  # argmin keeps the first: the higher QF

    def generator_for(self, qf: int) -> Generator:
        """The generator of the trained QF nearest to `qf`."""
        return self.generators[self._key(self.nearest(qf))]

    def restore(self, x: torch.Tensor, qf: int | torch.Tensor | str) -> torch.Tensor:
        """Restore JPEG images: one QF for all, 'static', or a per-image QF tensor (one batched call per generator).

        Images must be float32 [0, 1] NCHW with the bank's channels; QFs must lie in 1..100 (the nearest trained
        generator serves each). Inside cnr.checks.images_checked() (the defense's iterations, whose images and
        QFs were checked or drawn by the caller) only their structure is checked: no pass over the data."""
        check_images(x, channels=self.in_channels, name="images to restore")
        if isinstance(qf, str):
            if qf != STATIC:
                raise InputError(f"qf must be an int, a per-image tensor or 'static', got {qf!r}")
            return self.static(x)
        if isinstance(qf, torch.Tensor) and (qf.is_floating_point() or qf.dtype == torch.bool):
            raise InputError(f"QFs must be integers in 1..100, got a {qf.dtype} tensor")
        if not isinstance(qf, torch.Tensor) or qf.ndim == 0:
            if isinstance(qf, bool) or not isinstance(qf, (int, torch.Tensor)) or not 1 <= int(qf) <= 100:
                raise InputError(f"qf must be a JPEG quality factor in 1..100, 'static' or a per-image tensor; "
                                 f"got {qf!r}")
            return self.generator_for(int(qf))(x)
        if qf.shape != (x.shape[0],):
            raise InputError(f"per-image QFs must have shape ({x.shape[0]},), got {tuple(qf.shape)}")
        if not values_checked() and (qf.min() < 1 or qf.max() > 100):
            raise InputError(f"per-image QFs must be integers in 1..100, got values in [{qf.min().item()}, "
                             f"{qf.max().item()}] ({qf.dtype})")
        trained = self.nearest_tensor(qf.to(self._qf_desc.device))
        groups = [(q, (trained == q).nonzero().flatten()) for q in torch.unique(trained).tolist()]
        if len(groups) == 1:
            return self.generator_for(groups[0][0])(x)
        idx = [i.to(x.device) for _, i in groups]
        out = torch.cat([self.generators[self._key(q)](x[i]) for (q, _), i in zip(groups, idx)])
        return out[torch.argsort(torch.cat(idx))]

    def forward(self, x: torch.Tensor, qf: int | torch.Tensor | str) -> torch.Tensor:
        return self.restore(x, qf)

    # --- files -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu", dataset: str | None = None,
             in_channels: int | None = None, regenerate: str = "", channels_last: bool | None = None,
             qfs: tuple[int, ...] | None = None, allow_missing: bool = False, allow_unverified: bool = False
             ) -> RestorerBank:
        """Load a folder's `qfNN.safetensors` (and `static.safetensors` if present), checking names and metadata.

        The bank must hold every QF of `qfs` (the profile's) and of the set its static generator was trained on;
        a missing one is a WeightsError (`allow_missing`: a warning naming the generator that stands in).
        `channels_last`: the generators' memory layout (see load_generator; None: channels_last on CPU)."""
        if isinstance(folder, bool) or not isinstance(folder, (str, os.PathLike)):
            raise InputError(f"RestorerBank.load takes a folder path (str or Path), got {type(folder).__name__} "
                             f"{folder!r}")
        folder = Path(folder)
        device = resolve_device(device, flag="device")
        expected = tuple(check_qf(q, "bank qfs") for q in (qfs or ()))
        if folder.exists() and not folder.is_dir():
            raise WeightsError(f"AR-GAN bank {folder} is a file; pass the folder that holds qfNN.safetensors")
        if not folder.is_dir():
            hint = f" Train it with: {regenerate}" if regenerate else ""
            raise WeightsError(f"no AR-GAN weights (qfNN.safetensors) in {folder}: no such folder.{hint}")
        files = scan_bank(folder)
        use = check_coverage(files, {*expected, *trained_qf_set(files)}, allow_missing, regenerate)
        ref: dict[str, Any] = {}
        load = dict(device=device, dataset=dataset, in_channels=in_channels, ref=ref, regenerate=regenerate,
                    channels_last=channels_last, allow_unverified=allow_unverified)
        gens = {qf: _load_checked(files.per_qf[qf], expect=dict(qf=qf), **load) for qf in use}
        static = _load_checked(files.static, expect=dict(qf=STATIC), **load) if files.static else None
        return cls(gens, static).to(device).eval()

    def save(self, folder: str | os.PathLike) -> Path:
        """Write each generator as fp16 safetensors with its metadata (the layout `load` reads)."""
        folder = Path(folder)
        items: list[tuple[int | str, Generator]] = [(q, self.generators[self._key(q)]) for q in self.qfs]
        if self.static_generator is not None:
            items.append((STATIC, self.static_generator))
        for qf, gen in items:
            meta = dict(getattr(gen, "meta", {}) or {})
            meta.update(kind="argan-generator", qf=qf)
            meta["architecture"] = {**meta.get("architecture", {}), **gen.architecture()}
            save_weights(folder / qf_filename(qf), gen.state_dict(), meta, dtype=torch.float16)
        return folder


def _load_checked(path: Path, device: str | torch.device, expect: dict[str, Any], dataset: str | None,
                  in_channels: int | None, ref: dict[str, Any], regenerate: str,
                  channels_last: bool | None = None, allow_unverified: bool = False) -> Generator:
    """Load one bank file, checking QF, dataset and channels (against the caller or the bank's first file)."""
    if dataset is None and "dataset" in ref:
        dataset = ref["dataset"]
    if in_channels is None and "in_channels" in ref:
        in_channels = ref["in_channels"]
    if dataset is not None:
        expect["dataset"] = dataset
    if in_channels is not None:
        expect["in_channels"] = in_channels
    gen = load_generator(path, device, expect, regenerate, channels_last, allow_unverified)
    ref.setdefault("dataset", gen.meta.get("dataset"))
    ref.setdefault("in_channels", gen.in_channels)
    return gen

