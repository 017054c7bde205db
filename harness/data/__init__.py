"""Datasets: `ImageData` (uint8 image tensors and labels per split) and a registry of sources.

A dataset is named `NAME` or `NAME:PATH` (`folder:~/photos`, `cifar10:/data/cifar`): the source
reads its files (through torchvision's dataset classes where there are some), and
`load_dataset` then makes the splits the same way for every source: a seeded, stratified
validation split carved from the training images unless the source has its own, and the test
split, where there is one, kept apart (a search never reads it). See `harness datasets`.
"""

from harness.data.dataset_options import DataOptions, dataset_shape, load_dataset
from harness.data.image_data import (
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_VAL_FRACTION,
    Augment,
    DataRequest,
    DatasetSource,
    ImageData,
    RawData,
    cache_dir,
    default_data_dir,
    fingerprint,
    parse_dataset,
    register_dataset,
    verifiable_datasets,
    warn,
)

__all__ = [
    "DATASETS", "DEFAULT_DATASET", "DEFAULT_VAL_FRACTION", "Augment", "DataOptions", "DataRequest", "DatasetSource",
    "ImageData", "RawData", "cache_dir", "dataset_shape", "default_data_dir", "fingerprint", "load_dataset",
    "parse_dataset", "register_dataset", "verifiable_datasets", "warn",
]
