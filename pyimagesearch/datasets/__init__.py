"""Dataset loaders."""

from pyimagesearch.datasets.cifar10 import load_cifar10

__all__ = ["load_cifar10"]
