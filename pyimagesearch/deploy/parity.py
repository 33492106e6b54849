"""The check every export ends with: does the exported model predict as the `.keras` one?

On held-out images (the test split), a float32 export must give the same top-1 class
as the Keras model for at least `MIN_AGREEMENT` of them, and every probability within
`MAX_PROB_DIFF`; an int8 export must lose at most `MAX_INT8_LOSS` points of accuracy.
"""

import numpy as np

MIN_AGREEMENT = 0.999
MAX_PROB_DIFF = 1e-3
MAX_INT8_LOSS = 1.0  # points of top-1 accuracy


def compare(reference: np.ndarray, exported: np.ndarray, labels: np.ndarray,
            int8: bool) -> dict:
    """The check's figures and verdict for the probabilities `reference` (Keras) and
    `exported` of the same images with true `labels`."""
    reference, exported = np.asarray(reference), np.asarray(exported)
    labels = np.asarray(labels).ravel()
    agreement = float(np.mean(reference.argmax(1) == exported.argmax(1)))
    diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    keras_acc = float(np.mean(reference.argmax(1) == labels)) * 100
    acc = float(np.mean(exported.argmax(1) == labels)) * 100
    result = {"images": len(labels), "top1_agreement": agreement,
              "max_probability_difference": diff, "keras_accuracy": keras_acc,
              "accuracy": acc, "int8": int8}
    if int8:
        result["rule"] = f"int8: at most {MAX_INT8_LOSS:g} point of accuracy lost"
        result["passed"] = bool(keras_acc - acc <= MAX_INT8_LOSS + 1e-9)
    else:
        result["rule"] = (f"float: the same top-1 class on at least {MIN_AGREEMENT:.1%} of "
                          f"the images, probabilities within {MAX_PROB_DIFF:g}")
        result["passed"] = bool(agreement >= MIN_AGREEMENT and diff <= MAX_PROB_DIFF)
    return result


def describe(result: dict) -> str:
    """One line of the check's figures."""
    text = (f"{result['images']} held-out images: the same top-1 class as the .keras model on "
            f"{result['top1_agreement']:.2%}, probabilities within "
            f"{result['max_probability_difference']:.1e}; accuracy {result['accuracy']:.2f}% "
            f"(.keras {result['keras_accuracy']:.2f}%)")
    return text
