#!/usr/bin/env python3
"""Writes a Tiny ImageNet of its first K classes, in the official on-disk layout (links to
the images, the validation annotations of those classes), for short experiments such as
the diagnosis's real histories (tests/data/histories/runs).

    python -m bench.tiny_subset ~/data/tiny-imagenet-200 ~/data/tiny-10 --classes 10
    python build_tiny_hdf5.py --dataset-dir ~/data/tiny-10 --hdf5-dir ~/data/tiny-10/hdf5
"""

import argparse
import os
import shutil
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("source", help="a tiny-imagenet-200 folder (the unzipped download)")
    parser.add_argument("target", help="the folder to write the smaller layout in")
    parser.add_argument("--classes", type=int, default=10, help="how many classes to keep")
    args = parser.parse_args(argv)
    with open(os.path.join(args.source, "wnids.txt")) as f:
        wnids = [line.strip() for line in f if line.strip()][:args.classes]
    os.makedirs(os.path.join(args.target, "val", "images"), exist_ok=True)
    os.makedirs(os.path.join(args.target, "train"), exist_ok=True)
    with open(os.path.join(args.target, "wnids.txt"), "w") as f:
        f.writelines(f"{wnid}\n" for wnid in wnids)
    shutil.copy(os.path.join(args.source, "words.txt"), args.target)
    for wnid in wnids:
        link = os.path.join(args.target, "train", wnid)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(args.source, "train", wnid)), link)
    kept = set(wnids)
    with open(os.path.join(args.source, "val", "val_annotations.txt")) as f:
        rows = [line for line in f if line.split("\t")[1] in kept]
    with open(os.path.join(args.target, "val", "val_annotations.txt"), "w") as f:
        f.writelines(rows)
    for row in rows:
        name = row.split("\t")[0]
        link = os.path.join(args.target, "val", "images", name)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(args.source, "val", "images", name)), link)
    print(f"wrote {args.target}: {len(wnids)} classes, {len(rows)} validation images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
