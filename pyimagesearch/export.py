"""Export a trained model to ONNX, LiteRT or a SavedModel, checked to predict the same.

    python -m pyimagesearch.export runs/c10 --format onnx           # runs/c10/<name>.onnx
    python -m pyimagesearch.export runs/c10 --format litert --int8  # <name>_int8.tflite
    python -m pyimagesearch.export model.keras --format saved_model --data cifar-10-batches-py/

Takes a run folder (its final model) or a `.keras` file. The exported model takes what
the `.keras` one takes (uint8 RGB images, the mean subtracted inside) and gives the class
probabilities (`pyimagesearch.deploy.formats` names and shapes them); a model trained in
bf16 or fp16 is exported in float32. `--int8` quantizes weights and activations to 8 bits,
calibrated on `--calibration-images` training images. Every export ends with a check on
the test split, which must pass (`pyimagesearch.deploy.parity`); its figures are printed
and written beside the exported model (`<file>.json`, with the class names), and a model
that fails it is not written. The data are the run's own (`--data` for another copy).
Exporting always uses TensorFlow, whatever KERAS_BACKEND says.
"""

import dataclasses
import os
import sys
import time

import numpy as np

from pyimagesearch import atomic, signals, startup
from pyimagesearch.cli import ArgumentParser, handle_user_errors, positive_int, random_seed
from pyimagesearch.deploy import parity
from pyimagesearch.deploy.formats import FORMATS, INPUT, OUTPUT, exported_path, require
from pyimagesearch.errors import UserError
from pyimagesearch.io.runfiles import RunPaths, read_settings, settings_beside

ADVICE = "give a run folder or a .keras file saved by a training script"


def get_args_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m pyimagesearch.export",
                            description="Export a trained model to ONNX, LiteRT or a "
                                        "SavedModel, and check that it predicts as the .keras "
                                        "model does.")
    parser.add_argument("model", metavar="MODEL_OR_RUN_DIR",
                        help="a run folder (the --output of a training script) or a .keras file")
    parser.add_argument("--format", required=True, choices=list(FORMATS),
                        help="onnx (ONNX Runtime and others), litert (.tflite: phones, small "
                             "boards) or saved_model (TF Serving)")
    parser.add_argument("--int8", action="store_true",
                        help="8-bit weights and activations (onnx, litert), calibrated on "
                             "training images; the check allows 1 point of accuracy lost")
    parser.add_argument("--output", metavar="PATH",
                        help="the exported file (default: beside the model, "
                             "<name>[_int8].onnx, .tflite or _saved_model/)")
    parser.add_argument("--data", metavar="PATH",
                        help="the data the model was trained on, if not where the run found "
                             "them: CIFAR-10 (its archive or folder), or the HDF5 folder of "
                             "build_tiny_hdf5.py or build_hdf5.py")
    parser.add_argument("--check-images", type=positive_int, metavar="N",
                        help="check on the first N test images (default: all)")
    parser.add_argument("--calibration-images", type=positive_int, default=500, metavar="N",
                        help="training images drawn at random to calibrate --int8")
    parser.add_argument("--seed", type=random_seed, default=0,
                        help="seed of the calibration images' draw")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="images per model call in the check")
    return parser


def find_model(path: str) -> str:
    """The `.keras` file `path` names: itself, or the final model of the run folder `path`.

    Raises:
        UserError: no such file or run, or the run has no final model yet.
    """
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise UserError(f"{path} does not exist; {ADVICE}")
        return path
    try:
        model = RunPaths.find(path).model
    except FileNotFoundError:
        raise UserError(f"{path} holds no training run (no <name>_args.json); {ADVICE}") from None
    if not os.path.isfile(model):
        raise UserError(f"the run in {path} has no final model ({os.path.basename(model)}) yet; "
                        "let it finish, or give one of its checkpoints")
    return model


def run_settings(model_path: str) -> dict:
    """The settings file of the run that saved `model_path` ({} if there is none)."""
    try:
        return read_settings(model_path)[0] or {}
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the run's settings {settings_beside(model_path)} "
                        f"({err}); pass --data") from None


def data_source(settings: dict, data: str | None) -> tuple[str, str | None]:
    """`(dataset, path)`: "cifar10" or "tinyimagenet" (any HDF5 folder of a build: Tiny
    ImageNet's or your images'), and where its files are (None: the CIFAR-10 download,
    which Keras caches, as the run had it without --data).

    Raises:
        UserError: neither `data` nor the run's settings say where the data are.
    """
    args = settings.get("args", {})
    if data is None:
        if "hdf5_dir" not in args and "data" not in args:
            raise UserError("cannot tell which data the model was trained on (no run settings "
                            "beside it); pass --data")
        data = args.get("hdf5_dir") or args.get("data")
        if data is None:
            return "cifar10", None
    if not os.path.exists(data):
        raise UserError(f"--data {data} does not exist; pass the CIFAR-10 archive or folder, "
                        "or the HDF5 folder, the model was trained on")
    tiny = "hdf5_dir" in args or os.path.isfile(os.path.join(data, "test.hdf5"))
    return ("tinyimagenet" if tiny else "cifar10"), data


