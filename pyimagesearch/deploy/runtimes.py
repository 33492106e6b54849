"""Running a trained model from its file: `.keras` in Keras, `.onnx` in ONNX Runtime,
`.tflite` in the LiteRT interpreter (`ai-edge-litert`), a SavedModel folder in TensorFlow.

`open_model` checks that the file is whole and takes fixed-size RGB images, and
returns a `Predictor` that classifies uint8 images a batch at a time. The class
names of an exported file are in the JSON that `python -m pyimagesearch.export`
writes beside it (`<file>.json`).
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np

from pyimagesearch import startup
from pyimagesearch.deploy.formats import INSTALL
from pyimagesearch.errors import UserError

SUFFIXES = (".keras", ".onnx", ".tflite")
ADVICE = ("pass a .keras file saved by a training script, or a .onnx or .tflite file written "
          "by python -m pyimagesearch.export")


@dataclass
class Predictor:
    """A model ready to classify: `run(images)` gives the probabilities of a batch.

    `input_shape` is one image's, in the model's `layout`: "channels_last"
    (height, width, 3) or "channels_first" (3, height, width).
    """

    path: str
    kind: str  # "keras", "onnx", "litert" or "saved_model"
    input_shape: tuple[int, int, int]
    classes: int
    run: object = field(repr=False)
    class_names: list[str] | None = None
    layout: str = "channels_last"
    model: object = field(default=None, repr=False)  # the Keras model, for a .keras file

    @property
    def size(self) -> tuple[int, int]:
        """`(width, height)` of the images it takes."""
        shape = self.input_shape
        return (shape[2], shape[1]) if self.layout == "channels_first" else (shape[1], shape[0])

    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The probabilities of uint8 `images` (N, H, W, 3) or already in the model's layout."""
        images = np.asarray(images)
        if self.layout == "channels_first" and images.shape[1:] != self.input_shape:
            images = images.transpose(0, 3, 1, 2)
        out = [np.asarray(self.run(np.ascontiguousarray(images[i:i + batch_size])),
                          dtype=np.float32)
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.classes), np.float32)


def sidecar(path: str) -> str:
    """The JSON written beside an exported model: its class names, input, output and check."""
    return f"{os.path.normpath(path)}.json"


def read_sidecar(path: str) -> dict:
    """The JSON beside an exported model, {} if there is none or it cannot be read."""
    try:
        with open(sidecar(path), encoding="utf-8") as f:
            found = json.load(f)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _image_shape(shape, path: str, what: str, dtype: str | None = None,
                 layout: str | None = None) -> tuple[tuple[int, int, int], str]:
    """`(shape, layout)` of one image a model takes, given its input's `shape` (batch
    first) and, outside Keras, `dtype`; the layout, unless given, is channels_first where
    only the first dimension is 3."""
    shape = tuple(shape[1:]) if shape is not None and len(shape) == 4 else None
    if shape is not None and all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        shape = tuple(int(d) for d in shape)
        layout = layout or ("channels_first" if shape[0] == 3 and shape[2] != 3
                            else "channels_last")
        channels = shape[0] if layout == "channels_first" else shape[2]
        if channels == 3 and dtype in (None, "uint8"):
            return shape, layout
    kind = f"{dtype} inputs" if dtype else "inputs"
    raise UserError(f"{what} {path} takes {kind} of shape {shape}, not batches of fixed-size "
                    f"{'uint8 ' if dtype else ''}RGB images; {ADVICE}")


def _keras(path: str, what: str) -> Predictor:
    keras = startup.import_keras()
    from pyimagesearch.io.checkpoints import load_checkpoint, saved_class_names

    model = load_checkpoint(path, what, ADVICE)
    shape, layout = _image_shape((None, *model.input_shape[1:]), path, what,
                                 layout=keras.config.image_data_format())

    def run(x):
        return keras.ops.convert_to_numpy(model.predict_on_batch(x))

    return Predictor(path, "keras", shape, int(model.output_shape[-1]), run,
                     saved_class_names(path), layout, model)


