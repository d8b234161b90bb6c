"""cnr.attacks: budgets and the box, honest success flags, counting, seeds, errors, and BPDA end to end."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from helpers import mentions, run_cli, shipped_fmnist_models
from torch import nn

from cnr.attacks import ATTACKS, AttackDef, AttackResult, attack_params, register_attack, run_attack
from cnr.attacks.base import CountingModel
from cnr.defenses import CompressRestore, Defended
from cnr.errors import InputError
from cnr.parsing import parse_params

N, SIZE, CLASSES = 8, 16, 10
BUDGETS = {"linf": 0.03, "l2": 0.05}
# small settings so the whole file stays fast on two busy cores
FAST = {
    "pgd": dict(steps=10),
    "fgsm": {},
    "deepfool": dict(steps=20),
    "cw": dict(binary_steps=5, steps=30),
    "hsj": dict(steps=3, initial_gradient_eval_steps=20, max_gradient_eval_steps=50),
    "square": dict(n_queries=60),
    "nattack": dict(iterations=15, population=20),
    "autoattack_rand": dict(n_iter=5, eot_iter=2),
    "deeprobust_bpda": dict(iterations=5, target="runner-up"),
}
GRADIENT_FREE = {"square", "nattack", "hsj"}
CASES = [(name, norm) for name, spec in ATTACKS.items() for norm in spec.norms]


class TinyNet(nn.Module):
    """A linear classifier on 16x16 gray images; `noise` > 0 makes it random (fresh input noise every call)."""

    def __init__(self, noise: float = 0.0, size: int = SIZE):
        super().__init__()
        self.fc = nn.Linear(size * size, CLASSES)
        self.noise = noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.fixture(scope="module")
def data(net) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images of varied brightness (norms differ ~3x) labelled by the net itself: clean accuracy is 100%."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(N, 1, SIZE, SIZE, generator=g) * torch.linspace(0.3, 1.0, N).view(N, 1, 1, 1)
    with torch.no_grad():
        return x, net(x).argmax(1)


def size_of(x_adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    d = (x_adv - x).flatten(1)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1) / x.flatten(1).norm(dim=1)


def assert_valid(res: AttackResult, x: torch.Tensor, norm: str, budget: float) -> None:
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    assert res.success.dtype == torch.bool and res.success.shape == (len(x),)
    if math.isfinite(budget):
        s = size_of(res.x_adv, x, norm)
        if norm == "linf":
            assert s.max() <= budget + 1e-6, s.max()
        else:
            assert s.max() <= budget * (1 + 1e-4), s.max()
    assert res.n_forward > 0 and res.wall_s > 0


@pytest.mark.parametrize("name,norm", CASES)
def test_attack_within_budget_and_success_is_honest(net, data, name, norm):
    x, y = data
    budget = BUDGETS[norm]
    res = run_attack(name, net, x, y, budget, norm=norm, **FAST[name])
    assert_valid(res, x, norm, budget)
    with torch.no_grad():
        wrong = net(res.x_adv).argmax(1) != y
    assert torch.equal(res.success, wrong)  # a deterministic model: the attack's view is the truth
    assert res.success.any()  # every attack fools some of these easy images
    assert (res.n_backward == 0) == (name in GRADIENT_FREE)  # black-box attacks never take a gradient
    assert set(ATTACKS[name].defaults) <= set(res.params) and "batch_size" in res.params
    if ATTACKS[name].kind == "minimal":
        assert res.extra["pert_norm"].shape == (len(x),)


@pytest.mark.parametrize("name,norm", CASES)
def test_attack_runs_on_a_random_model(data, name, norm):
    torch.manual_seed(0)
    noisy = TinyNet(noise=0.05).eval()
    x, _ = data
    with torch.no_grad():
        y = noisy.fc(x.flatten(1)).argmax(1)
    budget = BUDGETS[norm]
    res = run_attack(name, noisy, x, y, budget, norm=norm, **FAST[name])
    assert_valid(res, x, norm, budget)


def test_budget_zero_returns_x(net, data):
    x, y = data
    y_bad = y.clone()
    y_bad[0] = (y[0] + 1) % CLASSES
    for name in ATTACKS:
        res = run_attack(name, net, x, y_bad, 0.0, norm=ATTACKS[name].norms[0])
        assert torch.equal(res.x_adv, x)
        assert res.success.tolist() == [True] + [False] * (N - 1)


@pytest.mark.parametrize("name", ["deepfool", "cw", "hsj"])
def test_unbounded_minimal_attacks_report_pert_norm(net, data, name):
    x, y = data
    res = run_attack(name, net, x, y, float("inf"), norm="l2", **FAST[name])
    assert_valid(res, x, "l2", float("inf"))
    pn = res.extra["pert_norm"]
    assert res.success.float().mean() >= 0.75
    assert torch.isfinite(pn[res.success]).all()
    found = torch.isfinite(pn)
    assert torch.allclose(pn[found], size_of(res.x_adv, x, "l2")[found], atol=1e-5)
    # the same attack under a finite budget: success iff what it found fits (deterministic model)
    b = pn[found].median().item()
    clipped = run_attack(name, net, x, y, b, norm="l2", **FAST[name])
    assert_valid(clipped, x, "l2", b)
    if name != "hsj":  # deterministic attacks find the same points again, and those that fit stay adversarial
        assert clipped.success[pn <= b].all()


@pytest.mark.parametrize("name", ["pgd", "square", "autoattack_rand"])
def test_normalized_l2_budget_is_per_image(net, data, name):
    """Each image gets its own radius budget * ||x_i||: dark and bright images alike use (nearly) all of it."""
    x, y = data
    budget = 0.01
    res = run_attack(name, net, x, y, budget, norm="l2", **FAST[name])
    ratio = size_of(res.x_adv, x, "l2") / budget
    assert ratio.max() <= 1 + 1e-4
    attacked = (res.x_adv != x).flatten(1).any(1)  # AutoAttack returns x where it fails
    assert attacked.any() and (ratio[attacked] > 0.6).all(), ratio


def test_hsj_does_not_attack_misclassified_images(net, data):
    x, y = data
    y_bad = y.clone()
    y_bad[0] = (y[0] + 1) % CLASSES
    res = run_attack("hsj", net, x, y_bad, float("inf"), norm="l2", **FAST["hsj"])
    assert res.extra["pert_norm"][0] == 0 and res.success[0] and torch.equal(res.x_adv[0], x[0])


def test_grid_params_are_valid_attack_params():
    from cnr.cells.groups import build_grid
    from cnr.profiles import PROFILES

    for profile in PROFILES.values():
        for cell in build_grid(profile):
            if cell.attack.attack != "clean":
                params = attack_params(cell.attack.attack, **dict(cell.attack.params))
                assert cell.attack.norm in ATTACKS[cell.attack.attack].norms
                assert params["batch_size"] > 0


def test_pgd_large_budget_reaches_zero_accuracy(net, data):
    x, y = data
    res = run_attack("pgd", net, x, y, 0.5, norm="linf", steps=10)
    assert res.success.all()
    res = run_attack("pgd", net, x, y, 1.0, norm="l2", steps=10)
    assert res.success.all()


def test_more_pgd_steps_never_help_the_defender(net, data):
    x, y = data
    for norm, b in (("linf", 0.01), ("l2", 0.02)):
        acc = [1 - run_attack("pgd", net, x, y, b, norm=norm, steps=s).success.float().mean().item() for s in (2, 20)]
        assert acc[1] <= acc[0] + 1 / N


def test_eot_multiplies_passes(net, data):
    x, y = data
    one = run_attack("pgd", net, x, y, 0.03, steps=4, eot=1)
    three = run_attack("pgd", net, x, y, 0.03, steps=4, eot=3)
    assert one.n_backward == 4 * N and three.n_backward == 3 * one.n_backward
    # forward: one image for the class count, `eot` passes per step and for the final iterate
    assert one.n_forward == 1 + 5 * N and three.n_forward == 1 + 15 * N


def test_fgsm_is_one_full_step(net, data):
    x, y = data
    a = run_attack("fgsm", net, x, y, 0.03)
    b = run_attack("pgd", net, x, y, 0.03, steps=1, step_size=0.03, random_start=False)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.success, b.success)
    assert torch.allclose(size_of(a.x_adv, x, "linf")[~a.success], torch.tensor(0.03), atol=1e-6) or a.success.all()


@pytest.mark.parametrize("name", ["pgd", "square", "nattack", "hsj"])
def test_same_seed_same_result(data, name):
    torch.manual_seed(0)
    noisy = TinyNet(noise=0.05).eval()
    x, y = data
    with torch.no_grad():
        y = noisy.fc(x.flatten(1)).argmax(1)
    r1 = run_attack(name, noisy, x, y, 0.03, seed=3, **FAST[name])
    r2 = run_attack(name, noisy, x, y, 0.03, seed=3, **FAST[name])
    assert torch.equal(r1.x_adv, r2.x_adv) and torch.equal(r1.success, r2.success)
    if name == "pgd":
        r3 = run_attack(name, noisy, x, y, 0.03, seed=4, **FAST[name])
        assert not torch.equal(r1.x_adv, r3.x_adv)


def test_seeded_run_leaves_the_global_rng_alone(net, data):
    x, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run_attack("pgd", net, x, y, 0.03, steps=2)
    assert torch.equal(torch.rand(3), expected)


def test_batches_cover_every_image(net, data):
    x, y = data
    res = run_attack("nattack", net, x, y, 0.03, batch_size=3, **FAST["nattack"])
    assert_valid(res, x, "linf", 0.03)
    with torch.no_grad():
        assert torch.equal(res.success, net(res.x_adv).argmax(1) != y)


def test_unknown_names_list_the_valid_ones(net, data):
    x, y = data
    with pytest.raises(InputError, match="valid attacks: .*autoattack_rand.*pgd"):
        run_attack("pgdd", net, x, y, 0.1)
    with pytest.raises(InputError, match="valid parameters: .*eot.*random_start.*step_size.*steps"):
        run_attack("pgd", net, x, y, 0.1, stpes=3)
    with pytest.raises(InputError, match="valid norms"):
        run_attack("pgd", net, x, y, 0.1, norm="l1")
    with pytest.raises(InputError, match="supports norm"):
        run_attack("cw", net, x, y, 0.1, norm="linf")


def test_bad_inputs_fail_clearly(net, data):
    x, y = data
    with pytest.raises(InputError, match=r"labels\b.*\[0, 9\]"):
        run_attack("pgd", net, x, torch.full((N,), CLASSES), 0.1)
    with pytest.raises(InputError, match=r"labels\b.*shape"):
        run_attack("pgd", net, x, y[:3], 0.1)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        run_attack("pgd", net, x * 255, y, 0.1)
    x_nan = x.clone()
    x_nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        run_attack("pgd", net, x_nan, y, 0.1)
    with pytest.raises(InputError, match="NCHW"):
        run_attack("pgd", net, x[0], y, 0.1)
    with pytest.raises(InputError, match="budget"):
        run_attack("pgd", net, x, y, -0.1)
    meta = TinyNet().to("meta").eval()
    with pytest.raises(InputError, match="model is on meta"):
        run_attack("pgd", meta, x, y, 0.1)


def test_a_linf_budget_in_8_bit_steps_is_refused_with_its_0_1_value(net, data):
    x, y = data
    for budget in (8, 8.0):  # meant as 8/255: past the [0, 1] box, it would run as budget 1
        with pytest.raises(InputError, match=r"budget 8 is past the Linf range.*for 8/255 pass 0\.0314"):
            run_attack("pgd", net, x, y, budget, norm="linf")
    with pytest.raises(InputError, match=r"look channels last.*x\.permute\(0, 3, 1, 2\)"):
        run_attack("pgd", net, x.permute(0, 2, 3, 1), y, 0.1)


def test_training_mode_model_is_switched_to_eval_with_a_warning(data):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), TinyNet())
    x, _ = data
    with torch.no_grad():
        y = model[1](x).argmax(1)
    assert model.training
    with pytest.warns(UserWarning, match="training mode .*Dropout"):
        res = run_attack("fgsm", model, x, y, 0.01)
    assert not model.training and not model[0].training
    with torch.no_grad():
        assert torch.equal(res.success, model(res.x_adv).argmax(1) != y)  # ran in eval mode: no dropout
    # a wrapper whose flag changes nothing (like Defended around an eval-mode classifier) is switched silently
    wrapper = nn.Sequential(TinyNet())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_attack("fgsm", wrapper, x, y, 0.01)
    assert not wrapper.training


def test_counting_model_counts_images_forward_and_backward(net, data):
    x, _ = data
    counted = CountingModel(net)
    with torch.no_grad():
        counted(x)
    xa = x.clone().requires_grad_(True)
    torch.autograd.grad(counted(xa[:3]).sum(), [xa])
    assert counted.n_forward == N + 3 and counted.n_backward == 3


def test_square_l2_per_image_radius_reproduces_the_library(net, data):
    from pyautoattack.square import SquareAttack

    from cnr.attacks.vendored.square_l2 import PerImageL2Square

    x, y = data
    outs = []
    for cls in (SquareAttack, PerImageL2Square):
        attack = cls(net, norm="L2", eps=0.3, n_queries=30, seed=0, device=x.device)
        attack.init_hyperparam(x)
        attack.eps_img = torch.full((N,), 0.3)
        torch.manual_seed(0)
        queries, x_best = attack.attack_single_run(x, y)
        outs.append(x_best)
    assert queries.max() > 10 and (queries < 31).any()  # the loop ran, and not every image was fooled at once
    assert torch.allclose(outs[0], outs[1], atol=1e-6)


def test_autoattack_l2_per_image_radius_reproduces_the_library(net, data):
    from pyautoattack import AutoAttack

    from cnr.attacks.vendored.apgd_rand import configure_rand, rand_schedule_per_image

    x, y = data
    runs = []
    for per_image in (False, True):
        aa = AutoAttack(net, norm="L2", eps=0.2, version="rand", seed=0)
        aa.verbose = False
        configure_rand(aa, 5, 2)
        if per_image:
            runs.append(rand_schedule_per_image(aa, x, y, torch.full((N,), 0.2), seed=0)[0])
        else:
            runs.append(aa.run_standard_evaluation(x, y, batch_size=N)[0])
    changed = (runs[0] != x).flatten(1).any(1)
    assert 0 < changed.sum() < N  # some images fooled, some not: both code paths of the schedule ran
    assert torch.allclose(runs[0], runs[1], atol=1e-6)


def test_pgd_through_the_jpeg_defense_with_bpda():
    torch.manual_seed(0)
    clf = TinyNet(size=28).eval()
    defended = Defended(CompressRestore(None, (20, 60), 1, mode="jpeg"), clf)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = clf(x).argmax(1)
    res = run_attack("pgd", defended, x, y, 0.1, norm="linf", steps=3, eot=2)
    assert_valid(res, x, "linf", 0.1)
    assert res.n_backward == 3 * 2 * 4  # BPDA gradients flowed through the codec
    assert (res.x_adv != x).any()
    assert res.success.float().mean() >= 0.5  # the JPEG defense alone does not stop a BPDA attack at 0.1



def _jpeg_defended(seed: int = 0) -> tuple[Defended, torch.Tensor, torch.Tensor]:
    """TinyNet behind JPEG at a random QF in [20, 60]: a random defense with a draw counter."""
    torch.manual_seed(0)
    clf = TinyNet(size=28).eval()
    model = Defended(CompressRestore(None, (20, 60), 2, mode="jpeg", seed=seed), clf)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = clf(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("name, params", [("pgd", dict(steps=3, eot=2)), ("square", dict(n_queries=20))])
def test_two_attacks_on_one_reused_model_equal_fresh_ones(name, params):
    reused, x, y = _jpeg_defended()
    reused.defense.calls = 5  # someone used the model before
    first = run_attack(name, reused, x, y, 0.1, seed=1, **params)
    assert reused.defense.calls == 5  # the counter is put back afterwards
    second = run_attack(name, reused, x, y, 0.1, seed=1, **params)
    fresh, _, _ = _jpeg_defended()
    alone = run_attack(name, fresh, x, y, 0.1, seed=1, **params)
    for res in (first, second):
        assert torch.equal(res.x_adv, alone.x_adv) and torch.equal(res.success, alone.success)
        assert (res.n_forward, res.n_backward) == (alone.n_forward, alone.n_backward)
    # the counter matters: the same attack from another draw sees other QFs and ends elsewhere
    other_seed = run_attack(name, _jpeg_defended(seed=9)[0], x, y, 0.1, seed=1, **params)
    assert not torch.equal(other_seed.x_adv, alone.x_adv)
    # and the draws inside a run still advance: the defense is not frozen at one draw during the attack
    calls = []
    hook = reused.defense.register_forward_pre_hook(lambda m, a: calls.append(m.calls))
    run_attack("pgd", reused, x, y, 0.1, seed=1, steps=2)
    hook.remove()
    assert calls == list(range(len(calls))) and len(calls) >= 4 and reused.defense.calls == 5


def _params(name: str, items: list[str]) -> dict:
    """What `cnr attack --param` does: name=value texts typed by the attack's defaults (batch_size included)."""
    return parse_params(items, attack_params(name))


