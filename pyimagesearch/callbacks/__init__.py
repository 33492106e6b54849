"""Keras callbacks: the training monitor, the run report, epoch checkpoints, divergence,
the LR range test and stopping when asked."""

from pyimagesearch.callbacks.divergence import StopOnDivergence
from pyimagesearch.callbacks.epochcheckpoint import EpochCheckpoint
from pyimagesearch.callbacks.lrfinder import LRFinder
from pyimagesearch.callbacks.runreport import RunReport
from pyimagesearch.callbacks.stopwhenasked import StopWhenAsked
from pyimagesearch.callbacks.trainingmonitor import TrainingMonitor

__all__ = ["EpochCheckpoint", "LRFinder", "RunReport", "StopOnDivergence", "StopWhenAsked",
           "TrainingMonitor"]
