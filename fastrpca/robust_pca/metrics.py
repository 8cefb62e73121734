"""Detection metrics of a predicted anomaly mask or score against a known mask.

:func:`cdnet_metrics` gives the seven measures of the change detection benchmark
CDnet (Goyette, Jodoin, Porikli, Konrad & Ishwar, "changedetection.net: a new change
detection benchmark dataset", CVPR workshops 2012; Wang et al. 2014): recall,
specificity, false positive and false negative rates, percentage of wrong
classifications, precision and F-measure. :func:`best_f_measure` is the F-measure of the
best single threshold on a score (an oracle, for comparing scores rather than rules).
"""

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


def cdnet_metrics(truth, predicted) -> dict:
    """The CDnet measures of a predicted foreground mask against the true one, per pixel.

    Parameters
    ----------
    truth, predicted : array_like of bool, same shape
        True where a pixel is foreground (all frames pooled).

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``tn`` (counts) and ``recall = tp / (tp + fn)``,
        ``specificity = tn / (tn + fp)``, ``fpr = fp / (fp + tn)``,
        ``fnr = fn / (tp + fn)``, ``pwc = 100 (fn + fp) / (tp + fn + fp + tn)``,
        ``precision = tp / (tp + fp)``, ``f_measure = 2 tp / (2 tp + fp + fn)`` (the
        harmonic mean of precision and recall); a ratio whose denominator is 0 is NaN.
    """
    truth, predicted = _bool_pair(truth, predicted, "predicted")
    tp = int(np.count_nonzero(truth & predicted))
    fp = int(np.count_nonzero(predicted)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    tn = truth.size - tp - fp - fn

    def ratio(a, b):
        return a / b if b else float("nan")

    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "recall": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "fpr": ratio(fp, fp + tn),
        "fnr": ratio(fn, tp + fn),
        "pwc": ratio(100.0 * (fn + fp), truth.size),
        "precision": ratio(tp, tp + fp),
        "f_measure": ratio(2 * tp, 2 * tp + fp + fn),
    }


def best_f_measure(truth, score) -> tuple[float, float]:
    """The largest F-measure of ``score > t`` over every threshold t, and that t.

    Parameters
    ----------
    truth : array_like of bool
    score : array_like of float, same shape

    Returns
    -------
    f_measure, threshold : float
        The oracle F-measure of the score (what the best fixed threshold achieves) and
        the threshold giving it (a mask ``score > threshold``).
    """
    truth = np.asarray(truth)
    if truth.dtype != bool:
        raise TypeError(f"truth must be a boolean mask, got dtype {truth.dtype}")
    score = as_array(score, "score", allow_complex=False)
    if score.shape != truth.shape:
        raise ValueError(f"score has shape {score.shape} but truth has shape {truth.shape}")
    t = truth.ravel()
    n_true = int(np.count_nonzero(t))
    if n_true == 0:
        raise ValueError("the F-measure needs foreground pixels in truth")
    order = np.argsort(-score.ravel(), kind="stable")
    s = score.ravel()[order]
    tp = np.cumsum(t[order])
    flagged = np.arange(1, s.size + 1)
    f = 2.0 * tp / (flagged + n_true)
    # A threshold cuts between distinct scores only: entry i can end the flagged set only
    # if the next score is smaller.
    f[:-1][s[1:] == s[:-1]] = -1.0
    i = int(np.argmax(f))
    threshold = float(s[i + 1]) if i + 1 < s.size else float(np.nextafter(s[i], -np.inf))
    return float(f[i]), threshold


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
