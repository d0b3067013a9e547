"""Tests of nmrpick_ml.metrics: hand-derived answers and independent re-computations."""

import itertools
import math
import sys

import numpy as np
import pytest

from nmrpick_ml import NmrpickError
from nmrpick_ml.metrics import (
    average_precision,
    box_iou,
    detection_metrics,
    format_table,
    match_detections,
    match_peaks,
    pool_detections,
    pr_curve,
    recall_by_band,
    reliability_table,
)

FWHH4 = [4.0, 4.0]  # tolerance max(1.5, 0.5 * 4) = 2 points per axis


# ---------------------------------------------------------------- helpers

def voc_ap_devkit(tp, scores, n_true):
    """The VOC2010+ devkit's AP, written loop by loop as in its MATLAB/Python code."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ctp = cfp = 0
    rec, prec = [], []
    for i in order:
        ctp += bool(tp[i])
        cfp += not tp[i]
        rec.append(ctp / n_true)
        prec.append(ctp / (ctp + cfp))
    mrec = [0.0] + rec + [1.0]
    mpre = [0.0] + prec + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]
               for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def grid_boxes(n, size=4.0, step=10.0):
    """n disjoint square boxes on a row."""
    x0 = np.arange(n) * step
    return np.stack([np.zeros(n), x0, np.full(n, size), x0 + size], axis=1)


# ---------------------------------------------------------------- IoU

def test_box_iou_known_areas():
    a = [[0, 0, 2, 2], [0, 0, 4, 4]]
    b = [[1, 1, 3, 3],      # overlap 1 with a0: 1 / 7
         [1, 1, 3, 3],
         [0, 0, 2, 2],      # identical to a0; inside a1: 4 / 16
         [2, 0, 4, 2],      # touches a0 along an edge: 0
         [10, 10, 12, 13]]  # disjoint
    iou = box_iou(a, b)
    assert iou.shape == (2, 5)
    np.testing.assert_allclose(iou[0], [1 / 7, 1 / 7, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(iou[1], [4 / 16, 4 / 16, 4 / 16, 4 / 16, 0.0])
    # rectangles: 2x6 and 4x3 crossing: intersection 2x3 = 6, union 12 + 12 - 6 = 18
    assert box_iou([[0, 0, 2, 6]], [[-1, 1, 3, 4]])[0, 0] == pytest.approx(6 / 18)
    # fractional coordinates, symmetric
    a = [[0.5, 0.5, 2.5, 1.5]]
    b = [[1.5, 1.0, 3.5, 2.0]]
    assert box_iou(a, b)[0, 0] == pytest.approx(0.5 / 3.5) == box_iou(b, a)[0, 0]


def test_box_iou_empty_and_degenerate():
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert box_iou([], []).shape == (0, 0)
    assert box_iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0  # empty union, no warning


def test_box_iou_validates():
    with pytest.raises(NmrpickError, match=r"shape \(n, 4\)"):
        box_iou([[0, 0, 1]], [[0, 0, 1, 1]])
    with pytest.raises(NmrpickError, match="y1 >= y0"):
        box_iou([[2, 0, 1, 1]], [[0, 0, 1, 1]])
    with pytest.raises(NmrpickError, match="finite"):
        box_iou([[0, 0, np.nan, 1]], [[0, 0, 1, 1]])
    with pytest.raises(TypeError):
        box_iou([["a", "b", "c", "d"]], [[0, 0, 1, 1]])


# ---------------------------------------------------------------- box matching

def test_duplicate_detection_is_one_fp():
    truth = [[0, 0, 4, 4]]
    tp, matched = match_detections([[0, 0, 4, 4], [0, 0, 4, 4]], [0.9, 0.8], truth)
    assert tp.tolist() == [True, False] and matched.tolist() == [True]


def test_higher_score_wins_even_with_lower_iou():
    truth = [[0, 0, 4, 4]]
    # first detection fits perfectly but has the lower score
    tp, matched = match_detections([[0, 0, 4, 4], [0, 0, 4, 5]], [0.3, 0.7], truth)
    assert tp.tolist() == [False, True] and matched.tolist() == [True]


def test_iou_below_threshold_is_fp_and_fn():
    truth = [[0, 0, 4, 4]]
    pred = [[0, 2, 4, 6]]  # IoU 8 / 24 = 1/3
    tp, matched = match_detections(pred, [0.9], truth, iou_threshold=0.5)
    assert tp.tolist() == [False] and matched.tolist() == [False]
    tp, matched = match_detections(pred, [0.9], truth, iou_threshold=0.3)
    assert tp.tolist() == [True] and matched.tolist() == [True]
    # the threshold is inclusive (IoU >= epsilon): exactly 1/3 at 1/3
    tp, _ = match_detections(pred, [0.9], truth, iou_threshold=1 / 3)
    assert tp.tolist() == [True]


def test_voc_duplicate_does_not_fall_back_to_second_best_truth():
    g1, g2 = [0, 0, 4, 4], [0, 1, 4, 5]  # IoU(g1, g2) = 12/20
    d1, d2 = [0, 0, 4, 4], [0, 0, 4, 4.5]
    iou = box_iou([d2], [g1, g2])[0]
    assert iou[0] > iou[1] >= 0.5  # d2's best truth is g1, g2 would also qualify
    tp, matched = match_detections([d1, d2], [0.9, 0.8], [g1, g2])
    assert tp.tolist() == [True, False] and matched.tolist() == [True, False]


def test_match_detections_classes_and_empty():
    truth, pred = [[0, 0, 4, 4]], [[0, 0, 4, 4]]
    tp, m = match_detections(pred, [0.9], truth, pred_labels=[2], true_labels=[1])
    assert tp.tolist() == [False] and m.tolist() == [False]
    tp, m = match_detections(np.zeros((0, 4)), [], truth)
    assert tp.shape == (0,) and m.tolist() == [False]
    tp, m = match_detections(pred, [0.9], np.zeros((0, 4)))
    assert tp.tolist() == [False] and m.shape == (0,)
    with pytest.raises(NmrpickError, match="length 1"):
        match_detections(pred, [0.9, 0.1], truth)
    with pytest.raises(NmrpickError, match="iou_threshold"):
        match_detections(pred, [0.9], truth, iou_threshold=0)
    with pytest.raises(NmrpickError, match="both"):
        match_detections(pred, [0.9], truth, pred_labels=[1])


# ---------------------------------------------------------------- AP / mAP

def test_average_precision_hand_values():
    # TP FP TP, 3 objects: 1/3 * 1 + 1/3 * 2/3
    assert average_precision([1, 0, 1], [0.9, 0.8, 0.7], 3) == pytest.approx(5 / 9)
    # ranking is by score, not input order: FP TP TP; precisions 0, 1/2, 2/3 at
    # recalls 0, 1/2, 1; the envelope lifts 1/2 to 2/3 -> 0.5 * 2/3 + 0.5 * 2/3
    assert average_precision([1, 0, 1], [0.5, 0.9, 0.4], 2) == pytest.approx(2 / 3)
    assert average_precision([1, 1], [0.2, 0.1], 2) == 1.0
    assert average_precision([1, 1], [0.2, 0.1], 4) == 0.5
    assert average_precision([], [], 5) == 0.0
    assert average_precision([], [], 0) == 1.0
    assert average_precision([0, 0], [0.2, 0.1], 0) == 0.0
    with pytest.raises(NmrpickError, match="n_true"):
        average_precision([1, 1], [0.2, 0.1], 1)


def test_average_precision_matches_devkit_loop():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        tp = rng.random(n) < 0.6
        scores = rng.random(n)
        n_true = int(tp.sum() + rng.integers(0, 5)) or 1
        assert average_precision(tp, scores, n_true) == pytest.approx(
            voc_ap_devkit(tp.tolist(), scores.tolist(), n_true), abs=1e-12)


def _dataset(rng, n_images=6):
    """Per image 1-4 true boxes, found exactly (scores 0.6-1), plus 1 far-away FP (0-0.4)."""
    preds, truths = [], []
    for _ in range(n_images):
        k = int(rng.integers(1, 5))
        gt = grid_boxes(k) + rng.integers(0, 50)
        fp = np.array([[100.0, 100.0, 104.0, 104.0]])
        boxes = np.vstack([gt, fp])
        scores = np.r_[rng.uniform(0.6, 1.0, k), rng.uniform(0.0, 0.4, 1)]
        preds.append((boxes, scores))
        truths.append(gt)
    return preds, truths


def test_map_perfect_is_one_and_none_is_zero():
    rng = np.random.default_rng(0)
    _, truths = _dataset(rng)
    perfect = [(t, np.linspace(0.9, 0.5, len(t))) for t in truths]
    m = detection_metrics(perfect, truths)
    n = sum(len(t) for t in truths)
    assert m["mAP"] == 1.0 and m["TP"] == n == m["n_true"] == m["n_pred"]
    assert m["FP"] == m["FN"] == 0 and m["FP_percent"] == m["FN_percent"] == 0.0
    assert m["precision"] == m["recall"] == 1.0
    none = [(np.zeros((0, 4)), np.zeros(0)) for _ in truths]
    m = detection_metrics(none, truths)
    assert m["mAP"] == 0.0 and m["FN"] == n and m["FN_percent"] == 100.0
    assert m["n_pred"] == 0 and m["precision"] == 0.0 and m["recall"] == 0.0


def test_map_drops_when_scores_are_shuffled():
    rng = np.random.default_rng(0)
    preds, truths = _dataset(rng)
    base = detection_metrics(preds, truths)
    # every TP outranks every FP, and all objects are found: AP 1
    assert base["mAP"] == 1.0 and base["FP"] == len(preds) and base["FN"] == 0
    assert base["FP_percent"] == pytest.approx(100 * len(preds) / base["n_true"])
    all_scores = np.concatenate([s for _, s in preds])
    sizes = np.cumsum([len(s) for _, s in preds])[:-1]
    for seed in range(5):
        shuffled = np.split(np.random.default_rng(seed).permutation(all_scores), sizes)
        m = detection_metrics([(b, s) for (b, _), s in zip(preds, shuffled)], truths)
        # same detections, so same counts; only the ranking changed
        assert (m["TP"], m["FP"], m["FN"]) == (base["TP"], base["FP"], base["FN"])
        assert m["mAP"] < base["mAP"] - 0.01, seed


def test_detection_metrics_hand_case_and_threshold():
    # image 0: one peak found twice (1 TP, 1 duplicate FP); image 1: one missed peak
    preds = [([[0, 0, 4, 4], [0, 0, 4, 4]], [0.9, 0.95]),
             ([[50, 50, 54, 54]], [0.3])]
    truths = [[[0, 0, 4, 4]], [[10, 10, 14, 14]]]
    m = detection_metrics(preds, truths)
    assert (m["TP"], m["FP"], m["FN"], m["n_true"], m["n_pred"]) == (1, 2, 1, 2, 3)
    assert m["FP_percent"] == 100.0 and m["FN_percent"] == 50.0
    assert m["precision"] == pytest.approx(1 / 3) and m["recall"] == 0.5
    assert m["mAP"] == pytest.approx(0.5)  # ranked TP FP FP: 0.5 * 1
    m = detection_metrics(preds, truths, score_threshold=0.92)  # only the duplicate is kept
    assert (m["TP"], m["FP"], m["n_pred"]) == (1, 0, 1) and m["mAP"] == 0.5


def test_detection_metrics_classes_dicts_and_empty():
    preds = [{"boxes": [[0, 0, 4, 4], [10, 0, 14, 4]], "scores": [0.9, 0.8],
              "labels": [1, 2]}]
    truths = [(np.array([[0, 0, 4, 4], [10, 0, 14, 4]]), np.array([1, 1]))]
    m = detection_metrics(preds, truths)
    # class 1: 1 TP of 2 objects -> AP 0.5; class 2: only a FP -> AP 0
    assert m["AP_per_class"] == {1: 0.5, 2: 0.0} and m["mAP"] == 0.25
    assert (m["TP"], m["FP"], m["FN"]) == (1, 1, 1)
    m = detection_metrics([], [])
    assert m["mAP"] == 1.0 and m["n_true"] == 0 and m["FP_percent"] == 0.0
    m = detection_metrics([([[0, 0, 1, 1]], [0.5])], [np.zeros((0, 4))])
    assert m["mAP"] == 0.0 and m["FP_percent"] == math.inf and m["recall"] == 0.0
    with pytest.raises(NmrpickError, match="one entry per image"):
        detection_metrics([([[0, 0, 1, 1]], [0.5])], [])
    with pytest.raises(TypeError, match="preds"):
        detection_metrics("boxes", [])


def test_pr_curve_and_pool():
    preds = [([[0, 0, 4, 4], [20, 20, 24, 24]], [0.9, 0.5]),
             ([[0, 0, 4, 4]], [0.5])]
    truths = [[[0, 0, 4, 4]], [[0, 0, 4, 4], [9, 9, 12, 12]]]
    pool = pool_detections(preds, truths)
    assert pool["tp"].tolist() == [True, False, True] and pool["n_true"] == 3
    assert pool["image"].tolist() == [0, 0, 1] and pool["n_true_per_class"] == {1: 3}
    c = pr_curve(pool["tp"], pool["score"], pool["n_true"])
    # threshold 0.9 keeps 1 TP; threshold 0.5 keeps all three (ties grouped)
    assert c["score"].tolist() == [0.9, 0.5]
    assert c["tp"].tolist() == [1, 2] and c["fp"].tolist() == [0, 1]
    np.testing.assert_allclose(c["precision"], [1.0, 2 / 3])
    np.testing.assert_allclose(c["recall"], [1 / 3, 2 / 3])
    assert pr_curve([], [], 3)["score"].shape == (0,)


# ---------------------------------------------------------------- peak matching

def test_match_peaks_hungarian_beats_greedy_nearest():
    true = [[0, 10.0], [0, 11.4]]
    pred = [[0, 10.2],   # nearest to T0 (0.2), also within reach of T1 (1.2)
            [0, 8.8]]    # can reach T0 only (1.2 away)
    fwhh = [[2.0, 2.0]] * 2  # tolerance 1.5 (min_tol)
    # greedy nearest-first would pair P0-T0 and leave P1 and T1 unmatched
    r = match_peaks(pred, true, fwhh)
    assert r.pairs.tolist() == [[0, 1], [1, 0]]
    assert (r.tp, r.fp, r.fn) == (2, 0, 0) and r.f1 == 1.0
    np.testing.assert_allclose(r.centre_error, [1.2, 1.2])
    # with the same cardinality, the least total distance wins (no crossing)
    r = match_peaks([[0, 10.2], [0, 11.2]], true, fwhh)
    assert r.pairs.tolist() == [[0, 0], [1, 1]]
    np.testing.assert_allclose(r.centre_error, [0.2, 0.2])


def _brute_force_best(pred, true, tol):
    """Max pairs, then min total normalised distance, over all one-to-one matchings."""
    n, m = len(pred), len(true)
    d = np.sqrt((((pred[:, None] - true[None]) / tol[None]) ** 2).sum(-1))
    best = (0, 0.0)
    for k in range(min(n, m), 0, -1):
        costs = [sum(d[i, j] for i, j in zip(ps, ts))
                 for ps in itertools.combinations(range(n), k)
                 for ts in itertools.permutations(range(m), k)
                 if all(d[i, j] <= 1 for i, j in zip(ps, ts))]
        if costs:
            return (k, min(costs))
    return best


def test_match_peaks_is_globally_optimal_on_random_clusters():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n, m = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        pred = rng.uniform(0, 5, (n, 2))
        true = rng.uniform(0, 5, (m, 2))
        fwhh = rng.uniform(2, 6, (m, 2))
        tol = np.maximum(1.5, 0.5 * fwhh)
        r = match_peaks(pred, true, fwhh)
        d = np.sqrt((((pred[r.pairs[:, 0]] - true[r.pairs[:, 1]]) / tol[r.pairs[:, 1]]) ** 2
                     ).sum(-1))
        k, cost = _brute_force_best(pred, true, tol)
        assert r.tp == k and d.sum() == pytest.approx(cost)
        assert len(set(r.pairs[:, 0])) == len(set(r.pairs[:, 1])) == k


def test_match_peaks_sign_aware():
    true = [[10, 10], [10, 12]]
    fwhh = [FWHH4, FWHH4]
    # a negative pick on top of a positive peak; the negative peak is 2 points away
    r = match_peaks([[10, 10]], true, fwhh, pred_sign=[-1], true_sign=[1, -1])
    assert r.pairs.tolist() == [[0, 1]] and r.fn == 1
    r = match_peaks([[10, 10]], [[10, 10]], [FWHH4], pred_sign=[-1.0], true_sign=[5.0])
    assert (r.tp, r.fp, r.fn) == (0, 1, 1) and r.status.tolist() == ["fp"]
    r = match_peaks([[10, 10]], [[10, 10]], [FWHH4])  # sign-blind by default
    assert r.tp == 1
    with pytest.raises(NmrpickError, match="both"):
        match_peaks([[10, 10]], [[10, 10]], [FWHH4], pred_sign=[1])
    with pytest.raises(NmrpickError, match="non-zero"):
        match_peaks([[10, 10]], [[10, 10]], [FWHH4], pred_sign=[0], true_sign=[1])


def test_match_peaks_optional_is_neither_fn_nor_fp():
    true = [[10, 10], [40, 40], [70, 70]]
    fwhh = [FWHH4] * 3
    opt = [False, True, True]
    # pick 0 finds the required peak, pick 1 an optional one; the third peak
    # (optional) is missed and pick 2 is far from everything
    r = match_peaks([[10, 11], [40, 40], [0, 90]], true, fwhh, optional=opt)
    assert r.status.tolist() == ["tp", "optional", "fp"]
    assert (r.tp, r.fp, r.fn) == (1, 1, 0)
    assert r.pairs.tolist() == [[0, 0]] and r.optional_pairs.tolist() == [[1, 1]]
    assert r.matched.tolist() == [True, True, False]
    assert r.precision == 0.5 and r.recall == 1.0
    assert r.centre_error.tolist() == [1.0]  # optional pairs are not in the errors
    # a pick next to both a required and a closer optional peak goes to the required one
    r = match_peaks([[10, 11.8]], [[10, 10], [10, 12]], [FWHH4, FWHH4], optional=[False, True])
    assert r.pairs.tolist() == [[0, 0]] and r.fn == 0
    # ... but a second pick can still take the optional peak rather than count as FP
    r = match_peaks([[10, 11.8], [10, 12.1]], [[10, 10], [10, 12]], [FWHH4, FWHH4],
                    optional=[False, True])
    assert r.status.tolist() == ["tp", "optional"] and r.fp == 0


def test_match_peaks_tolerance_scales_with_fwhh():
    pred, true = [[20, 23]], [[20, 20]]  # 3 points off along axis 1
    assert match_peaks(pred, true, [[4, 4]]).tp == 0    # tolerance 2
    assert match_peaks(pred, true, [[4, 8]]).tp == 1    # tolerance 4 along axis 1
    assert match_peaks(pred, true, [[8, 4]]).tp == 0    # wide along the other axis only
    assert match_peaks(pred, true, [[4, 6]]).tp == 1    # exactly on the ellipse (3 / 3)
    assert match_peaks(pred, true, [[4, 4]], tol_factor=0.75).tp == 1
    # min_tol: a narrow peak (FWHH 1) still gets 1.5 points
    assert match_peaks([[20, 21.4]], true, [[1, 1]]).tp == 1
    assert match_peaks([[20, 21.6]], true, [[1, 1]]).tp == 0
    # the ellipse is a joint test: 1.5 + 1.5 along both axes of tolerance 2 -> d = 1.06
    assert match_peaks([[21.5, 21.5]], true, [[4, 4]]).tp == 0


def test_match_peaks_fwhh_error_and_medians():
    true = [[10, 10], [50, 50]]
    r = match_peaks([[10, 10], [50, 51]], true, [[4, 4], [2, 8]],
                    pred_fwhh=[[5, 4], [2, 4]])
    np.testing.assert_allclose(r.fwhh_error, [0.125, 0.25])  # (1/4 + 0)/2, (0 + 4/8)/2
    assert r.median_fwhh_error == pytest.approx(0.1875)
    assert r.median_centre_error == pytest.approx(0.5)
    assert match_peaks([[10, 10]], [[10, 10]], [FWHH4]).fwhh_error is None
    s = r.summary()
    assert s["tp"] == 2 and s["median_fwhh_error"] == pytest.approx(0.1875)


def test_match_peaks_empty_inputs():
    r = match_peaks(np.zeros((0, 2)), [[1, 1], [5, 5]], [FWHH4, FWHH4])
    assert (r.tp, r.fp, r.fn) == (0, 0, 2) and r.recall == 0.0 and r.precision == 0.0
    assert r.pairs.shape == (0, 2) and r.status.shape == (0,) and math.isnan(r.median_centre_error)
    r = match_peaks([[1, 1]], [], [])
    assert (r.tp, r.fp, r.fn) == (0, 1, 0) and r.status.tolist() == ["fp"]
    assert r.precision == 0.0 and r.f1 == 0.0
    r = match_peaks([], [], [], pred_fwhh=[])
    assert (r.tp, r.fp, r.fn) == (0, 0, 0) and r.precision == r.recall == r.f1 == 1.0
    assert math.isnan(r.median_fwhh_error)


def test_match_peaks_validates():
    with pytest.raises(NmrpickError, match=r"shape \(n, 2\)"):
        match_peaks([[1, 2, 3]], [[1, 1]], [FWHH4])
    with pytest.raises(NmrpickError, match="true_fwhh"):
        match_peaks([[1, 1]], [[1, 1]], [[0, 4]])
    with pytest.raises(NmrpickError, match="1 rows"):
        match_peaks([[1, 1]], [[1, 1]], [FWHH4, FWHH4])
    with pytest.raises(NmrpickError, match="tol_factor"):
        match_peaks([[1, 1]], [[1, 1]], [FWHH4], tol_factor=-1)
    with pytest.raises(TypeError, match="optional"):
        match_peaks([[1, 1]], [[1, 1]], [FWHH4], optional=[0.5])


def test_match_peaks_many_peaks_is_fast_and_exact():
    rng = np.random.default_rng(7)
    true = rng.uniform(0, 2000, (3000, 2))
    pred = true + rng.normal(0, 0.5, true.shape)
    pred = np.vstack([pred, rng.uniform(0, 2000, (300, 2))])
    r = match_peaks(pred, true, np.full(true.shape, 4.0))
    # the jittered copies mostly find their own peak; counts stay consistent
    assert r.tp + r.fn == 3000 and r.tp + r.fp == 3300 and r.tp > 2900
    assert np.all(r.centre_error <= 2.0 * np.sqrt(2) + 1e-9)


# ---------------------------------------------------------------- tables

def test_recall_by_band():
    matched = [True, False, True, True, False, True]
    snr = [2.0, 4.0, 4.5, 12.0, 150.0, np.inf]
    rows = recall_by_band(matched, snr, [3, 5, 10, 30, 100, np.inf])
    assert [r[2] for r in rows] == [2, 0, 1, 0, 2]  # SNR 2 is below every band
    assert rows[0] == (3.0, 5.0, 2, 0.5) and rows[4][3] == 0.5
    assert math.isnan(rows[1][3])
    with pytest.raises(NmrpickError, match="increasing"):
        recall_by_band(matched, snr, [5, 3])
    with pytest.raises(NmrpickError, match="length 6"):
        recall_by_band(matched, snr[:2], [3, 5])


def test_reliability_table():
    scores = [0.05, 0.15, 0.95, 1.0, 0.92]
    is_true = [False, False, True, True, False]
    rows = reliability_table(scores, is_true, bins=10)
    assert len(rows) == 10 and sum(r[2] for r in rows) == 5
    lo, hi, n, mean, frac = rows[9]  # [0.9, 1.0] holds 1.0 too
    assert (n, frac) == (3, pytest.approx(2 / 3)) and mean == pytest.approx(2.87 / 3)
    assert math.isnan(rows[5][3]) and math.isnan(rows[5][4])
    rows = reliability_table(scores, is_true, bins=[0, 0.5, 1])
    assert [r[2] for r in rows] == [2, 3]
    with pytest.raises(NmrpickError, match="within"):
        reliability_table([1.5], [True])


def test_format_table():
    t = format_table([("a|b", 1, 0.123456, None), ("c", 20, float("nan"), 2.0)],
                     ["name", "n", "x", "y"])
    lines = t.split("\n")
    assert lines[0] == "| name |   n |      x |   y |"
    assert lines[1] == "| ---- | --: | -----: | --: |"
    assert lines[2] == "| a\\|b |   1 | 0.1235 |     |"
    assert lines[3] == "| c    |  20 |    n/a |   2 |"
    with pytest.raises(NmrpickError, match="2 cells"):
        format_table([(1,)], ["a", "b"])


def test_module_does_not_import_torch():
    import subprocess
    code = "import sys, nmrpick_ml.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