def test_parse_params_types_values_by_their_defaults():
    assert _params("pgd", ["steps=5", "random_start=no", "step_size=0.5", "loss=margin", "batch_size=7"]) == dict(
        steps=5, random_start=False, step_size=0.5, loss="margin", batch_size=7)
    assert _params("pgd", ["random_start=ON", "step_size=null"]) == dict(random_start=True, step_size=None)
    cw = _params("cw", ["stepsize=1", "abort_early=0"])
    assert cw == dict(stepsize=1.0, abort_early=False) and type(cw["stepsize"]) is float
    assert _params("hsj", ["stepsize_search=grid_search"]) == dict(stepsize_search="grid_search")
    for name, spec in ATTACKS.items():  # every default parses back to itself from its own text
        for key, default in spec.defaults.items():
            text = "null" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
            assert _params(name, [f"{key}={text}"]) == {key: default}, (name, key)


@pytest.mark.parametrize("items, message", [  # the parameter and the text given
    (["steps=2.5"], r"'steps'.*'2\.5'"),
    (["random_start=maybe"], r"'random_start'.*'maybe'"),
    (["random_start=2"], r"'random_start'.*'2'"),  # bools are strict: no truthy integers
    (["stpes=3"], r"'stpes'.*batch_size, eot, loss, random_start, step_size, steps"),  # and the valid names
    (["steps"], r"--param\b.*'steps'"),
    (["steps=2", "steps=3"], r"steps\b.*twice"),
])
def test_parse_params_refuses_bad_values(items, message):
    with pytest.raises(InputError, match=message):
        _params("pgd", items)
    with pytest.raises(InputError, match=r"'stepsize'.*0\.01.*'big'"):  # with the default that says its type
        _params("cw", ["stepsize=big"])


