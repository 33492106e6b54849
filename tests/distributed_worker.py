"""One process of a data-parallel run, for test_distributed.py.

    python distributed_worker.py DUMP_DIR [train_cifar10.py flags...]

Runs `train_cifar10.main` and also saves what only this process knows, which the
run's own files (written by process 0 alone) cannot show: its final weights,
the history its `fit` returned and its test-set predictions, as
`DUMP_DIR/process_<i>.npz` and `DUMP_DIR/process_<i>.json`.
"""

import json
import os
import sys

import numpy as np

import train_cifar10
from pyimagesearch.training import distributed, engine

DUMP = sys.argv[1]
seen = {}
_train, _predict = engine.train, distributed.predict


def _recording_train(model, data, *args, **kwargs):
    history = _train(model, data, *args, **kwargs)
    seen["data_seed"] = data.seed
    seen["weights"] = model.get_weights()
    seen["history"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    return history


def _recording_predict(model, data, verbose=0):
    probs = _predict(model, data, verbose)
    if not model.name.endswith("_mirrored"):  # the model's own view, not flip TTA's
        seen["probs"] = probs
    return probs


engine.train, distributed.predict = _recording_train, _recording_predict
status = train_cifar10.main(sys.argv[2:])
if status == 0:
    stem = os.path.join(DUMP, f"process_{distributed.current().process}")
    np.savez(stem + ".npz", *seen["weights"], probs=seen["probs"])
    with open(stem + ".json", "w") as f:
        json.dump({"history": seen["history"], "data_seed": seen["data_seed"],
                   **vars(distributed.current())}, f)
sys.exit(status)
