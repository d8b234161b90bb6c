"""Datasets the kit evaluates and trains on, all as float [0,1] NCHW tensors with int64 labels; `load_dataset` by name.

Each dataset is one DatasetInfo record in DATASETS (cnr.data.registry); a new one is its loader plus one
`register_dataset(name, DatasetInfo(...))` call.
"""
from __future__ import annotations

from cnr.data.fmnist import FMNIST_CLASSES, find_fmnist, load_fmnist
from cnr.data.foolbox_samples import FOOLBOX_DATASETS, class_names, foolbox_data_dir, load_foolbox_samples
from cnr.data.imagenet import ImageNetVal, imagenet_transform, imagenet_val_dir
from cnr.data.photos import NATURAL_PHOTOS, natural_photos
from cnr.data.registry import (
    BANK_FAMILY,
    DATASETS,
    DatasetInfo,
    check_sample_size,
    dataset_info,
    load_dataset,
    register_dataset,
)

__all__ = ["BANK_FAMILY", "DATASETS", "DatasetInfo", "FMNIST_CLASSES", "FOOLBOX_DATASETS", "ImageNetVal",
           "NATURAL_PHOTOS", "check_sample_size", "class_names", "dataset_info", "find_fmnist", "foolbox_data_dir",
           "imagenet_transform", "imagenet_val_dir", "load_dataset", "load_fmnist", "load_foolbox_samples",
           "natural_photos", "register_dataset"]
