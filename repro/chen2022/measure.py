"""Chen et al. 2022's transferability, the domain measures G and D, and the regression of ln T (pure NumPy).

Transferability (Chen et al. 2022, official ``cal_transferability.py``)::

    D(a, b) = mean_i |a_i - b_i|                               (one tensor, normalised L1)
    D_l(a, b) = mean over the tensors of group l of D(a, b)    (a bottleneck: its three convs)
    T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB)
    T = mean of T_l over every group but the classifier

and its two parts, reported beside it: how far pre-training and fine-tuning
moved the body, mean over blocks 1..17 of D_l(theta_r, theta_A) and of
D_l(theta_A, theta_FB) (T_l is near D_l(theta_r, theta_A) / D_l(theta_A,
theta_FB) when fine-tuning moves little).

Domain gap and intraclass variance (papers/chen2022/README.md: the paper's
definitions are not available; these are the suite's), both on the
pre-trained network's GAP features and in units of the source features'
total variance ``v_S = tr(Sigma_S)``::

    G = (||mu_S - mu_T||^2 + tr(Sigma_S + Sigma_T - 2 (Sigma_S Sigma_T)^{1/2})) / v_S   (Frechet distance)
    D = mean_c tr(Sigma_{T,c}) / v_S                                                    (within-class variance)

Regression (the official README's fit):
``ln T = b_0 + b_G z(G) + b_D z(D) + b_N z(ln N)`` by least squares, z the
standardisation over the targets (population standard deviation).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import scipy.linalg

CLASSIFIER = "fc"


def mean_abs(a: np.ndarray, b: np.ndarray) -> float:
    """D(a, b) = mean |a - b| (the official ``(p1 - p2).abs().mean()``)."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def group_distances(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray],
                    groups: Mapping[str, str]) -> dict[str, float]:
    """D_l(a, b) per group, in the groups' order of first appearance: the mean of D over the group's tensors
    (``groups`` maps tensor path -> group; ``a`` and ``b`` map the same paths to arrays)."""
    per_group: dict[str, list[float]] = {}
    for path, group in groups.items():
        per_group.setdefault(group, []).append(mean_abs(a[path], b[path]))
    return {group: float(np.mean(values)) for group, values in per_group.items()}


def layer_transferability(random: Mapping[str, np.ndarray], pretrained: Mapping[str, np.ndarray],
                          finetuned: Mapping[str, np.ndarray], groups: Mapping[str, str]) -> dict[str, float]:
    """T_l = D_l(theta_r, theta_FB) / D_l(theta_A, theta_FB) per group, in the groups' order of first appearance.

    Distances are averaged over a group's tensors before the ratio (the official order).
    """
    d_random = group_distances(random, finetuned, groups)
    d_pretrained = group_distances(pretrained, finetuned, groups)
    return {group: d_random[group] / d_pretrained[group] for group in d_random}


def body_mean(per_group: Mapping[str, float]) -> float:
    """The mean of a per-group quantity over every group but the classifier (the code's blocks 1..17)."""
    values = [value for group, value in per_group.items() if group != CLASSIFIER]
    if not values:
        raise ValueError("no group besides the classifier")
    return float(np.mean(values))


def overall_transferability(layers: Mapping[str, float]) -> float:
    """The overall T: the mean of T_l over blocks 1..17 (:func:`body_mean`)."""
    return body_mean(layers)


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need an (n >= 2, d) feature matrix, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False, bias=True)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}) of two feature sets (rows = examples)."""
    mu_a, cov_a = _moments(a)
    mu_b, cov_b = _moments(b)
    with warnings.catch_warnings():
        # with fewer examples than feature dimensions (smoke, small targets) S_a S_b is singular; sqrtm still
        # returns its principal root, which is what the trace needs, and warns on every call
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
    root = np.real(root)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def domain_gap(source: np.ndarray, target: np.ndarray) -> float:
    """G = Frechet distance(source, target) / tr(Sigma_source)."""
    return frechet_distance(source, target) / float(np.trace(_moments(source)[1]))


def intraclass_variance(source: np.ndarray, target: np.ndarray, labels: np.ndarray) -> float:
    """D = mean over the target's classes of tr(Sigma_class) / tr(Sigma_source)."""
    labels = np.asarray(labels)
    target = np.asarray(target, np.float64)
    traces = [float(np.trace(np.cov(target[labels == c], rowvar=False, bias=True)))
              for c in np.unique(labels) if np.sum(labels == c) >= 2]
    if not traces:
        raise ValueError("no class has two examples")
    return float(np.mean(traces)) / float(np.trace(_moments(source)[1]))


@dataclass(frozen=True)
class Fit:
    """``ln T = intercept + sum_k coefficients[k] z_k``; ``r2`` of the fit, over ``n`` targets; ``standard_errors``
    the ordinary least-squares ones, ``sqrt(s^2 [(X'X)^-1]_kk)`` with ``s^2 = RSS / (n - k - 1)``."""

    coefficients: dict[str, float]
    intercept: float
    r2: float
    n: int
    standard_errors: dict[str, float]


def standardized_regression(table: Mapping[str, Sequence[float]], response: Sequence[float]) -> Fit:
    """Least squares of ``response`` on the standardised columns of ``table`` plus an intercept.

    A constant column cannot be standardised and raises ``ValueError``; so
    does a table with fewer rows than columns + 2 (no residual degree of
    freedom) and one whose columns are linearly dependent (no unique fit).
    """
    names = list(table)
    y = np.asarray(response, np.float64)
    columns = []
    for name in names:
        x = np.asarray(table[name], np.float64)
        if len(x) != len(y):
            raise ValueError(f"column {name!r} has {len(x)} values for {len(y)} responses")
        if np.std(x) == 0:
            raise ValueError(f"column {name!r} is constant: it cannot be standardised")
        columns.append((x - x.mean()) / x.std())
    if len(y) < len(names) + 2:
        raise ValueError(f"{len(y)} targets are too few for {len(names)} regressors and an intercept")
    design = np.column_stack([np.ones(len(y))] + columns)
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ValueError(f"the columns {', '.join(names)} are linearly dependent over these {len(y)} targets: "
                         "their coefficients are not identified")
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    total = float(np.sum((y - y.mean()) ** 2))
    rss = float(residual @ residual)
    r2 = 1.0 - rss / total if total > 0 else float("nan")
    covariance = rss / (len(y) - design.shape[1]) * np.linalg.inv(design.T @ design)
    standard_errors = np.sqrt(np.diag(covariance))[1:]
    return Fit(dict(zip(names, map(float, beta[1:]))), float(beta[0]), r2, len(y),
               dict(zip(names, map(float, standard_errors))))
