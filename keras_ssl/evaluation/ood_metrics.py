"""Out-of-distribution detection metrics from OOD scores."""

import numpy as np
from scipy.stats import rankdata

from keras_ssl.evaluation._validation import check_scores


def ood_metrics(scores_in, scores_out, positive="in", tpr=0.95):
    """AUROC, AUPR, FPR/TNR at a TPR and detection accuracy of OOD scores.

    Score direction (project convention): **larger score = more OOD**.
    Negate confidences (max softmax probability, max kernel value) first.

    The TPR operating point has two conventions that give different numbers
    on the same scores (see `shared/methods/metrics.md`):

    - `positive="in"` (convention A, default; ODIN / Mahalanobis lineage,
      used by the DUQ, SDE-Net and Gram papers): in-distribution is the
      positive class and a sample is accepted when `s <= t`. `t` is the
      smallest score at which at least `tpr` of the in-distribution samples
      are accepted; FPR = fraction of OOD samples accepted (`s <= t`).
    - `positive="ood"` (convention B; Hendrycks OE lineage, pytorch-ood,
      torch-uncertainty): OOD is the positive class and a sample is flagged
      when `s >= t`. `t` is the largest score at which at least `tpr` of
      the OOD samples are flagged; FPR = fraction of in-distribution samples
      flagged (`s >= t`).

    In both, `tnr = 1 - fpr`. Estimator: the exact empirical ROC from the
    sorted scores (every distinct score is a threshold, ties move together),
    and the operating point is the first threshold whose TPR reaches
    `>= tpr` (no interpolation). This equals scikit-learn's
    `roc_curve(..., drop_intermediate=False)` taking the first point with
    `tpr >= 0.95`; ODIN-style 200,000-step sweeps and Keras
    `num_thresholds` approximations differ by a few tenths of a point.

    The convention-free metrics:

    - `auroc`: probability that an OOD score exceeds an in-distribution
      score, ties counting 1/2 (exact Mann-Whitney statistic).
    - `aupr_in`: average precision (scikit-learn's step-wise definition)
      with in-distribution positive and score `-s`.
    - `aupr_out`: average precision with OOD positive and score `s`.
    - `detection_accuracy`: `max_t 0.5 * (TPR_in(t) + TNR_out(t))` with
      in-distribution accepted at `s <= t` (the SDE-Net / ODIN "DTACC").

    Args:
        scores_in: OOD scores of in-distribution samples (any shape,
            flattened).
        scores_out: OOD scores of OOD samples.
        positive: `"in"` (convention A) or `"ood"` (convention B).
        tpr: true-positive rate of the operating point, in `(0, 1]`.

    Returns:
        Dict of JSON-serialisable values: `auroc`, `aupr_in`, `aupr_out`,
        `fpr_at_95_tpr`, `tnr_at_95_tpr` (the number is `100 * tpr`, e.g.
        `fpr_at_90_tpr` for `tpr=0.9`), `detection_accuracy` (floats),
        `positive` (str), `num_in`, `num_out` (ints).

    Raises:
        ValueError: if either score set is empty or contains NaN, `positive`
            is not `"in"` / `"ood"`, or `tpr` is outside `(0, 1]`.

    Example:

    Twenty in-distribution scores 0, 1, ..., 19 and ten OOD scores
    15, 17, ..., 33. Convention A: 95% of in-distribution (19 samples) is
    accepted at `t = 18`; the OOD scores 15 and 17 are accepted too, so
    FPR = 2/10. Convention B: 95% of OOD (10 samples, since 9 < 9.5) is
    flagged at `t = 15`; the in-distribution scores 15..19 are flagged too,
    so FPR = 5/20.

    >>> import numpy as np
    >>> scores_in = np.arange(20.0)
    >>> scores_out = 15.0 + 2.0 * np.arange(10)
    >>> a = ood_metrics(scores_in, scores_out)
    >>> a["fpr_at_95_tpr"], a["tnr_at_95_tpr"], a["auroc"]
    (0.2, 0.8, 0.9625)
    >>> a["detection_accuracy"]
    0.875
    >>> ood_metrics(scores_in, scores_out, positive="ood")["fpr_at_95_tpr"]
    0.25

    Reference:
        Liang et al., "Enhancing The Reliability of Out-of-distribution
        Image Detection in Neural Networks" (ODIN), ICLR 2018; Hendrycks et
        al., "Deep Anomaly Detection with Outlier Exposure", ICLR 2019;
        pytorch-ood `utils/metrics.py`.
    """
    scores_in = check_scores(scores_in, "scores_in")
    scores_out = check_scores(scores_out, "scores_out")
    if positive not in ("in", "ood"):
        raise ValueError(f'positive must be "in" or "ood"; got {positive!r}')
    if isinstance(tpr, bool) or not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1]; got {tpr!r}")
    num_in, num_out = scores_in.size, scores_out.size

    sorted_in = np.sort(scores_in)
    sorted_out = np.sort(scores_out)
    thresholds = np.unique(np.concatenate([scores_in, scores_out]))
    # Counts of samples with s <= t (accepted as in-distribution).
    in_accepted = np.searchsorted(sorted_in, thresholds, side="right")
    out_accepted = np.searchsorted(sorted_out, thresholds, side="right")

    if positive == "in":
        needed = int(np.ceil(tpr * num_in - 1e-9))
        index = np.flatnonzero(in_accepted >= needed)[0]
        fpr = out_accepted[index] / num_out
    else:
        # Counts of samples with s >= t (flagged as OOD).
        out_flagged = num_out - np.searchsorted(
            sorted_out, thresholds, side="left"
        )
        in_flagged = num_in - np.searchsorted(
            sorted_in, thresholds, side="left"
        )
        needed = int(np.ceil(tpr * num_out - 1e-9))
        index = np.flatnonzero(out_flagged >= needed)[-1]
        fpr = in_flagged[index] / num_in

    balanced = 0.5 * (in_accepted / num_in + 1.0 - out_accepted / num_out)
    detection_accuracy = max(0.5, float(balanced.max()))

    percent = f"{round(100 * tpr, 6):g}"
    return {
        "auroc": _auroc(scores_in, scores_out),
        "aupr_in": _average_precision(-scores_in, -scores_out),
        "aupr_out": _average_precision(scores_out, scores_in),
        f"fpr_at_{percent}_tpr": float(fpr),
        f"tnr_at_{percent}_tpr": float(1.0 - fpr),
        "detection_accuracy": detection_accuracy,
        "positive": positive,
        "num_in": int(num_in),
        "num_out": int(num_out),
    }


def _auroc(scores_in, scores_out):
    """P(s_out > s_in) + 0.5 * P(s_out == s_in) from average ranks."""
    ranks = rankdata(np.concatenate([scores_in, scores_out]))
    num_in, num_out = scores_in.size, scores_out.size
    rank_sum_out = ranks[num_in:].sum()
    u_statistic = rank_sum_out - num_out * (num_out + 1) / 2.0
    return float(u_statistic / (num_in * num_out))


def _average_precision(positive_scores, negative_scores):
    """Step-wise average precision, larger score = positive (sklearn's)."""
    scores = np.concatenate([positive_scores, negative_scores])
    is_positive = np.concatenate(
        [np.ones(positive_scores.size), np.zeros(negative_scores.size)]
    )
    order = np.argsort(-scores, kind="mergesort")
    scores, is_positive = scores[order], is_positive[order]
    # Last index of each group of tied scores.
    group_end = np.append(np.flatnonzero(scores[1:] != scores[:-1]), -1)
    true_positives = np.cumsum(is_positive)[group_end]
    predicted_positives = np.arange(1, scores.size + 1)[group_end]
    precision = true_positives / predicted_positives
    recall = true_positives / positive_scores.size
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))
