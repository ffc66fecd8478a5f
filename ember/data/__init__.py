"""Data loading: data sets, samplers, the DataLoader, transforms and ready-made data sets.

Mirrors ``torch.utils.data`` (plus ``torchvision.transforms`` / ``torchvision.datasets`` as
``ember.data.transforms`` / ``ember.data.datasets``), on NumPy arrays.
"""
from ember.data import datasets, transforms
from ember.data.dataloader import DataLoader, default_collate, default_convert
from ember.data.dataset import (
                                ArrayDataset,
                                ConcatDataset,
                                Dataset,
                                Subset,
                                TensorDataset,
                                random_split,
)
from ember.data.datasets import get_dataset, list_datasets
from ember.data.distributed import DistributedSampler
from ember.data.sampler import (
                                BatchSampler,
                                RandomSampler,
                                Sampler,
                                SequentialSampler,
                                SubsetRandomSampler,
)

__all__ = ["Dataset", "ArrayDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader", "default_collate",
           "default_convert", "datasets", "transforms", "get_dataset", "list_datasets"]