def test_register_attack_makes_it_runnable(net, data, monkeypatch):
    def nudge(model, x, y, eps, norm, *, unit, unbounded, seed, batch_size, sign=1.0):
        x_adv = (x + sign * eps.view(-1, 1, 1, 1)).clamp(0, 1)
        with torch.no_grad():
            return x_adv, model(x_adv).argmax(1) != y, {"calls": 1}

    monkeypatch.setitem(ATTACKS, "nudge", ATTACKS["fgsm"])  # restored after the test
    register_attack("nudge", AttackDef(nudge, dict(sign=1.0), norms=("linf",), doc="add eps"))
    x, y = data
    res = run_attack("nudge", net, x, y, 0.02, batch_size=3, sign=-1.0)
    assert torch.allclose(res.x_adv, (x - 0.02).clamp(0, 1)) and res.params["sign"] == -1.0
    assert res.extra == {"calls": 3}  # numbers from the batches (3 + 3 + 2 images) are summed
    assert res.n_forward == 1 + N and res.n_backward == 0
    assert _params("nudge", ["sign=-2"]) == {"sign": -2.0}
    with pytest.raises(InputError, match="takes an AttackDef"):
        register_attack("bad", nudge)


@pytest.mark.parametrize("name, params, needle", [  # the parameter and the value given
    ("pgd", dict(steps=0), ("'steps'", "0")),
    ("pgd", dict(eot=2.5), ("'eot'", "2.5")),
    ("pgd", dict(step_size=-0.1), ("'step_size'", "-0.1")),
    ("pgd", dict(random_start="maybe"), ("'random_start'", "'maybe'")),
    ("pgd", dict(loss="hinge"), ("'loss'", "'hinge'")),
    ("deepfool", dict(candidates=1), ("'candidates'", "1")),
    ("nattack", dict(population=1), ("'population'", "1")),
    ("nattack", dict(search_size=True), ("'search_size'", "True")),
    ("nattack", dict(sigma=0.0), ("'sigma'", "0.0")),
    ("autoattack_rand", dict(n_iter=0), ("'n_iter'", "0")),
])
def test_attack_params_are_checked_once_before_the_attack_runs(net, data, name, params, needle):
    x, y = data
    norm = "l2" if name == "deepfool" else "linf"
    with pytest.raises(InputError) as e:
        run_attack(name, net, x, y, 0.1, norm=norm, **params)
    assert mentions(str(e.value), (f"attack {name!r}", *needle)), str(e.value)


