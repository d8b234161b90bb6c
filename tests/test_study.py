"""The dynamic-vs-static study's pieces: one run per bank, the side-by-side table, the paired verdict in words."""
from __future__ import annotations

import pandas as pd
import pytest
from helpers import paired_rows

from cnr import study
from cnr.errors import DataNotFoundError, InputError


def test_study_runs_differ_only_in_the_bank(tmp_path):
    runs = study.study_runs("study", results_root=tmp_path)
    assert list(runs) == ["paper", "quick"]
    assert runs["paper"].name == "study" and runs["quick"].name == "study+bank.preset=quick"
    assert runs["quick"].profile.bank.preset == "quick" and runs["paper"].profile.bank.preset == "paper"
    assert {r.profile.samples.eval for r in runs.values()} == {500}
    # the bank's preset given by path or by its older name: the same runs, differing only in the bank
    for name in ("bank.preset", "argan_preset"):
        given = study.study_runs("smoke", {name: "paper", "samples.eval": 8}, results_root=tmp_path)
        assert {b: r.name for b, r in given.items()} == {"paper": "smoke+bank.preset=paper,samples.eval=8",
                                                         "quick": "smoke+bank.preset=quick,samples.eval=8"}
    assert list(study.study_runs("smoke", results_root=tmp_path)) == ["quick"]  # its own bank is the quick one
    for bad in ("paper", []):
        with pytest.raises(InputError, match="banks must be a non-empty list"):
            study.study_runs("study", banks=bad)
    with pytest.raises(InputError, match=r"bank\.preset.*'huge'"):
        study.study_runs("study", banks=["huge"])
    with pytest.raises(InputError, match="compares Fashion-MNIST generator banks.*'imagenet-cpu'"):
        study.study_runs("imagenet")


def test_paired_by_bank_refuses_a_bank_without_its_table(tmp_path):
    """A verdict on fewer banks than asked for would read as the study's: the missing bank is named."""
    runs = study.study_runs("smoke", banks=["quick", "paper"], results_root=tmp_path)
    runs["quick"].tables_dir.mkdir(parents=True)
    paired_rows([("ensemble", -0.1, -0.15, -0.05)]).drop(columns="bank").to_csv(runs["quick"].tables_dir / "paired.csv",
                                                                            index=False)
    with pytest.raises(InputError, match=r"no paired table for the paper \(.*paired.csv\) bank"):
        study.paired_by_bank(runs)
    assert set(study.paired_by_bank({"quick": runs["quick"]})["bank"]) == {"quick"}


@pytest.mark.parametrize("diffs, claim", [
    ([("ensemble", -0.1, -0.15, -0.05)], "does not hold: the static generator keeps more"),
    ([("ensemble", 0.1, 0.05, 0.15)], "holds: the dynamic bank keeps more"),
    ([("ensemble", 0.1, 0.05, 0.15), ("ensemble", -0.1, -0.15, -0.05)], "is mixed"),
    ([("ensemble", 0.0, -0.05, 0.05), ("bpda-pgd", 0.2, 0.1, 0.3)], "is not shown"),
])
def test_verdict_says_which_way_the_ensemble_goes(diffs, claim):
    text = study.verdict(paired_rows(diffs))
    assert text.startswith("paper bank, dynamic minus static") and claim in text
    assert "dynamic-N3 vs static-N3, every attack at L-inf 0.1: " in text and "McNemar" in text


def test_verdict_decides_by_mcnemar_holm_adjusted_over_the_budgets():
    """Four images kept only by dynamic and none only by static: the bootstrap interval excludes 0 but McNemar's p is
    0.125, so it is chance; two budgets at p = 0.03 each are not both significant once Holm-adjusted (0.06)."""
    assert study.holm([0.03, 0.03]) == [0.06, 0.06]
    assert study.holm([0.001, 0.04, 0.02]) == pytest.approx([0.003, 0.04, 0.04])
    few = study.verdict(paired_rows([("ensemble", 0.02, 0.005, 0.04, 0.125)]))
    assert "is not shown" in few and "McNemar p = 0.125, Holm p = 0.125" in few
    two = study.verdict(paired_rows([("ensemble", 0.1, 0.05, 0.15, 0.03), ("ensemble", 0.1, 0.05, 0.15, 0.03)]))
    assert "is not shown" in two and two.count("Holm p = 0.060") == 2
    cells = study.verdict(paired_rows([("ensemble", -0.1, -0.15, -0.05), ("bpda-pgd", 0.02, 0.005, 0.04, 0.125),
                                   ("eot-bpda-pgd", -0.2, -0.3, -0.1)]))
    assert "above static in 0 of 2 cells, below in 1, within chance in 1" in cells
    inconclusive_only = paired_rows([("ensemble", -0.1, -0.15, -0.05)]).assign(inconclusive=True)
    assert "cannot be judged here" in study.verdict(inconclusive_only)


