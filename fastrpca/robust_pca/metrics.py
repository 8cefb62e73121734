"""Detection metrics of a predicted anomaly mask or score against a known mask."""

from __future__ import annotations

import numpy as np

from .._core.validation import as_array


def precision_recall(truth, predicted) -> tuple[float, float]:
    """Pixel-wise precision and recall of a predicted mask against the true one.

    Parameters
    ----------
    truth, predicted : array_like of bool, same shape

    Returns
    -------
    precision, recall : float
        ``tp / (tp + fp)`` and ``tp / (tp + fn)``; NaN when the denominator is 0
        (nothing predicted, or nothing to find).
    """
    truth, predicted = _bool_pair(truth, predicted, "predicted")
    tp = int(np.count_nonzero(truth & predicted))
    n_pred = int(np.count_nonzero(predicted))
    n_true = int(np.count_nonzero(truth))
    precision = tp / n_pred if n_pred else float("nan")
    recall = tp / n_true if n_true else float("nan")
    return precision, recall


def roc_auc(truth, score) -> float:
    """Area under the ROC curve of a per-pixel score against a true mask.

    Computed exactly as the Mann-Whitney statistic: the probability that a random anomalous
    pixel scores higher than a random normal one, ties counting one half.

    Parameters
    ----------
    truth : array_like of bool
    score : array_like of float, same shape

    Returns
    -------
    float in [0, 1]; 0.5 is chance.
    """
    from scipy.stats import rankdata

    truth = np.asarray(truth)
    if truth.dtype != bool:
        raise TypeError(f"truth must be a boolean mask, got dtype {truth.dtype}")
    score = as_array(score, "score", allow_complex=False)
    if score.shape != truth.shape:
        raise ValueError(f"score has shape {score.shape} but truth has shape {truth.shape}")
    truth = truth.ravel()
    n_pos = int(np.count_nonzero(truth))
    n_neg = truth.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the ROC AUC needs both anomalous and normal pixels in truth")
    ranks = rankdata(score.ravel())  # average ranks for ties
    u = ranks[truth].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _bool_pair(truth, other, name):
    truth, other = np.asarray(truth), np.asarray(other)
    for arr, label in ((truth, "truth"), (other, name)):
        if arr.dtype != bool:
            raise TypeError(f"{label} must be a boolean mask, got dtype {arr.dtype}")
    if truth.shape != other.shape:
        raise ValueError(f"{name} has shape {other.shape} but truth has shape {truth.shape}")
    return truth, other