# --- per-image queries of the black-box attacks --------------------------------------------------------------------

@pytest.mark.parametrize("name, norm, budget", [("square", "linf", 0.03), ("square", "l2", 0.05),
                                                ("nattack", "linf", 0.03), ("hsj", "l2", 0.05),
                                                ("hsj", "l2", float("inf"))])
def test_black_box_attacks_count_each_images_queries(net, data, name, norm, budget):
    x, y = data
    res = run_attack(name, net, x, y, budget, norm=norm, **FAST[name])
    q = res.extra["queries"]
    assert q.dtype == torch.int64 and q.shape == (N,) and (q >= 2).all()  # at least a first and a final check
    assert int(q.sum()) + 1 == res.n_forward  # every query but run_attack's one-image probe belongs to an image
    assert q.max() > q.min() or name == "hsj"  # fooled images stop early (HopSkipJump's full run: all alike)


@pytest.mark.parametrize("name, params", [("nattack", dict(iterations=15, population=20)),
                                          ("hsj", FAST["hsj"])])
def test_a_query_budget_caps_every_image_and_one_that_never_binds_changes_nothing(net, data, name, params):
    x, y = data
    budget = 0.03 if name == "nattack" else float("inf")  # unbounded HopSkipJump never stops early on success
    norm = "linf" if name == "nattack" else "l2"
    full = run_attack(name, net, x, y, budget, norm=norm, **params)
    loose = run_attack(name, net, x, y, budget, norm=norm, max_queries=10**6, **params)
    assert torch.equal(full.x_adv, loose.x_adv) and torch.equal(full.extra["queries"], loose.extra["queries"])
    cap = int(full.extra["queries"].max()) // 2
    capped = run_attack(name, net, x, y, budget, norm=norm, max_queries=cap, **params)
    assert capped.extra["queries"].max() <= cap and int(capped.extra["queries"].sum()) + 1 == capped.n_forward
    assert_valid(capped, x, norm, budget)


