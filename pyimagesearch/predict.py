"""Classify images with a trained model: the top-5 classes of each, with probabilities.

    python -m pyimagesearch.predict --model output/minigooglenet_cifar10.keras cat.jpg dog.png
    python -m pyimagesearch.predict --model runs/tiny/deepergooglenet_tinyimagenet.keras photos/
    python -m pyimagesearch.predict --model runs/c10/minigooglenet_cifar10_int8.tflite cat.jpg

The model is a `.keras` file of a training script, or a `.onnx` or `.tflite` file of
`python -m pyimagesearch.export` (run by ONNX Runtime or the LiteRT interpreter, with no
Keras or TensorFlow start-up).

Takes image files and folders (searched recursively) of any size. Each image is
read as the training data were (decode_cropped: RGB, scaled to cover the model's
input and centre-cropped, as build_hdf5.py does, with area interpolation; JPEGs
decoded strictly) and classified in batches; one
line an image is printed as it is done: `path: name1 0.8123; name2 0.1022; ...`.
Without `--skip-bad`, every file is decoded before the first prediction: if
some cannot be read (not images, truncated or damaged), one error names them
all and nothing is printed; with it, each is named on stderr as it is skipped,
and counted. The class names are the ones saved in the model (or beside an exported
one), else those in the run's `_args.json`, else "class i"; `--class-names FILE`
overrides them.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_int
from pyimagesearch.errors import UserError


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m pyimagesearch.predict",
                            description="Print the most probable classes of each image.")
    parser.add_argument("paths", nargs="+", metavar="IMAGE_OR_FOLDER",
                        help="image files, and folders searched recursively for images")
    parser.add_argument("--model", required=True,
                        help="a .keras model or checkpoint saved by a training script, or a "
                             ".onnx or .tflite file written by python -m pyimagesearch.export")
    parser.add_argument("--class-names", metavar="FILE",
                        help="a text file of class names, one a line in label order; without "
                             "it, the names saved in the model, else in the run's _args.json, "
                             "else 'class 0', 'class 1'...")
    parser.add_argument("--top", type=positive_int, default=5,
                        help="how many classes to print per image")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="images per model call")
    parser.add_argument("--workers", type=positive_int, default=min(8, os.cpu_count() or 1),
                        help="threads decoding images (default: one a CPU core, at most 8)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip (and count) files that cannot be read as images (not "
                             "images, truncated or damaged) instead of stopping before the "
                             "first prediction with an error that names them all")
    parser.add_argument("--json", metavar="OUT.json",
                        help="also write every result to this JSON file")
    return parser


def find_images(paths: list[str]) -> list[str]:
    """The files in `paths`, and the images in its folders (recursively, sorted; the
    extensions and hidden files left out are those build_hdf5.py leaves out).

    Raises:
        UserError: a path does not exist, or no image was found.
    """
    from pyimagesearch.datasets.imagefolder import IMAGE_EXTENSIONS, images_under

    found = []
    for path in paths:
        if os.path.isdir(path):
            found += images_under(path)
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise UserError(f"{path} does not exist; pass image files or folders of images")
    if not found:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in "
                        f"{', '.join(paths)}; pass image files or folders holding them")
    return found


def _run_class_names(model_path: str) -> tuple[list | None, str]:
    """`class_names` of the run's `<stem>_args.json` beside the model (or above its
    `checkpoints/` folder), and that file's path; None if there is none."""
    from pyimagesearch.io.runfiles import read_settings, settings_beside

    try:
        settings, path = read_settings(model_path)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the run's settings {settings_beside(model_path)} ({err}); "
                        "pass --class-names FILE") from None
    return (settings or {}).get("class_names"), path


def _saved_class_names(model_path: str) -> list | None:
    """The class names saved in a `.keras` file, or beside an exported model."""
    from pyimagesearch.deploy.runtimes import read_sidecar
    from pyimagesearch.io.checkpoints import saved_class_names

    if model_path.lower().endswith(".keras"):
        return saved_class_names(model_path)
    return read_sidecar(model_path).get("class_names")


def class_names(model_path: str, classes: int, names_file: str | None = None) -> list[str]:
    """The names of the model's `classes` outputs, in label order.

    From, in order: `names_file` (one name a line), the names saved inside the
    model, the `class_names` of the run's `_args.json`, else "class 0", "class 1"...

    Raises:
        UserError: the names file cannot be read, or the names found are not
            `classes` many.
    """
    if names_file:
        try:
            with open(names_file, encoding="utf-8") as f:
                names = [line.strip() for line in f if line.strip()]
            source = f"--class-names {names_file}"
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"cannot read --class-names {names_file} ({err}); pass a text file "
                            "of class names, one a line") from None
    elif (names := _saved_class_names(model_path)) is not None:
        source = f"the model {model_path}"
    else:
        names, source = _run_class_names(model_path)
        if names is None:
            return [f"class {i}" for i in range(classes)]
    if not isinstance(names, list) or len(names) != classes:
        count = len(names) if isinstance(names, list) else "no list of"
        raise UserError(f"{source} gives {count} class names, but the model has {classes} "
                        "classes; pass --class-names FILE with one name a line")
    return [str(name) for name in names]