def test_verdict_names_the_attacks_only_the_dynamic_side_faced():
    t = paired_rows([("ensemble", -0.1, -0.15, -0.05)]).assign(
        attacks_a="clean;bpda-pgd", attacks_b="clean;bpda-pgd;expected-bpda-pgd;transfer-static-pgd")
    assert "; dynamic also under expected-bpda-pgd, transfer-static-pgd)" in study.verdict(t)
    assert "also under" not in study.verdict(t.assign(attacks_b="clean;bpda-pgd"))


def test_verdict_skips_inconclusive_and_clean_rows_and_needs_columns():
    t = paired_rows([("ensemble", -0.1, -0.15, -0.05), ("clean", 0.5, 0.4, 0.6), ("square", 0.5, 0.4, 0.6)])
    t.loc[2, "inconclusive"] = True
    text = study.verdict(pd.concat([t, t.assign(bank="quick")]))
    assert "in 0 of 0 cells" in text and text.count("does not hold") == 2 and "quick bank" in text
    with pytest.raises(InputError, match="verdict needs a paired table"):
        study.verdict(pd.DataFrame({"bank": ["x"]}))


def test_side_by_side_joins_each_banks_summary_table():
    def table(acc: float) -> pd.DataFrame:
        return pd.DataFrame([dict(attack="bpda-pgd", norm="linf", budget=0.1, n=500, defense=d, kind="adaptive",
                                  ablation=False, mode=d.split("-")[0], accuracy=acc + 0.1, worst_accuracy=acc,
                                  inconclusive=d == "jpeg") for d in ("static-N3", "jpeg")])
    ens = pd.DataFrame([dict(defense="static-N3", norm="linf", budget=0.1, robust_accuracy=0.35, robust_lo=0.3,
                             robust_hi=0.4)])
    wide = study.side_by_side({"quick": table(0.2), "paper": table(0.4)}, {"paper": ens})
    assert list(wide.columns[:3]) == ["attack", "norm", "budget"]
    assert [c.split()[0] for c in wide.columns[3:]] == ["quick", "quick", "paper", "paper"]
    row = wide.set_index("attack").loc["bpda-pgd"]
    assert row["paper static-N3"] == "0.500 / 0.400" and row["quick jpeg"] == "0.300 / 0.200 (inconclusive)"
    quote = wide.set_index("attack").loc["ensemble (quote this)"]
    assert quote["paper static-N3"] == "0.350 [0.300, 0.400]" and pd.isna(quote["quick static-N3"])
    with pytest.raises(InputError, match="no results rows"):
        study.side_by_side({"quick": pd.DataFrame()})