def test_hsj_with_a_query_budget_stops_an_image_at_its_first_adversarial_query_inside_the_budget(net, data):
    x, y = data
    full = run_attack("hsj", net, x, y, 0.05, norm="l2", **FAST["hsj"])
    early = run_attack("hsj", net, x, y, 0.05, norm="l2", max_queries=10**6, **FAST["hsj"])
    assert_valid(early, x, "l2", 0.05)
    assert torch.equal(early.success, full.success) and early.success.any()  # a deterministic model: same images
    fooled = early.success
    assert (early.extra["queries"][fooled] < full.extra["queries"][fooled]).all()
    assert torch.equal(early.extra["queries"][~fooled], full.extra["queries"][~fooled])


@pytest.fixture(scope="module")
def models():
    return shipped_fmnist_models()


X = torch.rand(2, 1, 28, 28)
Y = torch.zeros(2, dtype=torch.int64)


def test_attack_batch_size_zero(models):
    from cnr import run_attack

    with pytest.raises(InputError, match=r"'batch_size'.*\b0\b"):
        run_attack("pgd", models[1], X, Y, 0.1, steps=1, batch_size=0)


@pytest.mark.usefixtures("scratch_results")
@pytest.mark.parametrize("attack, norm, param, needle", [  # the parameter and the value given
    ("square", "linf", "loss=nope", ("'loss'", "'nope'")),
    ("square", "linf", "p_init=1.5", ("'p_init'", "1.5")),
    ("square", "linf", "p_init=0", ("'p_init'", "0")),
    ("square", "linf", "n_queries=0", ("'n_queries'", "0")),
    ("deepfool", "l2", "loss=probs", ("'loss'", "'probs'")),
    ("deepfool", "l2", "overshoot=-0.1", ("'overshoot'", "-0.1")),
    ("cw", "l2", "binary_steps=0", ("'binary_steps'", "0")),
    ("cw", "l2", "stepsize=0", ("'stepsize'", "0")),
    ("cw", "l2", "initial_const=-1", ("'initial_const'", "-1")),
    ("hsj", "l2", "stepsize_search=bisect", ("'stepsize_search'", "'bisect'")),
    ("hsj", "l2", "steps=0", ("'steps'", "0")),
    ("nattack", "linf", "sigma=inf", ("'sigma'", "inf")),
])
def test_attack_parameter_ranges(capsys, attack, norm, param, needle):
    code, text = run_cli(capsys, "attack", "--attack", attack, "--norm", norm, "--param", param, "--n-images", "2")
    assert code == 2 and mentions(text, needle) and "Traceback" not in text, text