def _onnx(path: str, what: str) -> Predictor:
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"running {path} needs ONNX Runtime; {INSTALL}") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    try:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own classes for bad files
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{what} {path} is damaged or not an ONNX model ({reason}); "
                        f"{ADVICE}") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    dtype = inputs[0].type.removeprefix("tensor(").removesuffix(")") if inputs else "?"
    shape, layout = _image_shape(inputs[0].shape if len(inputs) == 1 else None, path, what,
                                 dtype, read_sidecar(path).get("layout"))
    classes = outputs[0].shape[-1] if outputs and outputs[0].shape else None
    if len(outputs) != 1 or not isinstance(classes, int):
        raise UserError(f"{what} {path} does not give one row of class probabilities per "
                        f"image; {ADVICE}")
    name = inputs[0].name

    def run(x):
        return session.run(None, {name: x})[0]

    return Predictor(path, "onnx", shape, classes, run, read_sidecar(path).get("class_names"),
                     layout)


def _litert(path: str, what: str) -> Predictor:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise UserError(f"running {path} needs the LiteRT interpreter (ai-edge-litert); "
                        f"{INSTALL}") from None
    try:
        interpreter = Interpreter(model_path=path, num_threads=os.cpu_count() or 1)
        detail = interpreter.get_input_details()
        out = interpreter.get_output_details()
    except (ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{what} {path} is damaged or not a LiteRT model ({reason}); "
                        f"{ADVICE}") from None
    dtype = np.dtype(detail[0]["dtype"]).name if len(detail) == 1 else "?"
    shape, layout = _image_shape(list(detail[0]["shape"]) if len(detail) == 1 else None, path,
                                 what, dtype, read_sidecar(path).get("layout"))
    if len(out) != 1 or len(out[0]["shape"]) != 2:
        raise UserError(f"{what} {path} does not give one row of class probabilities per "
                        f"image; {ADVICE}")
    index, out_index, batch = detail[0]["index"], out[0]["index"], [0]

    def run(x):
        if batch[0] != len(x):
            interpreter.resize_tensor_input(index, [len(x), *shape])
            with startup.filtered_stderr():  # the XNNPACK delegate's notice
                interpreter.allocate_tensors()
            batch[0] = len(x)
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        result = interpreter.get_tensor(out_index)
        scale, zero = out[0]["quantization"]
        return (result.astype(np.float32) - zero) * scale if scale else result.copy()

    return Predictor(path, "litert", shape, int(out[0]["shape"][-1]), run,
                     read_sidecar(path).get("class_names"), layout)


def _saved_model(path: str, what: str) -> Predictor:
    startup.import_keras()
    import tensorflow as tf

    try:
        serve = tf.saved_model.load(path).signatures["serving_default"]
    except Exception as err:  # TensorFlow raises many classes for a bad folder
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{what} {path} is damaged or not a SavedModel ({reason}); "
                        f"{ADVICE}") from None
    spec = next(iter(serve.structured_input_signature[1].values()))
    shape, layout = _image_shape(spec.shape.as_list(), path, what, spec.dtype.name,
                                 read_sidecar(path).get("layout"))
    outputs = serve.structured_outputs
    classes = next(iter(outputs.values())).shape[-1]

    def run(x):
        return next(iter(serve(tf.constant(x)).values())).numpy()

    return Predictor(path, "saved_model", shape, int(classes), run,
                     read_sidecar(path).get("class_names"), layout)


def open_model(path: str, what: str = "--model") -> Predictor:
    """The model in `path` (`.keras`, `.onnx`, `.tflite`, or a SavedModel folder), ready to
    classify uint8 images. Keras is imported only for a `.keras` file or a SavedModel.

    Raises:
        UserError: `path` is missing, damaged, of another kind, or its model does not take
            fixed-size RGB images.
    """
    if not os.path.exists(path):
        raise UserError(f"{what} {path} does not exist; {ADVICE}")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return _saved_model(path, what)
        raise UserError(f"{what} {path} is a folder, not a model file; {ADVICE}")
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".keras":
        return _keras(path, what)
    if suffix == ".onnx":
        return _onnx(path, what)
    if suffix == ".tflite":
        return _litert(path, what)
    raise UserError(f"{what} {path} is neither .keras, .onnx nor .tflite; {ADVICE}")
