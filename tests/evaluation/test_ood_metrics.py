import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve

from keras_ssl.evaluation import ood_metrics


def sklearn_reference(scores_in, scores_out, tpr=0.95):
    """The same metrics from scikit-learn's exact ROC / AP."""
    scores = np.concatenate([scores_in, scores_out])
    is_ood = np.concatenate(
        [np.zeros(len(scores_in)), np.ones(len(scores_out))]
    )
    # Convention A: in-distribution positive, score -s.
    fpr_a, tpr_a, _ = roc_curve(1 - is_ood, -scores, drop_intermediate=False)
    # Convention B: OOD positive, score s.
    fpr_b, tpr_b, _ = roc_curve(is_ood, scores, drop_intermediate=False)
    return {
        "auroc": roc_auc_score(is_ood, scores),
        "aupr_in": average_precision_score(1 - is_ood, -scores),
        "aupr_out": average_precision_score(is_ood, scores),
        "fpr_a": fpr_a[np.argmax(tpr_a >= tpr)],
        "fpr_b": fpr_b[np.argmax(tpr_b >= tpr)],
        "detection_accuracy": np.max(0.5 * (tpr_a + 1 - fpr_a)),
    }


def assert_matches_sklearn(scores_in, scores_out, tpr=0.95):
    expected = sklearn_reference(scores_in, scores_out, tpr)
    key = f"{round(100 * tpr, 6):g}"
    a = ood_metrics(scores_in, scores_out, positive="in", tpr=tpr)
    b = ood_metrics(scores_in, scores_out, positive="ood", tpr=tpr)
    for name in ("auroc", "aupr_in", "aupr_out", "detection_accuracy"):
        assert a[name] == pytest.approx(expected[name], abs=1e-12), name
        assert b[name] == a[name]
    assert a[f"fpr_at_{key}_tpr"] == pytest.approx(expected["fpr_a"])
    assert b[f"fpr_at_{key}_tpr"] == pytest.approx(expected["fpr_b"])
    assert a[f"tnr_at_{key}_tpr"] == pytest.approx(1 - expected["fpr_a"])
    assert b[f"tnr_at_{key}_tpr"] == pytest.approx(1 - expected["fpr_b"])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("tpr", [0.95, 0.9, 0.8])
def test_random_scores_match_sklearn(seed, tpr):
    rng = np.random.default_rng(seed)
    scores_in = rng.normal(0.0, 1.0, size=rng.integers(20, 300))
    scores_out = rng.normal(1.0, 1.5, size=rng.integers(20, 300))
    assert_matches_sklearn(scores_in, scores_out, tpr)


@pytest.mark.parametrize("seed", range(5))
def test_tied_scores_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    scores_in = rng.integers(0, 6, size=77).astype(float)
    scores_out = rng.integers(2, 8, size=41).astype(float)
    assert_matches_sklearn(scores_in, scores_out)
    assert_matches_sklearn(scores_in, scores_out, tpr=0.9)


def test_handcrafted_ties_by_hand():
    scores_in = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    scores_out = [3, 5, 6, 7]
    # A: 90% of 10 in-distribution accepted first at t = 5 (all 10);
    #    OOD with s <= 5 is {3, 5}: FPR = 2/4.
    a = ood_metrics(scores_in, scores_out, positive="in", tpr=0.9)
    assert a["fpr_at_90_tpr"] == 0.5
    assert a["tnr_at_90_tpr"] == 0.5
    # B: 90% of 4 OOD needs all 4 flagged, t = 3; in-distribution with
    #    s >= 3 is {3, 3, 4, 4, 5, 5}: FPR = 6/10.
    b = ood_metrics(scores_in, scores_out, positive="ood", tpr=0.9)
    assert b["fpr_at_90_tpr"] == pytest.approx(0.6)
    # AUROC: out 3 beats 4 in and ties 2 -> 5; out 5 -> 8 + 1; 6, 7 -> 10.
    assert a["auroc"] == pytest.approx((5 + 9 + 10 + 10) / 40)
    assert_matches_sklearn(
        np.array(scores_in, float), np.array(scores_out, float), tpr=0.9
    )


def test_conventions_differ_on_the_docstring_example():
    scores_in = np.arange(20.0)
    scores_out = 15.0 + 2.0 * np.arange(10)
    a = ood_metrics(scores_in, scores_out)
    b = ood_metrics(scores_in, scores_out, positive="ood")
    assert a["positive"] == "in" and b["positive"] == "ood"
    # A: t = 18 (19/20 accepted); OOD 15, 17 accepted.
    assert a["fpr_at_95_tpr"] == 0.2
    # B: t = 15 (10/10 flagged); in-distribution 15..19 flagged.
    assert b["fpr_at_95_tpr"] == 0.25
    assert a["auroc"] == b["auroc"] == pytest.approx(0.9625)
    assert a["detection_accuracy"] == pytest.approx(0.875)
    assert (a["num_in"], a["num_out"]) == (20, 10)


def test_score_direction_and_extremes():
    separated = ood_metrics(np.zeros(10), np.ones(5))
    assert separated["auroc"] == 1.0
    assert separated["aupr_in"] == separated["aupr_out"] == 1.0
    assert separated["fpr_at_95_tpr"] == 0.0
    assert separated["detection_accuracy"] == 1.0
    # Confidence passed by mistake (larger = more in-distribution).
    reversed_ = ood_metrics(np.ones(10), np.zeros(5))
    assert reversed_["auroc"] == 0.0
    assert reversed_["fpr_at_95_tpr"] == 1.0
    same = ood_metrics(np.ones(10), np.ones(5))
    assert same["auroc"] == 0.5
    assert same["detection_accuracy"] == 0.5


def test_result_is_json_serialisable_with_named_keys():
    result = ood_metrics([0.1, 0.2, 0.3], [0.25, 0.4], tpr=0.999)
    assert set(result) == {
        "auroc",
        "aupr_in",
        "aupr_out",
        "fpr_at_99.9_tpr",
        "tnr_at_99.9_tpr",
        "detection_accuracy",
        "positive",
        "num_in",
        "num_out",
    }
    assert json.loads(json.dumps(result)) == result
    assert all(type(result[k]) is float for k in ("auroc", "aupr_in"))


@pytest.mark.parametrize(
    "scores_in, scores_out, kwargs, message",
    [
        ([], [1.0], {}, "scores_in must not be empty"),
        ([1.0], [], {}, "scores_out must not be empty"),
        ([1.0, np.nan], [1.0], {}, "scores_in contains NaN"),
        ([1.0], [np.nan], {}, "scores_out contains NaN"),
        ([1.0], [2.0], {"positive": "out"}, "positive must be"),
        ([1.0], [2.0], {"tpr": 0.0}, "tpr must be"),
        ([1.0], [2.0], {"tpr": 95}, "tpr must be"),
    ],
)
def test_rejects_bad_input(scores_in, scores_out, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ood_metrics(scores_in, scores_out, **kwargs)