def test_mechanism_summary_and_its_sentence():
    cos = pd.DataFrame([dict(defense=d, metric=m, value=v, lo=v - 0.1, hi=v + 0.1)
                        for d, v in (("static-N3", 0.9), ("dynamic-N3", 0.4)) for m in ("cross-draw", "same-draw")]
                       + [dict(defense="dynamic-N3 - static-N3", metric="cross-draw-diff", value=-0.5, lo=-0.6,
                               hi=-0.4)])
    eot = pd.DataFrame([dict(defense="dynamic-N3", metric="alignment", k=k, value=0.5 + k / 100, lo=0.4, hi=0.7)
                        for k in (1, 4)])
    nums = study.mechanism_summary({"paper": {"gradient_cosine": cos, "eot_alignment": eot}})
    assert [r["defense"] for r in nums["paper"]["cross_draw_cosine"]] == ["static-N3", "dynamic-N3"]
    assert nums["paper"]["eot_alignment_k1"] == [dict(defense="dynamic-N3", value=0.51, lo=0.4, hi=0.7)]
    text = study.describe_mechanism(nums)
    assert nums["paper"]["cross_draw_dynamic_minus_static"] == [
        dict(defense="dynamic-N3 - static-N3", value=-0.5, lo=-0.6, hi=-0.4)]
    text = study.describe_mechanism(nums)
    assert text.startswith("paper bank, cosine") and "  dynamic-N3             0.400 [0.300, 0.500]" in text
    assert "paired on the same images" in text and "dynamic-N3 - static-N3 -0.500 [-0.600, -0.400]" in text
    assert "one draw's gradient against the mean of many" in text and "0.510 [0.400, 0.700]" in text


def test_bank_restoration_rows_per_bank_and_qf():
    runs = study.study_runs("smoke", {"restoration_n": 64}, banks=["quick"])
    df = study.bank_restoration(runs)
    assert list(df.columns[:3]) == ["bank", "dataset", "generator"] and set(df["bank"]) == {"quick"}
    assert len(df) == 12 and set(df["generator"]) == {"per-qf", "static"} and (df["n"] == 64).all()
    qf10 = df[(df["generator"] == "per-qf") & (df["qf"] == 10)].iloc[0]
    # the shipped quick bank restores QF 10 by about 2.6 dB on these 64 test images (paired interval +- 0.36)
    assert qf10["psnr_gain"] == pytest.approx(2.568, abs=0.05) and qf10["psnr_gain_ci"] < 0.5
    assert qf10["acc_restored"] >= qf10["acc_jpeg"]
    from cnr.reporting.figures import MissingRows, bank_restoration_figure

    fig = bank_restoration_figure(pd.concat([df, df.assign(bank="paper", psnr_gain=df["psnr_gain"] + 1)]))
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["quick per-qf", "quick static", "paper per-qf", "paper static", "JPEG alone"]
    with pytest.raises(MissingRows):
        bank_restoration_figure(df.drop(columns="bank"))


def test_study_grid_has_every_decisive_cell_for_every_defense():
    from cnr.cells.groups import build_grid
    from cnr.run import resolve_run

    keys = {(k["attack"], k["defense"], k["norm"], k["budget"])
            for k in (c.key("fmnist", "fmnist-cnn", 0) for c in build_grid(resolve_run("study").profile))}
    defenses = ("none", "jpeg", "static-N3", "dynamic-N3", "dynamic-N3-qf40")
    budgets = (("linf", 0.05), ("linf", 0.1), ("l2", 0.2))
    for attack in ("bpda-pgd", "eot-bpda-pgd", "generalized-bpda-pgd", "autoattack-rand"):
        missing = [(d, n, b) for d in defenses for n, b in budgets if (attack, d, n, b) not in keys]
        assert not missing, (attack, missing)
    assert {d for a, d, _, _ in keys if a == "clean"} == set(defenses)
    # the sweep only adds cells: with more Ns the N = 1 ablation cells of the groups stay
    from dataclasses import replace

    wide = resolve_run("study", {"grid.ns": (1, 3)}).profile
    on, off = ({tuple(sorted(c.key("d", "c", 0).items())) for c in build_grid(q)}
               for q in (wide, replace(wide, grid=replace(wide.grid, decisive_sweep=False))))
    assert off < on and any(dict(k)["defense"] == "static-N1" for k in on)
    # without the study's decisive_sweep a group keeps its own cells (generalized BPDA: the reference budgets)
    quick = {(k["attack"], k["budget"]) for k in (c.key("fmnist", "fmnist-cnn", 0)
                                                  for c in build_grid(resolve_run("quick").profile))}
    assert ("generalized-bpda-pgd", 0.1) in quick and ("generalized-bpda-pgd", 0.05) not in quick


