#!/bin/bash
# Issue 28's check: the classic Tiny ImageNet recipe on the shared subset's first 10 classes,
# 8 epochs, then 2 more at lr 1e-4, at main (new-*) and at 0196b8b (old-*, a worktree of that
# commit: its own scripts and package, its own build of the HDF5), seed in the folder's name.
# DATA: the unzipped tiny-imagenet-200-subset.zip; RUN: the runs' folder.
python -m bench.tiny_subset DATA/tiny-imagenet-200 DATA/tiny-10 --classes 10
python build_tiny_hdf5.py --dataset-dir DATA/tiny-10 --hdf5-dir DATA/tiny-10/hdf5  # at 0196b8b: DATA/tiny-10/hdf5-old
for seed in 1 2 3; do
  out=RUN/new-s$seed
  python train_tinyimagenet.py --hdf5-dir DATA/tiny-10/hdf5 --seed $seed --epochs 8 --output $out --verbose 2
  python train_tinyimagenet.py --hdf5-dir DATA/tiny-10/hdf5 --output $out --resume --epochs 10 --lr 1e-4 --verbose 2
done
# at 0196b8b, seeds 1 and 2: the same two commands with --hdf5-dir DATA/tiny-10/hdf5-old, --output RUN/old-s$seed
