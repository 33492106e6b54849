"""Keras callbacks: the training monitor and epoch checkpoints."""

from pyimagesearch.callbacks.epochcheckpoint import EpochCheckpoint, latest_checkpoint
from pyimagesearch.callbacks.trainingmonitor import TrainingMonitor, load_history, plot_history

__all__ = ["EpochCheckpoint", "TrainingMonitor", "latest_checkpoint", "load_history",
           "plot_history"]