def test_attack_ranges_hold_for_the_python_api_and_the_registry():
    import torch

    from cnr.attacks import ATTACKS, AttackDef, register_attack, run_attack
    from cnr.errors import InputError
    from cnr.parsing import count_limit

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    x, y = torch.rand(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(InputError, match=r"'p_init'.*2\.0"):
        run_attack("square", model, x, y, 0.1, p_init=2.0)
    with pytest.raises(InputError, match=r"'steps'.*\b0\b"):
        register_attack("bad", AttackDef(ATTACKS["pgd"].fn, dict(steps=0), limits=dict(steps=count_limit())))
    with pytest.raises(InputError, match="no default"):
        register_attack("bad", AttackDef(ATTACKS["pgd"].fn, {}, limits=dict(steps=count_limit())))
    assert "bad" not in ATTACKS


class _NaNLogits(nn.Module):
    """A model whose logits are all NaN."""

    def forward(self, x):
        return x[:, :10] * float("nan")





def test_run_attack_refuses_bad_arguments_and_nan_logits(net, data):
    x, y = data[0][:2], data[1][:2]
    with pytest.raises(InputError, match=r"seed\b.*'a'"):
        run_attack("pgd", net, x, y, 0.1, seed="a")
    for budget in ("0.1", True):
        with pytest.raises(InputError, match=rf"budget\b.*{budget!r}"):
            run_attack("pgd", net, x, y, budget)
    with pytest.raises(InputError, match=r"'random_start'.*'maybe'"):
        run_attack("pgd", net, x, y, 0.1, random_start="maybe", steps=1)
    with pytest.raises(InputError, match="NaN or Inf logits"):
        run_attack("pgd", torch.nn.Sequential(torch.nn.Flatten(), _NaNLogits()), x, y, 0.1, steps=1)


def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
    return model, torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize("budget", [5.0, 1.5])
def test_linf_budget_past_one_refused(budget):
    """A Linf budget of 5 would run as 1 (the [0, 1] box) and be recorded as 5; 1 and inf are fine."""
    model, x, y = _tiny()
    with pytest.raises(InputError, match=rf"budget {budget:g}.*Linf"):
        run_attack("fgsm", model, x, y, budget)
    assert run_attack("fgsm", model, x, y, 1.0).budget == 1.0
    assert run_attack("fgsm", model, x, y, budget, norm="l2").budget == budget  # normalized L2: no such cap


class _NanPast0(nn.Module):
    """Finite logits on image 0, NaN on the others (the probe sees only image 0)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3 * 8 * 8, 10)

    def forward(self, x):
        out = self.lin(x.flatten(1))
        return torch.cat([out[:1], out[1:] * float("nan")])


def test_nan_logits_past_the_first_image_refused():
    """argmax of NaN logits would score the image as fooled: NaN on any image is the kit's error."""
    _, x, y = _tiny()
    with pytest.raises(InputError, match=r"NaN.*\[1, 2, 3\]"):
        run_attack("pgd", _NanPast0(), x, y, 0.1, steps=2)


def test_hsj_contradicting_params_refused():
    """HopSkipJump's maximum gradient-estimate count below its initial one (the CLI: tests/test_cli.py)."""
    with pytest.raises(InputError, match=r"max_gradient_eval_steps=10.*initial_gradient_eval_steps=100"):
        attack_params("hsj", initial_gradient_eval_steps=100, max_gradient_eval_steps=10)
    assert attack_params("hsj", initial_gradient_eval_steps=10, max_gradient_eval_steps=10)["steps"] == 10


@pytest.mark.parametrize("attack", [AttackDef(5, {}), AttackDef(lambda *a, **k: None, {}, rules=("x",))])
def test_register_attack_refuses_a_non_callable(attack):
    with pytest.raises(InputError, match="'toy-attack'.*callable"):
        register_attack("toy-attack", attack)
    assert "toy-attack" not in ATTACKS


def test_nattack_in_pixel_space_reaches_the_black_background_that_tanh_space_cannot():
    """A classifier that reads only the black half of the image: the authors' tanh space cannot move a pixel at 0."""
    x = torch.rand(4, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2
    x[:, :, : SIZE // 2] = 0.0
    net = TinyNet().eval()
    with torch.no_grad():
        net.fc.weight.zero_()
        net.fc.weight[1].view(SIZE, SIZE)[: SIZE // 2] = 100.0  # class 1 grows with the background's brightness
        net.fc.bias.copy_(torch.eye(CLASSES)[0])  # class 0 wins while the background stays black
    y = torch.zeros(4, dtype=torch.long)
    tanh = run_attack("nattack", net, x, y, 0.03, **FAST["nattack"])
    pixel = run_attack("nattack", net, x, y, 0.03, space="pixel", **FAST["nattack"])
    assert not tanh.success.any() and pixel.success.all()
    assert_valid(pixel, x, "linf", 0.03)