def _decode(path: str, size: tuple[int, int]):
    from pyimagesearch.datasets.imagefolder import decode_cropped

    try:
        return decode_cropped(path, size), None
    except ValueError as err:
        return None, str(err)


def _decoded_batches(paths: list[str], size: tuple[int, int], batch_size: int, workers: int):
    """Yields `(paths, [(image or None, error or None), ...])` a batch at a time.

    The next batch is decoded while the caller runs the model on this one; no
    more than two batches are ever held in memory.
    """
    with ThreadPoolExecutor(workers) as pool:
        pending = None
        for start in range(0, len(paths), batch_size):
            batch = paths[start:start + batch_size]
            futures = [pool.submit(_decode, path, size) for path in batch]
            if pending:
                yield pending[0], [future.result() for future in pending[1]]
            pending = batch, futures
        yield pending[0], [future.result() for future in pending[1]]


# Decoded images kept from the check of every file to the predictions; beyond this,
# they are decoded again (at 64x64, 512 MiB hold 43,000 images).
KEEP_DECODED_BYTES = 512 * 2**20


def _checked_batches(paths: list[str], size: tuple[int, int], batch_size: int, workers: int):
    """`_decoded_batches` of `paths`, once every file has been decoded without error.

    Raises:
        UserError: some files cannot be read as images; it names every one.
    """
    from pyimagesearch.datasets.tinyimagenet import list_errors

    keep = len(paths) * size[0] * size[1] * 3 <= KEEP_DECODED_BYTES
    kept, errors = [], []
    for batch, decoded in _decoded_batches(paths, size, batch_size, workers):
        errors += [error for _, error in decoded if error is not None]
        if keep and not errors:
            kept.append((batch, decoded))
    if errors:
        them = "it" if len(errors) == 1 else "them"
        raise UserError(f"{len(errors)} of the {len(paths)} files cannot be read as images "
                        f"{list_errors(errors)}; delete or replace {them}, or rerun with "
                        "--skip-bad to skip such files")
    return kept if keep else _decoded_batches(paths, size, batch_size, workers)


def top_classes(probs: np.ndarray, names: list[str], top: int) -> list[list[tuple[str, float]]]:
    """The `top` most probable `(name, probability)` pairs of each row of `probs`,
    highest first; ties go to the lower class index."""
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(names[i], float(row[i])) for i in indices] for row, indices in zip(probs, order)]


@handle_user_errors
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return _predict(args)
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _predict(args) -> int:
    """`main` once the arguments are parsed."""
    from pyimagesearch import atomic, signals
    from pyimagesearch.deploy.runtimes import ADVICE, open_model
    from pyimagesearch.evaluation.reports import short_name
    from pyimagesearch.io.checkpoints import check_keras_file
    from pyimagesearch.training.run import check_writable

    # What needs no Keras first, so a mistake costs no TensorFlow start-up.
    if args.model.lower().endswith(".keras"):
        check_keras_file(args.model, "--model", ADVICE)
    images = find_images(args.paths)
    if args.json:
        check_writable(os.path.dirname(os.path.abspath(args.json)), "--json")
    model = open_model(args.model)
    size = model.size
    names = class_names(args.model, model.classes, args.class_names)
    top = min(args.top, len(names))
    # On screen, each class's first synonym ("goldfish, Carassius auratus" -> "goldfish")
    # where those are distinct; --json keeps the full names.
    display = [short_name(name) for name in names]
    if len(set(display)) < len(display):
        display = names

    results, predicted, skipped = [], 0, 0  # results only kept for --json
    if args.skip_bad:
        batches = _decoded_batches(images, size, args.batch_size, args.workers)
    else:
        batches = _checked_batches(images, size, args.batch_size, args.workers)
    for batch, decoded in batches:
        good = []
        for path, (image, error) in zip(batch, decoded):
            if error is None:
                good.append((path, image))
            elif args.skip_bad:
                skipped += 1
                print(f"skipping {error}", file=sys.stderr, flush=True)
            else:  # changed since it was checked
                raise UserError(f"{error}; delete or replace it, or rerun with --skip-bad to "
                                "skip such files")
        if not good:
            continue
        probs = model.predict(np.stack([image for _, image in good]), len(good))
        for (path, _), best, shown in zip(good, top_classes(probs, names, top),
                                          top_classes(probs, display, top)):
            print(f"{path}: " + "; ".join(f"{name} {p:.4f}" for name, p in shown))
            if args.json:
                results.append({"path": path, "top": best})
        predicted += len(good)
        sys.stdout.flush()
    if skipped:
        print(f"skipped {skipped} of {len(images)} files (unreadable or not images)",
              file=sys.stderr)
    if not predicted:
        raise UserError(f"none of the {len(images)} files could be read as an image")
    if args.json:
        signals.raise_if_pending()  # nothing is written after a stop something swallowed
        try:
            atomic.write_json(args.json, {"model": args.model, "predictions": results})
        except OSError as err:
            raise UserError(f"could not write --json {args.json} ({err.strerror or err})") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