def load_images(dataset: str, data: str | None, check: int | None, calibration: int, seed: int):
    """`(test_images, test_labels, calibration_images)`, uint8 (N, H, W, 3): the first
    `check` test images (all if None), and `calibration` training images drawn with `seed`
    (none for 0)."""
    rng = np.random.default_rng(seed)
    if dataset == "cifar10":
        from pyimagesearch.datasets.cifar10 import load_cifar10

        (x_train, _), (x_test, y_test), _ = load_cifar10(data)
        chosen = rng.choice(len(x_train), min(calibration, len(x_train)), replace=False)
        return x_test[:check], y_test[:check], x_train[np.sort(chosen)]
    import h5py

    from pyimagesearch.io.hdf5format import check_hdf5

    test, train = (os.path.join(data, f"{split}.hdf5") for split in ("test", "train"))
    check_hdf5(test)
    with h5py.File(test, "r") as db:
        images, labels = db["images"][:check], db["labels"][:check]
    if not calibration:
        return images, labels, images[:0]
    check_hdf5(train)
    with h5py.File(train, "r") as db:
        rows = np.sort(rng.choice(len(db["labels"]), min(calibration, len(db["labels"])),
                                  replace=False))
        chosen = db["images"][rows]
    return images, labels, chosen


def _describe_io(fmt, predictor) -> dict:
    shape = ["batch", *predictor.input_shape]
    names = {"onnx": (INPUT, OUTPUT)}.get(fmt.name, (INPUT, "output_0"))
    where = "" if fmt.name == "onnx" else " (signature serving_default)"
    return {"input": {"name": names[0] + where, "dtype": "uint8", "shape": shape,
                      "layout": predictor.layout,
                      "values": "RGB 0-255; the training mean is subtracted inside"},
            "output": {"name": names[1] + where, "dtype": "float32",
                       "shape": ["batch", predictor.classes],
                       "values": "class probabilities (softmax), in class_names order"}}


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(folder, name))
                   for folder, _, names in os.walk(path) for name in names)
    return os.path.getsize(path)


@handle_user_errors
def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    fmt = FORMATS[args.format]
    if args.int8 and not fmt.int8:
        raise UserError(f"--int8 applies to onnx and litert; a {fmt.title} is exported in "
                        "float32 only")
    # Everything that needs no TensorFlow first: a mistake costs no start-up.
    from pyimagesearch.io.checkpoints import check_keras_file, saved_class_names
    from pyimagesearch.training.run import check_writable

    model_path = find_model(args.model)
    check_keras_file(model_path, "the model", ADVICE)
    settings = run_settings(model_path)
    dataset, data = data_source(settings, args.data)
    require(fmt)
    out = os.path.abspath(args.output or exported_path(model_path, fmt, args.int8))
    folder = fmt.suffix.startswith("_")  # a SavedModel is a folder
    if not folder and not out.endswith(fmt.suffix):
        raise UserError(f"--output {args.output} must end with {fmt.suffix} for {fmt.title}")
    check_writable(os.path.dirname(out), "--output")
    images, labels, calibration = load_images(dataset, data, args.check_images,
                                              args.calibration_images if args.int8 else 0,
                                              args.seed)

    os.environ["KERAS_BACKEND"] = "tensorflow"  # the converters are TensorFlow's
    keras = startup.import_keras()
    if keras.backend.backend() != "tensorflow":
        raise UserError("exporting needs the TensorFlow backend; run it with "
                        "KERAS_BACKEND=tensorflow")
    from pyimagesearch.deploy.formats import export, inference_model
    from pyimagesearch.deploy.runtimes import open_model, sidecar
    from pyimagesearch.training.precision import saved_precision

    reference = open_model(model_path, "the model")
    if reference.size != (images.shape[2], images.shape[1]):
        raise UserError(f"the model takes {reference.size[0]}x{reference.size[1]} images but "
                        f"{data or 'CIFAR-10'} holds {images.shape[2]}x{images.shape[1]}; pass "
                        "the --data it was trained on")
    kind = f"{fmt.title}{' int8' if args.int8 else ''}"
    print(f"exporting {model_path} to {kind}, then checking it on {len(images)} test images",
          flush=True)
    start = time.perf_counter()
    if reference.layout == "channels_first":
        calibration = calibration.transpose(0, 3, 1, 2)
    # The reference is the model computing in float32, as exported (for a model trained in
    # bf16, float32 is the more exact; its half-precision rounding is no export's fault).
    copy = inference_model(reference.model)
    reference = dataclasses.replace(
        reference, run=lambda x: keras.ops.convert_to_numpy(copy.predict_on_batch(x)))
    with (atomic.atomic_folder(out) if folder else atomic.atomic_path(out)) as tmp:
        export(copy, fmt, tmp, calibration if args.int8 else None)
        exported = open_model(tmp, "the exported model")
        result = parity.compare(reference.predict(images, args.batch_size),
                                exported.predict(images, args.batch_size), labels, args.int8)
        if not result["passed"]:
            raise UserError(f"the {kind} model fails its check ({result['rule']}): "
                            f"{parity.describe(result)}; nothing was written")
        # A Ctrl-C or SIGTERM that the converters swallowed: nothing is written after it.
        signals.raise_if_pending()
    size, keras_size = _size(out), os.path.getsize(model_path)
    names = saved_class_names(model_path) or settings.get("class_names")
    atomic.write_json(sidecar(out), {
        "format": fmt.name, "int8": args.int8, "source": model_path,
        "trained_in": {"off": "float32"}.get(p := saved_precision(model_path), p), "computes_in": "int8" if args.int8 else
        "float32", **_describe_io(fmt, exported), "layout": exported.layout,
        "class_names": names, "bytes": size, "keras_bytes": keras_size,
        "calibration_images": len(calibration), "check": result})
    print(f"check passed: {parity.describe(result)}")
    print(f"wrote {out} ({size / 2**20:.1f} MiB; the .keras {keras_size / 2**20:.1f} MiB) and "
          f"{os.path.basename(sidecar(out))} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
