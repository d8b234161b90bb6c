"""The names a profile uses, checked against the registries once at the run's boundary (configuration never
imports a registry): data set, classifier, generator presets, cell groups, notebooks, and each attack's settings."""
from __future__ import annotations

from cnr.argan.generator import PRESETS
from cnr.attacks import ATTACKS, attack_params
from cnr.cells.groups import GROUPS, grid_groups
from cnr.classifiers import CLASSIFIERS
from cnr.config import Profile
from cnr.data import DATASETS, check_sample_size
from cnr.errors import InputError, unknown_name
from cnr.paths import NOTEBOOK_DIR


def preflight(p: Profile) -> Profile:
    """Refuse a profile that names what no registry has, or pairs things that cannot work together."""
    _check_data(p)
    for what, preset in (("bank.preset", p.bank.preset), ("bank.preset_natural", p.bank.preset_natural)):
        if preset not in PRESETS:
            raise InputError(f"profile setting {what}: {unknown_name('generator preset', preset, PRESETS)}")
    grid_groups(p)  # unknown cell groups are refused there
    known = sorted(b.name[:2] for b in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    stray = [nb for nb in p.notebooks if nb not in known]
    if stray and known:
        raise InputError(f"profile setting notebooks names {stray[0]!r}, which is not one of the notebooks "
                         f"{', '.join(known)}")
    _check_attacks(p)
    return p


def _check_data(p: Profile) -> None:
    """Known data set and classifier, a classifier that reads the data set's images and labels, samples it holds."""
    dataset, classifier = p.data.dataset, p.data.classifier
    if dataset not in DATASETS:
        raise InputError(f"profile setting data.dataset: {unknown_name('dataset', dataset, DATASETS)}")
    if classifier not in CLASSIFIERS:
        raise InputError(f"profile setting data.classifier: {unknown_name('classifier', classifier, CLASSIFIERS)}")
    check_pairing(classifier, dataset, f"profile settings data.classifier={classifier!r} and data.dataset={dataset!r}")
    for what, n in (("samples.eval", p.samples.eval), ("samples.costly", p.samples.costly),
                    ("samples.blackbox", p.samples.blackbox)):
        if n is not None:
            check_sample_size(dataset, n, f"profile setting {what}")
    check_sample_size("fmnist", p.samples.restoration,
                      "profile setting samples.restoration (Fashion-MNIST test images)")


def check_pairing(classifier: str, dataset: str, what: str) -> None:
    """A registered classifier that reads the dataset's images and predicts its labels (else its accuracy there
    would print as a measurement, chance or zero, while it measures nothing); `what` names the two settings."""
    if dataset not in DATASETS:
        raise unknown_name("dataset", dataset, DATASETS)
    if classifier not in CLASSIFIERS:
        raise unknown_name("classifier", classifier, CLASSIFIERS)
    data, clf = DATASETS[dataset], CLASSIFIERS[classifier]
    misfit = None
    if clf.channels != data.channels:
        misfit = f"the classifier expects {clf.channels}-channel images, the dataset has {data.channels}-channel ones"
    elif clf.size is not None and clf.size != data.image_size:
        misfit = f"the classifier expects {clf.size} px images, the dataset has {data.image_size} px ones"
    elif clf.dataset != data.labels:
        misfit = (f"the classifier predicts {clf.dataset} labels ({clf.num_classes} classes), the dataset has "
                  f"{data.labels} labels ({data.num_classes} classes)")
    if misfit:
        raise InputError(f"{what} do not fit: {misfit}")


def _check_attacks(p: Profile) -> None:
    """Every `attacks` entry names an attack or a group, with parameters that attack takes, in their ranges."""
    for key in p.attacks:
        if key not in ATTACKS and key not in GROUPS:
            raise InputError(f"profile setting attacks.{key}: "
                             f"{unknown_name('attack or cell group', key, [*ATTACKS, *GROUPS])}")
    for key in p.attacks:
        if key in ATTACKS:
            attack_params(key, **p.attacks[key])
    # the groups the grid runs, and any the profile sets: an opt-in group's inherited settings are checked where used
    for group in dict.fromkeys([*grid_groups(p), *(GROUPS[k] for k in p.attacks if k in GROUPS)]):
        params = dict(group.params(p))
        if group.attack in ATTACKS:
            attack_params(group.attack, **params)
        elif params:  # no attack reads them (the clean cells): a setting that would change nothing
            raise InputError(f"cell group {group.label!r} runs no attack, so it takes no parameters; got "
                             f"attacks.{group.label} = {params!r}")
    for group in grid_groups(p):
        missing = [n for n in group.needs if n not in dict(group.params(p))]
        if missing:
            raise InputError(f"cell group {group.label!r} needs attacks.{group.label}.{missing[0]} in profile "
                             f"{p.name!r} (e.g. --set attacks.{group.label}.{missing[0]}=4)")