def test_the_committed_study_has_every_cell_for_both_banks_and_their_paired_rows():
    """What the README quotes is there: each bank's committed table has every cell of the study's grid on its n, and
    its paired table a dynamic-minus-static row per attack and budget (the ensemble's included)."""
    from cnr.cells.groups import build_grid
    from cnr.eval.rows import read_plain_table, read_table

    runs = study.study_runs("study")
    want = {(k["defense"], k["attack"], k["norm"], round(float(k["budget"]), 4))
            for k in (c.key("fmnist", "fmnist-cnn", 0) for c in build_grid(runs["paper"].profile))}
    assert len(want) == 81
    for bank, run in runs.items():
        df = read_table(run.robustness_csv)
        have = {(d, a, n, round(float(b), 4)) for d, a, n, b in zip(df.defense, df.attack, df.norm, df.budget)}
        assert want <= have, (bank, sorted(want - have)[:5])
        assert set(df.n) == {200, 500}, bank
        paired = read_plain_table(run.tables_dir / "paired.csv")
        dyn = paired[(paired.defense_a == "static-N3") & (paired.defense_b == "dynamic-N3")
                     & (paired.attack != "clean")]
        rows = {(a, n, round(float(b), 4)) for a, n, b in zip(dyn.attack, dyn.norm, dyn.budget)}
        both = {(a, n, b) for d, a, n, b in want if d == "static-N3" and a != "clean"
                and ("dynamic-N3", a, n, b) in want}
        budgets = {(n, b) for _, n, b in both}
        assert budgets == {("linf", 0.05), ("linf", 0.1), ("l2", 0.2)} and len(both) == 16
        assert rows == both | {("ensemble", n, b) for n, b in budgets}, bank
        ensemble = dyn[dyn.attack == "ensemble"]
        assert len(ensemble) == 3 and (ensemble.n == 200).all() and ensemble.diff_lo.le(ensemble.diff_hi).all(), bank
    # the numbers the README quotes: the paper bank's ensemble, dynamic minus static, per budget
    paper = read_plain_table(runs["paper"].tables_dir / "paired.csv")
    ens = paper[(paper.attack == "ensemble") & (paper.defense_b == "dynamic-N3")].set_index(["norm", "budget"])
    assert ens["diff"].to_dict() == pytest.approx({("l2", 0.2): -0.12, ("linf", 0.05): -0.2, ("linf", 0.1): -0.13})
    verdict = study.verdict(study.paired_by_bank(runs))
    assert verdict.count("switching generators matters does not hold") == 2, verdict


def test_bank_vs_bank_pairs_each_defense_across_the_banks_on_the_same_images(tmp_path):
    """The committed grids: each defense under the paper bank minus under the quick one, per cell and per budget's
    ensemble, read from each bank's own outcomes (the sides differ, so a lookup in one folder would fail)."""
    runs = study.study_runs("study")
    t = study.bank_vs_bank(runs)
    ens = t[t["attack"] == "ensemble"]
    assert set(zip(ens.defense_a, ens.defense_b)) == {("static-N3 (quick bank)", "static-N3 (paper bank)"),
                                                      ("dynamic-N3 (quick bank)", "dynamic-N3 (paper bank)")}
    assert len(ens) == 6 and (ens["n"] == 200).all()
    paired = study.paired_by_bank(runs).set_index(["bank", "defense_a", "defense_b", "attack", "norm", "budget"])
    for _, r in ens.iterrows():  # each side's accuracy is the one its own bank's paired table has for it
        d = r["defense_a"].split(" (")[0]
        side = "acc_a" if d == "static-N3" else "acc_b"
        for bank, acc in (("quick", r["acc_a"]), ("paper", r["acc_b"])):
            assert acc == pytest.approx(paired.loc[(bank, "static-N3", "dynamic-N3", "ensemble", r["norm"],
                                                    r["budget"]), side])
    with pytest.raises(InputError, match="compares two banks, one of them 'quick'"):
        study.bank_vs_bank({"paper": runs["paper"]})
    with pytest.raises(InputError, match="no static-N9 rows in the quick bank's table"):
        study.bank_vs_bank(runs, defenses=("static-N9",))
    empty = study.study_runs("study", results_root=tmp_path)
    with pytest.raises(DataNotFoundError, match="make study"):
        study.bank_vs_bank(empty)
