"""The (Compress and Restore)^N defense as an nn.Module that any classifier can sit behind and any attack can attack."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from cnr.checks import check_images, check_one_device, images_checked
from cnr.config import Grid
from cnr.config.parts import N_MAX
from cnr.defenses.registry import DefenseSpec
from cnr.errors import InputError
from cnr.jpeg import jpeg_bpda, jpeg_roundtrip, jpeg_surrogate
from cnr.parsing import check_int, parse_qf_range, parse_seed

MODES = ("dynamic", "static", "jpeg")
# bpda: JPEG is the identity backward, restorers exact; surrogate: JPEG through kornia's differentiable codec;
# identity: the whole defense is the identity backward; expected: BPDA whose backward uses the static generator in
# place of whichever per-QF generator was drawn (the "expected restorer" an attacker of a dynamic bank would try).
GRADS = ("bpda", "surrogate", "identity", "expected")

_MASK = (1 << 62) - 1
DRAW_MAX = _MASK  # seed * 1_000_003 + draw stays inside int64 for every seed


def _mix(h: torch.Tensor) -> torch.Tensor:
    """A splitmix64-style integer mixer on int64 tensors (wrapping multiplies, kept to 62 bits)."""
    h = h & _MASK
    h = ((h ^ (h >> 31)) * 0x7FB5D329728EA185) & _MASK
    h = ((h ^ (h >> 27)) * 0x1DADEF4BC2DD44D) & _MASK
    return h ^ (h >> 33)


class CompressRestore(nn.Module):
    """x -> (JPEG at a random QF -> AR-GAN restorer for that QF) x N, with a choice of backward pass for attacks.

    Randomness: each image's QF at iteration t is a hash of (seed, draw, t, the image's 8-bit content), so
    for a fixed seed and draw the output depends on neither batch size nor batch order, while every new
    call (the draw counter advances) and every changed image gets fresh QFs. Pass `draw=` to pin a draw, or an int64
    tensor of one draw per image (k copies of a point under k draws in one batched pass).
    """

    def __init__(
        self,
        bank: nn.Module | None,
        qf_range: int | tuple[int, int] = (20, 60),
        n_iter: int = 3,
        mode: Literal["dynamic", "static", "jpeg"] = "dynamic",
        grad: Literal["bpda", "surrogate", "identity", "expected"] = "bpda",
        seed: int = 0,
    ):
        super().__init__()
        if mode not in MODES:
            raise InputError(f"unknown defense mode {mode!r}; valid modes: {', '.join(MODES)}")
        if grad not in GRADS:
            raise InputError(f"unknown gradient mode {grad!r}; valid: {', '.join(GRADS)}")
        if mode != "jpeg" and bank is None:
            raise InputError(f"mode {mode!r} needs a RestorerBank; only mode 'jpeg' runs without one")
        # the class's attributes, not the instance's: a bank without a static generator raises on `bank.static`
        is_bank = isinstance(bank, nn.Module) and all(hasattr(type(bank), a) for a in ("restore", "has_static"))
        if mode != "jpeg" and not is_bank:
            raise InputError(f"bank must be a cnr RestorerBank (load one with RestorerBank.load(folder)), got "
                             f"{type(bank).__name__}")
        if mode == "static" and not bank.has_static:
            raise InputError("mode 'static' needs a bank with a static generator (static.safetensors in its "
                             "folder); modes 'dynamic' and 'jpeg' run without one")
        n_iter = check_int(n_iter, "n_iter", 1, N_MAX)
        lo, hi = parse_qf_range(qf_range, "qf_range")
        trained = tuple(getattr(bank, "qfs", ())) if mode == "dynamic" else ()
        if trained and (lo < min(trained) or hi > max(trained)):
            edge = max(trained) if hi > max(trained) else min(trained)
            raise InputError(f"qf_range {(lo, hi)} goes past the bank's QFs {trained}: every QF beyond {edge} would "
                             f"be restored by the QF-{edge} generator, trained on other artifacts; pass a range within "
                             f"({min(trained)}, {max(trained)}), or train generators for those QFs")
        seed = parse_seed(seed, "seed")
        self.bank = bank if mode != "jpeg" else None
        self.qf_range, self.n_iter, self.mode, self.grad, self.seed = (lo, hi), n_iter, mode, grad, seed
        self.calls = 0
        if self.bank is not None:
            for p in self.bank.parameters():
                p.requires_grad_(False)

    @property
    def is_random(self) -> bool:
        """True when the QF is drawn per call (the evaluation then scores several fresh draws)."""
        return self.qf_range[0] != self.qf_range[1]

    def extra_repr(self) -> str:
        return f"mode={self.mode}, n_iter={self.n_iter}, qf_range={self.qf_range}, grad={self.grad}, seed={self.seed}"

    def draw_qfs(self, x: torch.Tensor, draw: int | torch.Tensor) -> torch.Tensor:
        """(n_iter, N) QFs: a hash of seed, draw (one for all images, or one per image), iteration and each image's
        8-bit content."""
        lo, hi = self.qf_range
        if lo == hi:
            return torch.full((self.n_iter, x.shape[0]), lo, dtype=torch.int64)
        with torch.no_grad():
            q = (x.detach().flatten(1).clamp(0, 1) * 255).round().to(torch.int64).cpu()
            g = torch.Generator().manual_seed(0xC0FFEE)
            w = torch.randint(1, 1 << 31, (q.shape[1],), generator=g, dtype=torch.int64)
            content = _mix((q * w).sum(1))
        draw = draw.cpu() if isinstance(draw, torch.Tensor) else torch.tensor(draw, dtype=torch.int64)
        key = _mix(self.seed * 1_000_003 + draw)
        rows = [(_mix(content ^ _mix(key + t + 1)) % (hi - lo + 1)) + lo for t in range(self.n_iter)]
        return torch.stack(rows)

    def _restore(self, x: torch.Tensor, qf: torch.Tensor) -> torch.Tensor:
        if self.mode == "jpeg":
            return x
        if self.mode == "static":
            return self.bank.static(x)
        if self.grad == "expected" and x.requires_grad and self.bank.has_static:
            with torch.no_grad():
                drawn = self.bank.restore(x, qf)
            stand_in = self.bank.static(x)
            return stand_in + (drawn - stand_in).detach()  # forward: the drawn generator; backward: the static one
        return self.bank.restore(x, qf)

    def _jpeg(self, x: torch.Tensor, qf: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad or self.grad == "identity":
            return jpeg_roundtrip(x, qf)
        return jpeg_surrogate(x, qf) if self.grad == "surrogate" else jpeg_bpda(x, qf)

    def purify(self, x: torch.Tensor, qfs: torch.Tensor) -> torch.Tensor:
        """Run the N iterations with the given (n_iter, N) QFs."""
        for t in range(self.n_iter):
            x = self._restore(self._jpeg(x, qfs[t]), qfs[t])
        return x

    def forward(self, x: torch.Tensor, draw: int | torch.Tensor | None = None) -> torch.Tensor:
        """Purify x; its values are checked here once (not inside run_attack, which checked them), and the N
        iterations inside check structure only (cnr.checks.images_checked)."""
        check_images(x, min_size=8, name="defense input")
        if isinstance(draw, torch.Tensor):
            _check_draws(draw, len(x))
        else:
            check_int(draw, "draw (which fresh draw of the random QFs)", 0, DRAW_MAX, optional=True)
        if draw is None:
            draw, self.calls = self.calls, self.calls + 1
        qfs = self.draw_qfs(x, draw).to(x.device)
        with images_checked():
            if self.grad == "identity" and x.requires_grad:
                with torch.no_grad():
                    out = self.purify(x.detach(), qfs)
                return x + (out - x).detach()  # generalized BPDA: the whole defense is the identity backward
            if not x.requires_grad:
                with torch.no_grad():
                    return self.purify(x, qfs)
            return self.purify(x, qfs)


def _check_draws(draw: torch.Tensor, n: int) -> None:
    """A per-image draw tensor: int64, one entry per image, each a valid draw."""
    if draw.dtype != torch.int64 or draw.shape != (n,):
        raise InputError(f"a per-image draw must be an int64 tensor of shape ({n},), got {draw.dtype} "
                         f"{tuple(draw.shape)}")
    if len(draw) and (int(draw.min()) < 0 or int(draw.max()) > DRAW_MAX):
        raise InputError(f"per-image draws must lie in [0, {DRAW_MAX}], got [{int(draw.min())}, {int(draw.max())}]")


def _check_channels(defense: nn.Module, classifier: nn.Module) -> None:
    """A gray bank in front of an RGB classifier (or the reverse) can never run: say so when it is built."""
    bank = getattr(defense, "bank", None)
    have = getattr(bank, "in_channels", None)
    info = getattr(classifier, "cnr_input", None)
    want = getattr(info, "channels", None)
    if have is not None and want is not None and have != want:
        raise InputError(f"the defense restores {have}-channel images but the classifier expects {want}-channel "
                         f"ones ({info.dataset}); use the bank of the classifier's images (cnr.data.BANK_FAMILY)")


class Defended(nn.Module):
    """classifier(defense(x)): the model white-box and black-box attackers see."""

    def __init__(self, defense: nn.Module, classifier: nn.Module):
        super().__init__()
        for what, m in (("defense", defense), ("classifier", classifier)):
            if not isinstance(m, nn.Module):
                raise InputError(f"Defended({what}=...) takes a torch.nn.Module, got {type(m).__name__} {m!r:.60}"
                                 + ("; load one with cnr.load_classifier(name)" if what == "classifier" else ""))
        check_one_device(defense, classifier)
        _check_channels(defense, classifier)
        self.defense, self.classifier = defense, classifier
        for p in classifier.parameters():
            p.requires_grad_(False)

    @property
    def is_random(self) -> bool:
        return bool(getattr(self.defense, "is_random", False))

    def forward(self, x: torch.Tensor, draw: int | torch.Tensor | None = None) -> torch.Tensor:
        """`draw` pins the draw of a random defense (scoring), or one draw per image (an int64 tensor); a
        deterministic defense ignores it."""
        if draw is None or not self.is_random:
            return self.classifier(self.defense(x))
        return self.classifier(self.defense(x, draw=draw))


# --- registration: JPEG alone, and static / dynamic (Compress and Restore)^N, as grid defenses ---------------

def build_compress_restore(spec, bank: nn.Module | None, grad: str, seed: int) -> CompressRestore:
    """compress (JPEG at a QF from the range) -> restore (static or per-QF generator, or none) -> repeat N."""
    return CompressRestore(bank if spec.mode != "jpeg" else None, spec.qf_range, spec.n_iter, mode=spec.mode,
                           grad=grad, seed=seed)


def compress_restore_family(g: Grid) -> list[DefenseSpec]:
    """JPEG with a random QF; static and dynamic for each N (main at `sweep_ns`); dynamic at a fixed QF (if any)."""
    def spec(name: str, mode: str, n: int, qf_range: tuple[int, int], roles: set[str]) -> DefenseSpec:
        return DefenseSpec(name, "compress-restore", mode, n, tuple(qf_range), frozenset(roles))

    out = [spec("jpeg", "jpeg", 1, g.qf_range, {"main"})]
    for mode in ("static", "dynamic"):
        out += [spec(f"{mode}-N{n}", mode, n, g.qf_range, {"main"} if n in g.sweep_ns else {"ablation", "n-sweep"})
                for n in g.ns]
    if g.fixed_qf is not None:
        n = g.sweep_ns[0]
        out.append(spec(f"dynamic-N{n}-qf{g.fixed_qf}", "dynamic", n, (g.fixed_qf, g.fixed_qf),
                        {"ablation", "fixed-qf"}))
    return out


def parse_variant(name: str, g: Grid) -> DefenseSpec | None:
    """'static-N4' / 'dynamic-N2' with the profile's QF range, for `cnr attack --defense` beyond the grid's Ns."""
    mode, _, rest = name.partition("-N")
    if mode in ("static", "dynamic") and rest.isdigit() and int(rest) >= 1:
        check_int(int(rest), f"defense {name!r}: N", 1, N_MAX)
        return DefenseSpec(name, "compress-restore", mode, int(rest), tuple(g.qf_range), frozenset({"main"}))
    return None
