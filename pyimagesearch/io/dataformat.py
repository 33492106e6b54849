"""A saved model in the image data format of the Keras that loads it.

A model built where `keras.config.image_data_format()` is "channels_first" (set in
`keras.json`, as on many GPU machines) keeps that layout in its saved config: the
`data_format` of each convolution and pooling, the channel `axis` of batch
normalization and concatenation, the (3, H, W) shape of its input and the per-pixel
mean as (3, H, W). Keras loads it as it was, so in a default (channels_last) process
the model takes (N, 3, H, W) batches where everything else (the data, the checks,
the test-time flips) makes (N, H, W, 3) ones, and TensorFlow on a CPU without oneDNN
cannot run its convolutions at all. Its weights do not depend on the layout (Keras
keeps a kernel as (kh, kw, in, out) in both, and `Flatten` flattens in channels-last
order in both), so rewriting the config moves the model from one layout to the other:
`convert_config` does, and `in_data_format` gives `keras.models.load_model` a copy of
the file so rewritten.
"""

import contextlib
import json
import os
import shutil
import tempfile
import zipfile

import numpy as np

# Where each axis of a 4-D tensor goes: NCHW -> NHWC, and back.
_MOVES = {"channels_last": (0, 2, 3, 1), "channels_first": (0, 3, 1, 2)}


def saved_data_format(config: dict) -> str | None:
    """The `data_format` of the layers in a model's saved config (None if none has one).

    Raises:
        ValueError: its layers use both.
    """
    found = set()

    def visit(node):
        if isinstance(node, dict):
            if node.get("data_format") in _MOVES:
                found.add(node["data_format"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(config)
    if len(found) > 1:
        raise ValueError("its layers mix channels_first and channels_last")
    return found.pop() if found else None


def _is_shape(value) -> bool:
    return isinstance(value, list) and all(v is None or isinstance(v, int) for v in value)


def _move_shapes(value, order):
    """`value` (a tensor shape, or a list of them) with each 4-D shape's axes moved."""
    if _is_shape(value):
        return [value[i] for i in order] if len(value) == 4 else value
    if isinstance(value, list):
        return [_move_shapes(v, order) for v in value]
    return value


def _input_ranks(layer: dict) -> set[int]:
    """The ranks of a layer's inputs, from its build shapes or the tensors it is called on."""
    shape = (layer.get("build_config") or {}).get("input_shape")
    shapes = [shape] if _is_shape(shape) else shape if isinstance(shape, list) else []
    shapes = [s for s in shapes if _is_shape(s)] or [
        tensor.get("shape") for tensor in _tensors(layer.get("inbound_nodes"))]
    return {len(s) for s in shapes if _is_shape(s)}


def _move_layer(layer: dict, order: tuple, data_format: str) -> None:
    """Moves one layer's config (in place) to `data_format`; `order[i]` is the old axis
    that becomes axis i."""
    config = layer.get("config", {})
    name = config.get("name", layer.get("class_name"))
    ranks = _input_ranks(layer)
    if "data_format" in config and config["data_format"] in _MOVES:
        if ranks and ranks != {4}:
            raise ValueError(f"layer {name} is not 2-D")
        config["data_format"] = data_format
    if isinstance(config.get("axis"), (int, list)) and ranks != {2}:
        if ranks != {4}:
            raise ValueError(f"layer {name} takes inputs of ranks {sorted(ranks) or 'unknown'}")
        old = config["axis"] if isinstance(config["axis"], list) else [config["axis"]]
        old = [a % 4 for a in old]
        new = [order.index(a) for a in old]
        if layer.get("class_name") == "Normalization":
            # The mean and variance have one axis per kept axis, in ascending order.
            kept = sorted(old)
            moved = [kept.index(order[a]) for a in sorted(new)]
            for key in ("mean", "variance"):
                if config.get(key) is not None and np.ndim(config[key]) == len(kept):
                    config[key] = np.transpose(np.asarray(config[key]), moved).tolist()
                elif config.get(key) is not None and np.ndim(config[key]) not in (0, 1):
                    raise ValueError(f"layer {name} has a {key} of another shape")
            new = sorted(new)
        config["axis"] = new if isinstance(config["axis"], list) else new[0]
    if "batch_shape" in config:
        config["batch_shape"] = _move_shapes(config["batch_shape"], order)
    if layer.get("build_config"):
        layer["build_config"] = {k: _move_shapes(v, order) if k == "input_shape" else v
                                 for k, v in layer["build_config"].items()}


def convert_config(config: dict, data_format: str) -> dict:
    """A model's saved config (`config.json` of a `.keras` file) moved to `data_format`
    (a copy of it where it is in that format already, or has no layer with one).

    Every layer's `data_format`, 4-D channel `axis` (and a `Normalization`'s mean
    and variance) and 4-D shapes (its input, its build shapes, the tensors between
    layers) are moved; the weights need no change.

    Raises:
        ValueError: a layer cannot be moved (not 2-D, or of a shape not known).
    """
    config = json.loads(json.dumps(config))  # a copy
    if saved_data_format(config) in (None, data_format):
        return config
    order = _MOVES[data_format]

    def move(model):
        _move_layer(model, order, data_format)
        for layer in model.get("config", {}).get("layers", []):
            move(layer)
            for args in layer.get("inbound_nodes", []):
                for tensor in _tensors(args):
                    tensor["shape"] = _move_shapes(tensor.get("shape"), order)

    move(config)
    return config


def _tensors(node) -> list[dict]:
    """The configs of the Keras tensors in `node`."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            return [node["config"]]
        return [t for value in node.values() for t in _tensors(value)]
    if isinstance(node, list):
        return [t for value in node for t in _tensors(value)]
    return []


@contextlib.contextmanager
def in_data_format(path: str, data_format: str):
    """Yields `path`, or, for a `.keras` file saved in the other layout, the path of a
    temporary copy moved to `data_format` (deleted afterwards).

    Raises:
        ValueError: the model cannot be moved (`convert_config`).
    """
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        saved = saved_data_format(config)
        if saved in (None, data_format):
            yield path
            return
        moved = json.dumps(convert_config(config, data_format))
        with tempfile.TemporaryDirectory() as folder:
            copy = os.path.join(folder, os.path.basename(path))
            with zipfile.ZipFile(copy, "w") as out:
                for member in archive.infolist():
                    if member.filename == "config.json":
                        out.writestr(member, moved)
                        continue
                    with archive.open(member) as src, out.open(member, "w") as dst:
                        shutil.copyfileobj(src, dst, 2**20)
            yield copy
