"""Convolutional network builders."""

from pyimagesearch.nn.conv.minigooglenet import MiniGoogLeNet

__all__ = ["MiniGoogLeNet"]
