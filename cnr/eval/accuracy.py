"""Clean accuracy of a classifier on a data set (`cnr accuracy`): the pairing and the sample size checked first."""
from __future__ import annotations

import time

import torch

from cnr.run import Run


def clean_accuracy(run: Run, classifier: str | None = None, dataset: str | None = None, limit: int | None = None,
                   batch_size: int = 500) -> str:
    """One line: the classifier's accuracy on the data set's first `limit` images, with n, a 95% interval and time
    (classifier and data set default to the run's)."""
    from cnr.checks import check_images, resolve_device
    from cnr.classifiers import load_classifier, predict
    from cnr.data import check_sample_size, load_dataset
    from cnr.preflight import check_pairing
    from cnr.stats import format_accuracy

    classifier, dataset = classifier or run.profile.data.classifier, dataset or run.profile.data.dataset
    torch.manual_seed(run.seed)
    check_pairing(classifier, dataset, f"--classifier {classifier} and --dataset {dataset}")
    if limit is not None:
        check_sample_size(dataset, limit, "--limit")
    device = resolve_device(run.device)
    model = load_classifier(classifier, device=device, weights=run.classifier_weights(classifier))
    info = model.cnr_input
    x, y = load_dataset(dataset, limit=limit, interpolation=info.interpolation, classifier=model, device=device,
                        seed=run.seed)
    check_images(x, channels=info.channels, size=info.size, name=f"{dataset} images for {classifier}")
    t0 = time.perf_counter()
    correct = int((predict(model, x, batch_size=batch_size) == y).sum())
    return (f"classifier {classifier} on {dataset}: accuracy {format_accuracy(correct, len(y))} n={len(y)} "
            f"[{time.perf_counter() - t0:.1f} s]")
