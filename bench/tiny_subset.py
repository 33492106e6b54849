#!/usr/bin/env python3
"""Writes a Tiny ImageNet of its first K classes, in the official on-disk layout (links to
the images, the validation annotations of those classes), for short experiments such as
the diagnosis's real histories (tests/data/histories/runs), or an archive small enough to
carry to another machine (bench/gpu_runs.py): the whole shared subset (200 classes, every
validation image, no unlabelled test folder) is 52.5 MiB as a .tar.gz, where gzip finds the
JPEG headers that the files share, against 77.7 MiB zipped file by file.

    python -m bench.tiny_subset ~/data/tiny-imagenet-200 ~/data/tiny-10 --classes 10
    python build_tiny_hdf5.py --dataset-dir ~/data/tiny-10 --hdf5-dir ~/data/tiny-10/hdf5
    python -m bench.tiny_subset ~/data/tiny-imagenet-200 /tmp/tiny-carry --classes 200 \
        --tar .devdata/tiny-imagenet-200.tar.gz
"""

import os
import sys
import tarfile

from pyimagesearch.cli import ArgumentParser


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m bench.tiny_subset",
                            description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a tiny-imagenet-200 folder (the unzipped download)")
    parser.add_argument("target", help="the folder to write the smaller layout in")
    parser.add_argument("--classes", type=int, default=10, help="how many classes to keep")
    parser.add_argument("--tar", help="also write the layout, images included, to this .tar.gz")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    with open(os.path.join(args.source, "wnids.txt")) as f:
        wnids = [line.strip() for line in f if line.strip()][:args.classes]
    os.makedirs(os.path.join(args.target, "val", "images"), exist_ok=True)
    os.makedirs(os.path.join(args.target, "train"), exist_ok=True)
    with open(os.path.join(args.target, "wnids.txt"), "w") as f:
        f.writelines(f"{wnid}\n" for wnid in wnids)
    kept = set(wnids)
    with open(os.path.join(args.source, "words.txt")) as f, \
            open(os.path.join(args.target, "words.txt"), "w") as g:
        g.writelines(line for line in f if line.split("\t")[0] in kept)
    for wnid in wnids:
        link = os.path.join(args.target, "train", wnid)
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(args.source, "train", wnid)), link)
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
    if args.tar:
        write_tar(args.target, args.tar)
        print(f"wrote {args.tar}: {os.path.getsize(args.tar) / 2**20:.1f} MiB")
    return 0


def write_tar(folder: str, path: str) -> None:
    """`folder` as `tiny-imagenet-200/...` in the .tar.gz at `path`, linked images included."""
    partial = path + ".partial"
    with tarfile.open(partial, "w:gz", dereference=True) as archive:
        archive.add(folder, "tiny-imagenet-200")
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
