"""Defaults of `build_tiny_hdf5.py` and `train_tinyimagenet.py`: the public
DeeperGoogLeNet recipe that reached 57.3% rank-1 on Tiny ImageNet-200
(../shared/ARCHITECTURES.md)."""

# Building the HDF5 files
DATASET_DIR = "datasets/tiny-imagenet-200"   # the unzipped official download
HDF5_DIR = "datasets/tiny-imagenet-200/hdf5"
TEST_PER_CLASS = 50     # test split carved from the training images, per class
SPLIT_SEED = 42         # random_state of the stratified split (the public recipe's)
IMAGE_SIZE = 64         # images are decoded to IMAGE_SIZE x IMAGE_SIZE x 3 RGB

# Training
MODEL_NAME = "deepergooglenet_tinyimagenet"
OUTPUT = "output"
EPOCHS = 70             # the LR reaches zero at the end of the last epoch
BATCH_SIZE = 64
LR = 1e-3               # Adam, first epoch's learning rate
POWER = 1.0             # polynomial decay power (1: linear to zero; 0: constant)
REG = 2e-4              # L2 factor of every kernel
DROPOUT = 0.4           # dropout before the classifier, as published

# Augmentation (RandomAffine on whole batches in the input pipeline, training only)
ROTATION = 18.0         # degrees
ZOOM = 0.15             # fraction
SHIFT = 0.2             # fraction of width and height
SHEAR = 0.15            # fraction
FLIP = True             # random horizontal flips

RECIPE = "classic"      # --recipe: classic (the defaults above) or fast (FAST below)
# --recipe fast, PROVISIONAL (issue 18 measures its parts): Adam with a 1-epoch warm-up and
# linear decay set every batch, label smoothing 0.1, decoupled weight decay 0.05 on the kernels
# instead of L2 (AdamW's usual factor: Keras multiplies it by the LR, as PyTorch's AdamW does),
# and shifts, a light zoom plus flips only (rotation and shear cost accuracy at short budgets).
FAST = {"epochs": 15, "warmup_epochs": 1.0, "label_smoothing": 0.1, "weight_decay": 0.05,
        "reg": 0.0, "rotation": 0.0, "shear": 0.0, "zoom": 0.1, "shift": 0.125}

WORKERS = 2             # threads preparing training batches (raw HDF5 reads + OpenCV warps)
MIXED_PRECISION = "auto"  # auto, off, bf16 or fp16 (pyimagesearch/training/precision.py)

FIND_LR_STEPS = 300    # --find-lr: batches over the range (the test may stop earlier)
FIND_LR_RANGE = (1e-6, 10.0)  # --find-lr: first and last learning rate

CHECKPOINT_EVERY = 1    # epochs between checkpoints
KEEP_CHECKPOINTS = 3    # newest checkpoints kept
