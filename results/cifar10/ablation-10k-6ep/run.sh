#!/bin/bash
# Short ablation on 10,000 CIFAR-10 training images (2,000 of each batch), full test set, 6 epochs.
# The subset: python -m bench.cifar10_subset ~/data/cifar10 ~/data/cifar10k --per-batch 2000
cd /work/main && . .venv/bin/activate
COMMON="--data $HOME/data/cifar10k --recipe fast --epochs 6 --batch-size 128 --lr 0.1 --seed 1"
run() { name=$1; shift; [ -f ~/runs/abl/$name/minigooglenet_cifar10_eval.json ] && return
  python train_cifar10.py $COMMON "$@" --output ~/runs/abl/$name --resume > ~/runs/abl/$name.log 2>&1 \
  || python train_cifar10.py $COMMON "$@" --output ~/runs/abl/$name > ~/runs/abl/$name.log 2>&1; }
run full --weight-decay 5e-3
run wd5e-4 --weight-decay 5e-4
run nols --weight-decay 5e-3 --label-smoothing 0
