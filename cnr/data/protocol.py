"""The paper's image-selection protocol: per class, the first images (dataset order) the classifier gets right."""
from __future__ import annotations

import warnings

import torch

from cnr.errors import InputError


def select_protocol_images(
    dataset: torch.utils.data.Dataset,
    classifier: torch.nn.Module,
    n_classes: int = 1000,
    per_class: int = 1,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
) -> list[int]:
    """The paper's protocol: per class, the first `per_class` images (dataset order) the classifier gets right.

    Only images of classes still short of their quota are classified; the walk stops once every class is
    full. Returns sorted indices and warns when some classes could not be filled.
    """
    import warnings

    if per_class < 1 or n_classes < 1 or batch_size < 1:
        raise InputError("n_classes, per_class and batch_size must be positive")
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        targets = [int(t) for t in targets]
        bad = [t for t in targets if not 0 <= t < n_classes]
        if bad:
            raise InputError(f"dataset label {bad[0]} is outside [0, {n_classes - 1}] (n_classes={n_classes})")
    counts = [0] * n_classes
    chosen: list[int] = []
    unfilled = n_classes
    was_training = classifier.training
    classifier.eval().to(device)
    pos, n = 0, len(dataset)
    try:
        while pos < n and unfilled:
            batch: list[int] = []
            while pos < n and len(batch) < batch_size:  # skip classes already full without loading them
                if targets is None or counts[targets[pos]] < per_class:
                    batch.append(pos)
                pos += 1
            if not batch:
                break
            loader = torch.utils.data.DataLoader(
                torch.utils.data.Subset(dataset, batch), batch_size=len(batch), num_workers=num_workers
            )
            x, y = next(iter(loader))
            y = torch.as_tensor(y, dtype=torch.int64)
            with torch.no_grad():
                pred = classifier(x.to(device)).argmax(1).cpu()
            for i, label, p in zip(batch, y.tolist(), pred.tolist()):
                if not 0 <= label < n_classes:
                    raise InputError(f"dataset label {label} at index {i} is outside [0, {n_classes - 1}]")
                if p == label and counts[label] < per_class:
                    counts[label] += 1
                    chosen.append(i)
                    unfilled -= counts[label] == per_class
    finally:
        classifier.train(was_training)
    if unfilled:
        warnings.warn(
            f"ImageNet protocol: {unfilled} of {n_classes} classes have fewer than {per_class} correctly "
            f"classified image(s); selected {len(chosen)} of the {n_classes * per_class} wanted",
            stacklevel=2,
        )
    return sorted(chosen)


def protocol_images(clf: torch.nn.Module, n: int, device: str | torch.device, interpolation: str = "bilinear"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's images from ImageNet-val: one per class (more when n > 1000), each classified correctly."""
    from cnr.data.imagenet import open_imagenet_val, stack_items

    ds = open_imagenet_val(interpolation)
    idx = select_protocol_images(ds, clf, n_classes=1000, per_class=max(1, n // 1000), device=device)[:n]
    return stack_items(ds, idx)


def load_imagenet_protocol(limit: int | None, interpolation: str, *, classifier: torch.nn.Module,
                           device: str | torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `imagenet` dataset's loader (cnr.data): the paper's protocol, its 1,000 images unless `limit` says."""
    return protocol_images(classifier, 1000 if limit is None else limit, device, interpolation)


def load_imagenet_cpu(limit: int | None, interpolation: str, *, classifier: torch.nn.Module,
                      device: str | torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `imagenet-cpu` dataset's loader (cnr.data): imagenet_cpu_images, the corpus crops drawn with `seed`."""
    x, y, _ = imagenet_cpu_images(classifier, limit, interpolation, seed=seed, device=device)
    return x, y


@torch.no_grad()
def imagenet_cpu_images(clf: torch.nn.Module, n: int | None, interpolation: str = "bilinear",
                        crops_per_photo: int = 16, confidence: float = 0.5, seed: int = 0,
                        device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The ImageNet CPU profile's images: the paper's protocol on Foolbox's 20 ImageNet-val images (true labels,
    classified right, one per class), then held-out corpus crops (the test split, never trained on) labelled by the
    classifier's own top-1 where its softmax is at least `confidence`.

    On the crops "correct" therefore means "prediction kept": robust accuracy there is the fraction of images whose
    prediction an attack could not change. `n` None keeps them all; the classifier runs on `device`. Returns images,
    labels and each image's source ("foolbox" / "corpus").
    """
    from cnr.data.foolbox_samples import load_foolbox_samples
    from cnr.data.photo_corpus import corpus_crops
    from cnr.prediction import batched

    x, y, _ = load_foolbox_samples("imagenet", interpolation=interpolation)
    pred = batched(lambda b: clf(b.to(device)).argmax(1).cpu(), x, 20)
    keep, seen = [], set()
    for i, (p, t) in enumerate(zip(pred.tolist(), y.tolist())):
        if p == t and t not in seen:
            keep.append(i)
            seen.add(t)
    crops = corpus_crops("test", size=x.shape[-1], per_photo=crops_per_photo, seed=seed)
    probs = batched(lambda b: clf(b.to(device)).softmax(1).cpu(), crops, 16)
    conf, top = probs.max(1)
    sure = (conf >= confidence).nonzero().flatten()
    images = torch.cat([x[keep], crops[sure]])[:n]
    labels = torch.cat([y[keep], top[sure]])[:n]
    source = (["foolbox"] * len(keep) + ["corpus"] * len(sure))[:n]
    if n is not None and len(images) < n:
        warnings.warn(f"ImageNet CPU profile: {len(images)} images (of {n} wanted): {len(keep)} Foolbox images and "
                      f"{len(sure)} corpus crops at softmax >= {confidence}", stacklevel=2)
    return images, labels.to(torch.int64), source
