"""Defaults of `train_cifar10.py`: the MiniGoogLeNet recipe behind the published
90-91% CIFAR-10 test accuracy (Zhang et al. 2017; ../shared/ARCHITECTURES.md)."""

MODEL_NAME = "minigooglenet_cifar10"
DATA = None           # None: download cifar-10-python.tar.gz with Keras
OUTPUT = "output"

EPOCHS = 70           # the LR reaches zero at the end of the last epoch
BATCH_SIZE = 64
LR = 1e-2             # first epoch's learning rate
POWER = 1.0           # polynomial decay power (1: linear to zero)
MOMENTUM = 0.9        # SGD momentum

SHIFT = 0.1           # random shifts up to 10% of width and height, nearest fill
FLIP = True           # random horizontal flips

MIXED_PRECISION = "auto"  # auto, off, bf16 or fp16 (pyimagesearch/training/precision.py)

FIND_LR_STEPS = 300    # --find-lr: batches over the range (the test may stop earlier)
FIND_LR_RANGE = (1e-6, 10.0)  # --find-lr: first and last learning rate

CHECKPOINT_EVERY = 1  # epochs between checkpoints
KEEP_CHECKPOINTS = 3  # newest checkpoints kept
