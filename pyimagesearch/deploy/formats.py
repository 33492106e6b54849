"""The export formats, and how a trained Keras model becomes each, in float32 or int8.

Every exported model takes what the `.keras` model takes and gives what it gives:

- input `image`: uint8 RGB images, shape (batch, height, width, 3) ((batch, 3,
  height, width) for a model trained channels_first), 0-255, the training set's
  mean subtracted inside the model;
- output `probabilities` (ONNX; `output_0` in the LiteRT and SavedModel
  signatures): float32, shape (batch, classes), the softmax.

Keras does the float32 conversions (`model.export`: tf2onnx for ONNX, the LiteRT
converter, a SavedModel); int8 is post-training full-integer quantization
calibrated on training images: the LiteRT converter's representative dataset,
and ONNX Runtime's static quantization (QDQ; weights per channel, signed, and
activations unsigned, 8 bits).
"""

import contextlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from pyimagesearch import startup
from pyimagesearch.errors import UserError

INSTALL = "pip install -r requirements-export.txt"
INPUT = "image"
OUTPUT = "probabilities"
CALIBRATION_BATCH = 32  # images per ONNX Runtime calibration step


@dataclass(frozen=True)
class Format:
    """An export format: its `--format` name, what it is called, how its file is named
    (`suffix`; `_saved_model` is a folder), the modules it needs beyond TensorFlow and
    Keras, and whether it has an int8 form."""

    name: str
    title: str
    suffix: str
    needs: tuple[str, ...]
    int8: bool


FORMATS = {f.name: f for f in (
    Format("onnx", "ONNX", ".onnx", ("tf2onnx", "onnx", "onnxruntime"), True),
    Format("litert", "LiteRT", ".tflite", ("ai_edge_litert",), True),
    Format("saved_model", "SavedModel", "_saved_model", (), False),
)}


def require(fmt: Format) -> None:
    """Raises a UserError naming the pip command if a module `fmt` needs is missing."""
    missing = [name for name in fmt.needs if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"exporting to {fmt.title} needs {', '.join(missing)}, which are not "
                        f"installed; {INSTALL}")


def exported_path(model_path: str, fmt: Format, int8: bool) -> str:
    """Where `model_path` is exported by default: beside it, `<stem>[_int8]<suffix>`."""
    stem = os.path.splitext(os.path.abspath(model_path))[0]
    return f"{stem}{'_int8' if int8 else ''}{fmt.suffix}"


def _dtype_policies_to_float32(node) -> None:
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy":
            name = node.get("config", {}).get("name", "")
            if name.startswith("mixed_"):
                node["config"]["name"] = "float32"
        for value in node.values():
            _dtype_policies_to_float32(value)
    elif isinstance(node, list):
        for value in node:
            _dtype_policies_to_float32(value)


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def inference_model(model):
    """A float32 copy of `model` to export: the same weights, every layer computing in
    float32 (a model trained in bf16 or fp16 is exported in float32)."""
    import keras

    config = json.loads(model.to_json())
    _dtype_policies_to_float32(config)
    copy = keras.models.model_from_json(json.dumps(config))
    copy.set_weights(model.get_weights())
    for layer in _layers(copy):
        if isinstance(layer, keras.layers.Normalization) and layer.mean is not None:
            # Keras keeps a fixed mean as a tensor that the exported function captures;
            # tf2onnx makes such a capture an input of the ONNX graph. As NumPy arrays they
            # are traced into the graph as constants (the same values).
            layer.mean = keras.ops.convert_to_numpy(layer.mean)
            layer.variance = keras.ops.convert_to_numpy(layer.variance)
    copy(np.zeros((1, *copy.input_shape[1:]), copy.inputs[0].dtype))  # Keras exports called models
    return copy


def _quiet():
    """The converters' own logs (tf2onnx, the LiteRT converter, ONNX Runtime's
    quantizer) are kept back unless the conversion fails."""
    import logging

    stack = contextlib.ExitStack()
    stack.enter_context(startup.filtered_stderr(drop=lambda line: True))
    for name in ("tf2onnx", "onnxruntime", "root", "absl"):
        logger = logging.getLogger(None if name == "root" else name)
        level = logger.level
        logger.setLevel(logging.ERROR)
        stack.callback(logger.setLevel, level)
    return stack


def _name_onnx(path: str) -> None:
    """Names the ONNX graph's output `probabilities` (tf2onnx calls it `Identity:0`) and
    the batch dimension of its input and output `batch`."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    old = graph.output[0].name
    for node in graph.node:
        node.output[:] = [OUTPUT if name == old else name for name in node.output]
        node.input[:] = [OUTPUT if name == old else name for name in node.input]
    graph.output[0].name = OUTPUT
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, path)


class _Calibration:
    """ONNX Runtime's calibration data reader: `images` a batch at a time."""

    def __init__(self, images: np.ndarray):
        self.batches = iter(np.array_split(images, max(1, len(images) // CALIBRATION_BATCH)))

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {INPUT: batch}


def _onnx(model, path: str, calibration: np.ndarray | None) -> None:
    with tempfile.TemporaryDirectory() as work:
        float_path = path if calibration is None else os.path.join(work, "float.onnx")
        model.export(float_path, format="onnx", verbose=False)
        _name_onnx(float_path)
        if calibration is None:
            return
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(float_path, prepared)
        # Unsigned activations and signed weights (U8S8), as ONNX Runtime recommends for x86:
        # its U8S8 kernels ran 5x faster than S8S8 on an AVX2 CPU; 7-bit weights
        # (reduce_range) avoid the saturation of AVX2/AVX-512 CPUs without VNNI.
        quantize_static(prepared, path, _Calibration(calibration),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def _litert(model, path: str, calibration: np.ndarray | None) -> None:
    import tensorflow as tf

    # Built-in operators only: a file that needs TensorFlow's own ops (the "Flex" delegate)
    # would not run in the LiteRT interpreter; the conversion fails instead.
    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if calibration is not None:
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": lambda: ([image[None]] for image in calibration),
                   "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]}}
    model.export(path, format="litert", verbose=False, **options)


def _saved_model(model, path: str, calibration: None) -> None:
    model.export(path, format="tf_saved_model", verbose=False)


def export(model, fmt: Format, path: str, calibration: np.ndarray | None = None) -> None:
    """Writes `model` (from `inference_model`) to `path` (a folder for a SavedModel) in
    format `fmt`; int8 when `calibration` (uint8 training images, in the model's layout) is
    given. The converters' logs are shown only if they fail; `path` is written in place
    (`python -m pyimagesearch.export` gives a temporary path, and renames it once checked).

    Raises:
        UserError: the converter failed.
    """
    if calibration is not None and not fmt.int8:
        raise ValueError(f"a {fmt.title} has no int8 form")
    convert = {"onnx": _onnx, "litert": _litert, "saved_model": _saved_model}[fmt.name]
    try:
        with _quiet():
            convert(model, path, calibration)
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "no message"
        raise UserError(f"the {fmt.title} conversion failed ({type(err).__name__}: {reason}); "
                        "please report it with the model's settings") from None
