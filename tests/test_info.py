"""cnr.info: every data set, package, weight file and cache the profiles read, found or missing, each missing one
with the command that installs it, within 100 columns."""
from __future__ import annotations

from cnr.info import data_items, environment_report, weight_items
from cnr.paths import WEIGHTS_DIR
from cnr.run import resolve_run


def test_the_report_names_every_item_and_fits_100_columns(monkeypatch, tmp_path):
    monkeypatch.setenv("CNR_CACHE", str(tmp_path / "cache"))  # an empty cache: the EfficientNet copy is absent
    text = environment_report()
    assert max(map(len, text.splitlines())) <= 100
    flat = " ".join(text.split())
    for needle in ("Fashion-MNIST:", "photo corpus (cnr.photo_corpus):", "Foolbox's labelled samples:",
                   "ImageNet protocol images (imagenet-cpu):", "ImageNet-val:", "EfficientNet-Lite0 package:",
                   "papermill", "jupyterlab", "cifar-10-model", f"cache: {tmp_path / 'cache'} ($CNR_CACHE"):
        assert needle in flat, needle
    for folder in (p for p in WEIGHTS_DIR.iterdir() if p.is_dir()):
        assert f"shipped {folder.name}/:" in flat
    cache = next(i for i in weight_items() if i.name == "EfficientNet-Lite0 cache")
    assert not cache.found and "cnr accuracy --classifier efficientnet-lite0" in cache.install
    assert "absent EfficientNet-Lite0 cache" in " ".join(" ".join(cache.lines()).split())


def test_a_missing_item_says_how_to_install_it():
    corpus = next(i for i in data_items() if i.name.startswith("photo corpus"))
    assert corpus.install.startswith("sudo apt-get install --no-install-recommends mate-backgrounds")
    missing = type(corpus)(corpus.name, False, corpus.where, corpus.used_by, corpus.install)
    text = " ".join(" ".join(missing.lines()).split())
    assert text.startswith("MISSING photo corpus") and "install: sudo apt-get install" in text


def test_a_runs_report_names_what_it_lacks_and_the_command_that_makes_it(tmp_path):
    paper = resolve_run("paper", device="cpu", results_root=tmp_path)
    text = " ".join(environment_report(paper).split())
    assert "run paper (profile paper):" in text
    assert "MISSING bank natural: 0 generators in cnr/shipped/argan-natural-paper" in text
    assert "cnr train-argan --dataset natural --qf all --profile paper" in text
    assert "absent results table" in text and "install: cnr grid --profile paper" in text
