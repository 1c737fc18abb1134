"""Dataset-level metrics that a per-example mean cannot give: the mean ROC AUC of multi-label tasks.

E.g. CheXpert evaluated on 5 of its labels: the metric is the
mean over labels of the ROC AUC of the scores (logits or probabilities).
"""
from __future__ import annotations

import numpy as np

from repro.errors import BadArgument


def label_aucs(y_true, scores) -> np.ndarray:
    """ROC AUC of every label column (sklearn ``roc_auc_score``); NaN for a column with one class only."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if y_true.ndim != 2 or y_true.shape != scores.shape:
        raise BadArgument(f"mean AUC needs labels and scores of one shape (N, labels); got {y_true.shape} "
                          f"and {scores.shape}")
    aucs = np.full(y_true.shape[1], np.nan)
    for column in range(y_true.shape[1]):
        if np.unique(y_true[:, column]).size == 2:
            aucs[column] = roc_auc_score(y_true[:, column], scores[:, column])
    return aucs


def mean_auc(y_true, scores) -> float:
    """Mean over the label columns (CheXpert: 5) of the ROC AUC of ``scores`` (logits or probabilities).

    A column whose labels are all one class has no AUC and is skipped (the
    official code would raise there; on its 50k test set it never happens).
    Raises BadArgument when every column is skipped.
    """
    aucs = label_aucs(y_true, scores)
    if np.all(np.isnan(aucs)):
        raise BadArgument("mean AUC is undefined: every label column has a single class")
    return float(np.nanmean(aucs))
