"""Detection and peak-matching metrics (numpy and scipy only, never torch).

Two families of metrics live here.

Box metrics, exactly as the paper evaluates (Alghamdi et al., ICAART 2023; see
``method.md``): :func:`box_iou`, :func:`match_detections`,
:func:`average_precision`, :func:`pr_curve`, :func:`pool_detections` and
:func:`detection_metrics`. A detection is a true positive when its class is
right and its box overlaps a ground-truth box with IoU >= ``iou_threshold``;
it is a false positive otherwise, or when a higher-scored detection already
took that ground truth. mAP is PASCAL VOC average precision (VOC2010+
all-point interpolation), averaged over classes.

Peak metrics for whole spectra: :func:`match_peaks` (sign-aware, tolerance
scaled by each true peak's linewidth, one-to-one by the Hungarian algorithm),
:func:`recall_by_band`, :func:`reliability_table` and :func:`format_table`
(Markdown tables for the benchmarks).

Box convention
--------------
A box is ``(y0, x0, y1, x1)`` in continuous pixel coordinates, axis 0 (rows,
the indirect dimension) first. It covers rows ``y0 .. y1-1`` and columns
``x0 .. x1-1`` when the corners are integers (inclusive-exclusive, as in
torchvision), so its area is ``(y1 - y0) * (x1 - x0)`` with no ``+ 1``.
``IoU = intersection area / union area``; boxes that only touch have IoU 0,
and a pair whose union is empty (two zero-area boxes) has IoU 0.

Empty inputs
------------
Every summary score (AP, mAP, precision, recall, F1) is a finite number and
no function warns on 0/0, so tables and averages never turn silently into
``nan``. A ratio whose denominator is zero is **1.0 when no error at all was
made** (nothing to find and nothing reported) and **0.0 otherwise** (e.g. AP
or precision when every detection is false, recall when every peak was
missed). An error percentage relative to zero true peaks is 0 without errors
and ``inf`` with false positives. Quantities that are averages over an empty
set (a median error with no matched pair, the recall of an empty band, the
mean score of an empty calibration bin) are ``nan``: there is nothing to
report, and :func:`format_table` prints them as ``n/a``.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ._errors import NmrpickError
from ._validate import check_number

__all__ = [
    "box_iou",
    "match_detections",
    "average_precision",
    "pr_curve",
    "pool_detections",
    "detection_metrics",
    "PeakMatch",
    "match_peaks",
    "recall_by_band",
    "reliability_table",
    "format_table",
]

#: Default label of a detection or ground truth given without labels
#: (torchvision's convention: 0 is the background, 1 the first class).
DEFAULT_LABEL = 1

# Slack on the normalised-distance test d <= 1, so that a pick lying exactly
# on the tolerance ellipse is not lost to rounding.
_D_EPS = 1e-9


# ---------------------------------------------------------------------------
# validation helpers (private)
# ---------------------------------------------------------------------------

def _real_array(value, name):
    arr = np.asarray(value)
    if arr.dtype == object and arr.size == 0:
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be a real numeric array; got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _as_boxes(boxes, name):
    arr = _real_array(boxes, name)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise NmrpickError(f"`{name}` must have shape (n, 4) as (y0, x0, y1, x1); "
                           f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NmrpickError(f"`{name}` must be finite; got NaN or Inf")
    bad = np.flatnonzero((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]))
    if bad.size:
        raise NmrpickError(f"`{name}` boxes must have y1 >= y0 and x1 >= x0; "
                           f"box {bad[0]} is {tuple(arr[bad[0]].tolist())}")
    return arr


def _as_vector(value, name, n, kind="float"):
    arr = np.asarray(value)
    if arr.dtype == object and arr.size == 0:
        arr = arr.astype(np.float64)
    if arr.size == 0:
        arr = arr.reshape(0)
    if arr.ndim != 1:
        raise NmrpickError(f"`{name}` must be 1-D; got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise NmrpickError(f"`{name}` must have length {n}; got {arr.shape[0]}")
    if kind == "bool":
        if arr.dtype.kind != "b" and arr.size:
            if arr.dtype.kind not in "iu" or not np.all((arr == 0) | (arr == 1)):
                raise TypeError(f"`{name}` must be boolean; got dtype {arr.dtype}")
        return arr.astype(bool)
    if kind == "int":
        if arr.dtype.kind not in "iu" and arr.size:
            raise TypeError(f"`{name}` must be integer; got dtype {arr.dtype}")
        return arr.astype(np.int64)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be a real numeric array; got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise NmrpickError(f"`{name}` must be finite; got NaN or Inf")
    return arr


def _as_points(value, name, n=None):
    arr = _real_array(value, name)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise NmrpickError(f"`{name}` must have shape (n, 2) as (axis 0, axis 1); "
                           f"got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise NmrpickError(f"`{name}` must have {n} rows; got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise NmrpickError(f"`{name}` must be finite; got NaN or Inf")
    return arr


def _ratio(num, den, perfect):
    """num / den, or the documented convention when den == 0."""
    if den > 0:
        return float(num) / float(den)
    return 1.0 if perfect else 0.0


# ---------------------------------------------------------------------------
# box metrics (the paper's evaluation)
# ---------------------------------------------------------------------------

def box_iou(a, b):
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Parameters
    ----------
    a : array_like of shape (n, 4)
        Boxes ``(y0, x0, y1, x1)`` in continuous pixel coordinates: a box covers
        rows ``y0 .. y1-1`` and columns ``x0 .. x1-1`` (inclusive-exclusive), so
        its area is ``(y1 - y0) * (x1 - x0)``. Requires ``y1 >= y0``, ``x1 >= x0``.
    b : array_like of shape (m, 4)
        Boxes, same convention.

    Returns
    -------
    iou : ndarray of shape (n, m)
        ``iou[i, j]`` = area(a_i & b_j) / area(a_i | b_j), in [0, 1]; 0 where the
        union is empty (two zero-area boxes). Empty input gives an empty array.

    Raises
    ------
    TypeError
        If a box array is not real-valued.
    NmrpickError
        If a box array is not of shape (n, 4), is not finite, or has a box
        with ``y1 < y0`` or ``x1 < x0``.

    Examples
    --------
    Two 2x2 boxes overlapping on one pixel: 1 / (4 + 4 - 1).

    >>> a = [[0, 0, 2, 2]]
    >>> b = [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2]]
    >>> print(box_iou(a, b).round(4))
    [[0.1429 1.     0.    ]]
    """
    a = _as_boxes(a, "a")
    b = _as_boxes(b, "b")
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    ih = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    iw = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(ih, 0.0, None) * np.clip(iw, 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _score_order(scores):
    # descending score; ties keep the input order (stable), so results are
    # reproducible (the VOC devkit's unstable argsort is not)
    return np.argsort(-scores, kind="stable")


def match_detections(pred_boxes, scores, true_boxes, iou_threshold=0.5, *,
                     pred_labels=None, true_labels=None):
    """Match the detections of one image to its ground truth, PASCAL VOC style.

    Detections are visited in descending score order. Each one takes the
    ground-truth box with which it has the largest IoU (over all ground truth
    of its class). It is a true positive when that IoU is >= ``iou_threshold``
    and that ground truth is not yet taken; it then takes it. Otherwise it is
    a false positive: no ground truth overlaps it enough, or its best ground
    truth was already taken by a higher-scored detection (a duplicate). As in
    the VOC devkit, such a duplicate does not fall back to its second-best
    ground truth.

    Parameters
    ----------
    pred_boxes : array_like of shape (n, 4)
        Detected boxes ``(y0, x0, y1, x1)`` (convention of :func:`box_iou`).
    scores : array_like of shape (n,)
        Detection confidences (finite). Ties are visited in input order.
    true_boxes : array_like of shape (m, 4)
        Ground-truth boxes.
    iou_threshold : float, optional
        Least IoU for a true positive (the paper's epsilon), in (0, 1].
    pred_labels, true_labels : array_like of int, optional
        Classes. A detection only matches ground truth of its own class.
        Both or neither; default: one class.

    Returns
    -------
    tp : ndarray of bool, shape (n,)
        True where the detection is a true positive, in the input order.
    gt_matched : ndarray of bool, shape (m,)
        True where the ground truth was matched; ``~gt_matched`` are the
        false negatives.

    Examples
    --------
    A duplicate detection of one peak is a false positive; the higher score wins.

    >>> tp, matched = match_detections([[0, 0, 4, 4], [0, 0, 4, 5]], [0.6, 0.9],
    ...                                [[0, 0, 4, 4]])
    >>> tp.tolist(), matched.tolist()
    ([False, True], [True])
    """
    pred = _as_boxes(pred_boxes, "pred_boxes")
    true = _as_boxes(true_boxes, "true_boxes")
    scores = _as_vector(scores, "scores", len(pred))
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, low_open=True, high=1)
    if (pred_labels is None) != (true_labels is None):
        raise NmrpickError("give both `pred_labels` and `true_labels`, or neither")
    iou = box_iou(pred, true)
    if pred_labels is not None:
        pl = _as_vector(pred_labels, "pred_labels", len(pred), kind="int")
        tl = _as_vector(true_labels, "true_labels", len(true), kind="int")
        iou[pl[:, None] != tl[None, :]] = 0.0
    tp = np.zeros(len(pred), dtype=bool)
    gt_matched = np.zeros(len(true), dtype=bool)
    if len(true) == 0:
        return tp, gt_matched
    for i in _score_order(scores):
        j = int(np.argmax(iou[i]))
        if iou[i, j] >= iou_threshold and not gt_matched[j]:
            tp[i] = True
            gt_matched[j] = True
    return tp, gt_matched


def _pr_points(tp_flags, scores, n_true, name_tp="tp_flags"):
    tp = _as_vector(tp_flags, name_tp, None, kind="bool")
    scores = _as_vector(scores, "scores", len(tp))
    if isinstance(n_true, bool) or not isinstance(n_true, (int, np.integer)):
        raise TypeError(f"`n_true` must be an integer; got {type(n_true).__name__}")
    n_true = int(n_true)
    if n_true < 0:
        raise NmrpickError(f"`n_true` must be >= 0; got {n_true}")
    if tp.sum() > n_true:
        raise NmrpickError(f"`tp_flags` holds {int(tp.sum())} true positives, more than "
                           f"`n_true` = {n_true}")
    order = _score_order(scores)
    return tp[order], scores[order], n_true


def average_precision(tp_flags, scores, n_true):
    """PASCAL VOC average precision (VOC2010+ all-point interpolation).

    The detections are ranked by descending score (ties in input order). With
    ``recall_k = TP_k / n_true`` and ``precision_k = TP_k / k`` after the k best
    detections, AP is the area under the monotone precision envelope
    ``p_interp(r) = max(precision_k : recall_k >= r)``, summed over the recall
    steps (as the VOC2010-2012 devkit and ``voc_ap(use_07_metric=False)`` do).

    Parameters
    ----------
    tp_flags : array_like of bool, shape (n,)
        True-positive flag of each detection (from :func:`match_detections`).
    scores : array_like of shape (n,)
        Detection confidences.
    n_true : int
        Number of ground-truth objects (the recall denominator), >= the number
        of true positives.

    Returns
    -------
    ap : float
        In [0, 1]. No detection gives 0.0 (1.0 if ``n_true`` is 0 as well:
        nothing to find, nothing reported). Detections with ``n_true == 0``
        are all false and give 0.0. Never ``nan`` (see the module notes).

    Examples
    --------
    Ranked TP, FP, TP with 3 objects: 1/3 * 1 + 1/3 * 2/3 = 5/9.

    >>> round(average_precision([True, False, True], [0.9, 0.8, 0.7], 3), 4)
    0.5556
    """
    tp, _, n_true = _pr_points(tp_flags, scores, n_true)
    if n_true == 0 or tp.size == 0:
        return 1.0 if (n_true == 0 and tp.size == 0) else 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_true
    precision = ctp / np.arange(1, tp.size + 1)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    step = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[step + 1] - mrec[step]) * mpre[step + 1]))


def pr_curve(tp_flags, scores, n_true):
    """Precision and recall at each distinct score threshold.

    At threshold ``s`` the detections kept are those with ``score >= s``.
    Use it to tabulate how a score threshold trades false positives for misses.

    Parameters
    ----------
    tp_flags : array_like of bool, shape (n,)
        True-positive flag of each detection (from :func:`match_detections` or
        :func:`pool_detections`).
    scores : array_like of shape (n,)
        Detection confidences.
    n_true : int
        Number of ground-truth objects.

    Returns
    -------
    curve : dict of ndarray, each of shape (k,), k = number of distinct scores
        ``"score"`` (thresholds, descending), ``"tp"`` and ``"fp"`` (counts kept
        at that threshold), ``"precision"`` and ``"recall"`` (empty-input
        convention of the module: recall is 0.0 when ``n_true`` is 0).

    Examples
    --------
    >>> c = pr_curve([True, False, True], [0.9, 0.8, 0.8], 4)
    >>> c["score"].tolist(), c["precision"].round(3).tolist(), c["recall"].tolist()
    ([0.9, 0.8], [1.0, 0.667], [0.25, 0.5])
    """
    tp, s, n_true = _pr_points(tp_flags, scores, n_true)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    # keep the last position of each run of equal scores (all with score >= s)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True)) if s.size else np.zeros(0, int)
    ctp, cfp, s = ctp[last], cfp[last], s[last]
    precision = ctp / np.maximum(ctp + cfp, 1)
    recall = ctp / n_true if n_true else np.zeros(len(ctp))
    return {"score": s, "tp": ctp.astype(np.int64), "fp": cfp.astype(np.int64),
            "precision": precision.astype(np.float64), "recall": recall.astype(np.float64)}


def _get(item, key, pos, name, i):
    if isinstance(item, dict):
        if key not in item:
            if key == "labels":
                return None
            raise NmrpickError(f"`{name}[{i}]` has no {key!r} entry")
        return item[key]
    return item[pos] if pos < len(item) else None


def _unpack_pred(item, i):
    if not isinstance(item, (dict, tuple, list)) or (
            not isinstance(item, dict) and len(item) not in (2, 3)):
        raise TypeError(f"`preds[{i}]` must be (boxes, scores[, labels]) or a dict with "
                        f"'boxes', 'scores'[, 'labels']; got {type(item).__name__}")
    boxes = _as_boxes(_get(item, "boxes", 0, "preds", i), f"preds[{i}] boxes")
    scores = _as_vector(_get(item, "scores", 1, "preds", i), f"preds[{i}] scores", len(boxes))
    labels = _get(item, "labels", 2, "preds", i)
    labels = (np.full(len(boxes), DEFAULT_LABEL, np.int64) if labels is None
              else _as_vector(labels, f"preds[{i}] labels", len(boxes), kind="int"))
    return boxes, scores, labels


def _unpack_truth(item, i):
    if isinstance(item, dict):
        boxes = item.get("boxes")
        if boxes is None:
            raise NmrpickError(f"`truths[{i}]` has no 'boxes' entry")
        labels = item.get("labels")
    elif isinstance(item, tuple) and len(item) == 2 and np.ndim(item[0]) == 2:
        boxes, labels = item
    else:
        boxes, labels = item, None
    boxes = _as_boxes(boxes, f"truths[{i}]")
    labels = (np.full(len(boxes), DEFAULT_LABEL, np.int64) if labels is None
              else _as_vector(labels, f"truths[{i}] labels", len(boxes), kind="int"))
    return boxes, labels


def pool_detections(preds, truths, iou_threshold=0.5, score_threshold=None):
    """Match every image, then pool its detections over the data set.

    Parameters
    ----------
    preds : sequence
        One entry per image: ``(boxes, scores)``, ``(boxes, scores, labels)``,
        or a dict with ``"boxes"``, ``"scores"`` and optionally ``"labels"``
        (torchvision's output, converted with ``numpy.asarray``).
    truths : sequence
        One entry per image, same length as ``preds``: a ``(m, 4)`` box array,
        a tuple ``(boxes, labels)`` with ``boxes`` 2-D, or a dict with
        ``"boxes"`` and optionally ``"labels"``. Without labels every box has
        class ``DEFAULT_LABEL`` (1).
    iou_threshold : float, optional
        Least IoU for a true positive, in (0, 1].
    score_threshold : float, optional
        Detections with a lower score are dropped before matching (the paper
        keeps confidence >= 0.9). Default: keep all.

    Returns
    -------
    pooled : dict
        ``"tp"`` (bool array), ``"score"`` (float array), ``"label"`` (int array)
        and ``"image"`` (int array, index into ``preds``), one entry per kept
        detection; ``"n_true"`` (int, all ground truth) and
        ``"n_true_per_class"`` (dict label -> int).

    Examples
    --------
    >>> p = pool_detections([([[0, 0, 4, 4]], [0.9])], [[[0, 0, 4, 4], [8, 8, 9, 9]]])
    >>> p["tp"].tolist(), p["n_true"]
    ([True], 2)
    """
    if isinstance(preds, (str, bytes, dict)) or not hasattr(preds, "__len__"):
        raise TypeError(f"`preds` must be a sequence (one entry per image); got "
                        f"{type(preds).__name__}")
    if isinstance(truths, (str, bytes, dict)) or not hasattr(truths, "__len__"):
        raise TypeError(f"`truths` must be a sequence (one entry per image); got "
                        f"{type(truths).__name__}")
    if len(preds) != len(truths):
        raise NmrpickError(f"`preds` and `truths` must have one entry per image each; "
                           f"got {len(preds)} and {len(truths)}")
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, low_open=True, high=1)
    if score_threshold is not None:
        if isinstance(score_threshold, bool) or not isinstance(
                score_threshold, (int, float, np.integer, np.floating)) \
                or not math.isfinite(score_threshold):
            raise NmrpickError(f"`score_threshold` must be a finite number or None; "
                               f"got {score_threshold!r}")
    tps, scs, lbs, imgs = [], [], [], []
    n_true_per_class = {}
    for i, (p, t) in enumerate(zip(preds, truths)):
        boxes, scores, plab = _unpack_pred(p, i)
        tboxes, tlab = _unpack_truth(t, i)
        if score_threshold is not None:
            keep = scores >= score_threshold
            boxes, scores, plab = boxes[keep], scores[keep], plab[keep]
        tp, _ = match_detections(boxes, scores, tboxes, iou_threshold,
                                 pred_labels=plab, true_labels=tlab)
        tps.append(tp)
        scs.append(scores)
        lbs.append(plab)
        imgs.append(np.full(len(tp), i, np.int64))
        for lab, cnt in zip(*np.unique(tlab, return_counts=True)):
            n_true_per_class[int(lab)] = n_true_per_class.get(int(lab), 0) + int(cnt)
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return {"tp": cat(tps, bool), "score": cat(scs, np.float64), "label": cat(lbs, np.int64),
            "image": cat(imgs, np.int64), "n_true": int(sum(n_true_per_class.values())),
            "n_true_per_class": dict(sorted(n_true_per_class.items()))}


def detection_metrics(preds, truths, iou_threshold=0.5, score_threshold=None):
    """The paper's metrics over a data set: mAP, FP % and FN %.

    Each image is matched with :func:`match_detections`; the detections are
    then pooled over all images and AP is computed per class over the pooled
    ranking, as PASCAL VOC does. mAP is the mean AP over the classes present
    in the ground truth or the detections (one class, "peak", by default).

    Parameters
    ----------
    preds, truths, iou_threshold, score_threshold
        As in :func:`pool_detections`.

    Returns
    -------
    metrics : dict
        ``"mAP"`` (float), ``"AP_per_class"`` (dict label -> float),
        ``"FP_percent"`` (100 * FP / n_true), ``"FN_percent"``
        (100 * FN / n_true), ``"TP"``, ``"FP"``, ``"FN"``, ``"n_true"``,
        ``"n_pred"`` (ints; n_pred counts the detections kept after
        ``score_threshold``), ``"precision"`` (TP / n_pred), ``"recall"``
        (TP / n_true), ``"iou_threshold"``. Empty cases follow the module
        convention: 1.0 scores when there is nothing to find and nothing was
        reported, ``FP_percent = inf`` for false positives without ground truth.

    Examples
    --------
    One image, one peak found, plus a duplicate (1 FP) and one missed peak.

    >>> m = detection_metrics([([[0, 0, 4, 4], [0, 1, 4, 4]], [0.9, 0.5])],
    ...                       [[[0, 0, 4, 4], [10, 10, 14, 14]]])
    >>> m["TP"], m["FP"], m["FN"], m["FP_percent"], m["mAP"]
    (1, 1, 1, 50.0, 0.5)
    """
    pool = pool_detections(preds, truths, iou_threshold, score_threshold)
    tp_all, n_true = pool["tp"], pool["n_true"]
    classes = sorted(set(pool["n_true_per_class"]) | set(pool["label"].tolist()))
    ap = {}
    for c in classes:
        sel = pool["label"] == c
        ap[int(c)] = average_precision(tp_all[sel], pool["score"][sel],
                                       pool["n_true_per_class"].get(c, 0))
    n_pred = int(tp_all.size)
    TP = int(tp_all.sum())
    FP = n_pred - TP
    FN = n_true - TP
    perfect = FP == 0 and FN == 0
    return {
        "mAP": float(np.mean(list(ap.values()))) if ap else 1.0,
        "AP_per_class": ap,
        "FP_percent": 100.0 * FP / n_true if n_true else (0.0 if FP == 0 else math.inf),
        "FN_percent": 100.0 * FN / n_true if n_true else 0.0,
        "TP": TP, "FP": FP, "FN": FN, "n_true": n_true, "n_pred": n_pred,
        "precision": _ratio(TP, n_pred, perfect),
        "recall": _ratio(TP, n_true, perfect),
        "iou_threshold": float(iou_threshold),
    }


# ---------------------------------------------------------------------------
# peak-level matching on whole spectra
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PeakMatch:
    """Result of :func:`match_peaks`.

    Attributes
    ----------
    pairs : ndarray of int, shape (tp, 2)
        ``(pred index, true index)`` of each true positive, by pred index.
    optional_pairs : ndarray of int, shape (k, 2)
        ``(pred index, true index)`` of picks matched to optional true peaks
        (neither TP nor FP).
    tp, fp, fn : int
        True positives, false positives (unmatched picks) and misses
        (unmatched true peaks that are not optional).
    precision, recall, f1 : float
        ``tp/(tp+fp)``, ``tp/(tp+fn)``, ``2tp/(2tp+fp+fn)``; 0/0 is 1.0 when
        there is no error at all and 0.0 otherwise.
    matched : ndarray of bool, shape (m,)
        Per true peak: matched by a pick (optional peaks included).
    status : ndarray of str, shape (n,)
        Per pick: ``'tp'``, ``'fp'`` or ``'optional'``.
    centre_error : ndarray of float, shape (tp,)
        Euclidean distance in points of each pair of ``pairs``.
    median_centre_error : float
        Median of ``centre_error``; ``nan`` without pairs.
    fwhh_error : ndarray of float, shape (tp,), or None
        Per pair of ``pairs``: relative linewidth error
        ``|w_pred - w_true| / w_true`` averaged over both axes; None unless
        ``pred_fwhh`` was given.
    median_fwhh_error : float or None
        Median of ``fwhh_error`` (``nan`` without pairs); None without ``pred_fwhh``.
    """

    pairs: np.ndarray
    optional_pairs: np.ndarray
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    matched: np.ndarray
    status: np.ndarray
    centre_error: np.ndarray
    median_centre_error: float
    fwhh_error: "np.ndarray | None" = None
    median_fwhh_error: "float | None" = None

    def summary(self):
        """Scalar fields as a plain dict (JSON-ready).

        Returns
        -------
        summary : dict
            ``tp``, ``fp``, ``fn``, ``n_optional_matched``, ``precision``,
            ``recall``, ``f1``, ``median_centre_error`` and
            ``median_fwhh_error`` (None without ``pred_fwhh``).
        """
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "n_optional_matched": int(len(self.optional_pairs)),
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "median_centre_error": self.median_centre_error,
                "median_fwhh_error": self.median_fwhh_error}


def _candidate_pairs(pred, true, tol, psign, tsign):
    """Allowed (pred, true) pairs and their normalised distances."""
    tree = cKDTree(pred)
    # the tolerance ellipse lies within a circle of radius max(tol_y, tol_x)
    hits = tree.query_ball_point(true, r=tol.max(axis=1) * (1 + 1e-6))
    counts = np.fromiter((len(h) for h in hits), np.int64, len(hits))
    tj = np.repeat(np.arange(len(true)), counts)
    pi = (np.concatenate([np.asarray(h, np.int64) for h in hits]) if counts.sum()
          else np.zeros(0, np.int64))
    d = np.sqrt((((pred[pi] - true[tj]) / tol[tj]) ** 2).sum(axis=1))
    keep = d <= 1.0 + _D_EPS
    if psign is not None:
        keep &= psign[pi] == tsign[tj]
    return pi[keep], tj[keep], d[keep]


def _assign(pi, tj, d, optional, n, m):
    """Optimal one-to-one matching, solved per connected component.

    Lexicographic objective: most pairs, then most pairs with required (not
    optional) true peaks, then least total normalised distance. It is
    encoded in one cost matrix per component: forbidden pairs cost ``big``,
    optional pairs ``d + c``, required pairs ``d``, with ``c`` larger than
    any sum of distances and ``big`` larger than any sum of allowed costs.
    """
    if pi.size == 0:
        return np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(pi.size), (pi, n + tj)), shape=(n + m, n + m))
    _, comp = connected_components(graph, directed=False)
    ecomp = comp[pi]
    order = np.argsort(ecomp, kind="stable")
    pi, tj, d, ecomp = pi[order], tj[order], d[order], ecomp[order]
    starts = np.flatnonzero(np.r_[True, ecomp[1:] != ecomp[:-1]])
    ends = np.r_[starts[1:], pi.size]
    out = []
    for s, e in zip(starts, ends):
        p, t, dd = pi[s:e], tj[s:e], d[s:e]
        if p.size == 1:
            out.append((p[0], t[0]))
            continue
        rows, r_idx = np.unique(p, return_inverse=True)
        cols, c_idx = np.unique(t, return_inverse=True)
        k = min(len(rows), len(cols))
        c = k + 1.0
        big = k * (c + 1.0) + 1.0
        cost = np.full((len(rows), len(cols)), big)
        cost[r_idx, c_idx] = dd + np.where(optional[t], c, 0.0)
        r, cc = linear_sum_assignment(cost)
        ok = cost[r, cc] < big
        out.extend(zip(rows[r[ok]], cols[cc[ok]]))
    pairs = np.asarray(out, np.int64).reshape(-1, 2)
    return pairs[np.argsort(pairs[:, 0], kind="stable")]


def match_peaks(pred_pos, true_pos, true_fwhh, pred_sign=None, true_sign=None,
                optional=None, tol_factor=0.5, min_tol=1.5, *, pred_fwhh=None):
    """Match picked peaks to true peaks one-to-one, with linewidth-scaled tolerance.

    A pick ``i`` may match a true peak ``j`` when its normalised distance

    ``d_ij = sqrt((dy / tol_y[j])**2 + (dx / tol_x[j])**2) <= 1``,
    ``tol_axis[j] = max(min_tol, tol_factor * fwhh_axis[j])``,

    i.e. it lies in an ellipse of half-axes about half a linewidth (default)
    around the true centre, but never narrower than ``min_tol`` points, and,
    when signs are given, when both have the same sign (a negative pick never
    matches a positive peak). Among the allowed pairs the matching is
    one-to-one and globally optimal (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``, run per connected group of
    candidates): it has the most pairs; among those, the most pairs with
    required peaks (an optional peak is used only when that costs no
    required one, as COCO treats "ignore" ground truth); among those, the
    least total normalised distance.

    Parameters
    ----------
    pred_pos : array_like of shape (n, 2)
        Picked positions (axis 0, axis 1) in points (fractional allowed).
    true_pos : array_like of shape (m, 2)
        True positions, same axes and units.
    true_fwhh : array_like of shape (m, 2)
        True full widths at half height along (axis 0, axis 1), in points, > 0.
    pred_sign, true_sign : array_like of shape (n,) and (m,), optional
        Signs (or signed amplitudes) of picks and true peaks; compared through
        ``numpy.sign``, zeros not allowed. Both or neither; default: sign-blind.
    optional : array_like of bool, shape (m,), optional
        True peaks that need not be found (below an SNR floor, unresolved
        shoulders). An unmatched optional peak is not a miss; a pick matched to
        one is neither TP nor FP (status ``'optional'``). Default: none.
    tol_factor : float, optional
        Tolerance as a fraction of the FWHH, > 0 (default 0.5: half a linewidth).
    min_tol : float, optional
        Least tolerance in points, >= 0 (default 1.5).
    pred_fwhh : array_like of shape (n, 2), optional
        Picked linewidths (> 0); when given, ``fwhh_error`` is reported.

    Returns
    -------
    result : PeakMatch
        Pairs, counts, precision/recall/F1, per-peak flags, per-pick status and
        centre (and linewidth) errors; see :class:`PeakMatch`.

    Examples
    --------
    The first pick is 1 point off a peak of FWHH 4 (tolerance 2): a match. The
    second is 3 points off the other peak: a false positive, and a miss.

    >>> r = match_peaks([[10, 11], [50, 53]], [[10, 10], [50, 50]], [[4, 4], [4, 4]])
    >>> r.pairs.tolist(), r.tp, r.fp, r.fn, r.status.tolist()
    ([[0, 0]], 1, 1, 1, ['tp', 'fp'])
    >>> float(r.median_centre_error), r.recall
    (1.0, 0.5)
    """
    pred = _as_points(pred_pos, "pred_pos")
    true = _as_points(true_pos, "true_pos")
    n, m = len(pred), len(true)
    fwhh = _as_points(true_fwhh, "true_fwhh", m)
    if np.any(fwhh <= 0):
        raise NmrpickError("`true_fwhh` must be > 0 everywhere; got "
                           f"min {float(fwhh.min())}")
    tol_factor = check_number(tol_factor, "tol_factor", low=0, low_open=True)
    min_tol = check_number(min_tol, "min_tol", low=0)
    if (pred_sign is None) != (true_sign is None):
        raise NmrpickError("give both `pred_sign` and `true_sign`, or neither")
    psign = tsign = None
    if pred_sign is not None:
        psign = np.sign(_as_vector(pred_sign, "pred_sign", n))
        tsign = np.sign(_as_vector(true_sign, "true_sign", m))
        if np.any(psign == 0) or np.any(tsign == 0):
            raise NmrpickError("`pred_sign` and `true_sign` must be non-zero")
    opt = (np.zeros(m, bool) if optional is None
           else _as_vector(optional, "optional", m, kind="bool"))
    wp = None
    if pred_fwhh is not None:
        wp = _as_points(pred_fwhh, "pred_fwhh", n)
        if np.any(wp <= 0):
            raise NmrpickError("`pred_fwhh` must be > 0 everywhere; got "
                               f"min {float(wp.min())}")

    tol = np.maximum(min_tol, tol_factor * fwhh)
    if n and m:
        pi, tj, d = _candidate_pairs(pred, true, tol, psign, tsign)
        pairs_all = _assign(pi, tj, d, opt, n, m)
    else:
        pairs_all = np.zeros((0, 2), np.int64)

    is_opt = opt[pairs_all[:, 1]]
    pairs, opt_pairs = pairs_all[~is_opt], pairs_all[is_opt]
    matched = np.zeros(m, bool)
    matched[pairs_all[:, 1]] = True
    status = np.full(n, "fp", dtype="<U8")
    status[pairs[:, 0]] = "tp"
    status[opt_pairs[:, 0]] = "optional"
    tp = int(len(pairs))
    fp = int(np.sum(status == "fp"))
    fn = int(np.sum(~matched & ~opt))
    perfect = fp == 0 and fn == 0
    err = np.hypot(*(pred[pairs[:, 0]] - true[pairs[:, 1]]).T) if tp else np.zeros(0)
    fwhh_err = med_fwhh = None
    if wp is not None:
        wt = fwhh[pairs[:, 1]]
        fwhh_err = np.mean(np.abs(wp[pairs[:, 0]] - wt) / wt, axis=1) if tp else np.zeros(0)
        med_fwhh = float(np.median(fwhh_err)) if tp else math.nan
    return PeakMatch(
        pairs=pairs, optional_pairs=opt_pairs, tp=tp, fp=fp, fn=fn,
        precision=_ratio(tp, tp + fp, perfect), recall=_ratio(tp, tp + fn, perfect),
        f1=_ratio(2 * tp, 2 * tp + fp + fn, perfect), matched=matched, status=status,
        centre_error=err, median_centre_error=float(np.median(err)) if tp else math.nan,
        fwhh_error=fwhh_err, median_fwhh_error=med_fwhh)


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------

def _as_edges(edges, name):
    e = _real_array(edges, name).reshape(-1) if np.ndim(edges) <= 1 else None
    if e is None or e.size < 2:
        raise NmrpickError(f"`{name}` must be a 1-D sequence of at least 2 edges; "
                           f"got {edges!r}")
    if np.any(np.isnan(e)) or np.any(np.diff(e) <= 0):
        raise NmrpickError(f"`{name}` must be strictly increasing; got {e.tolist()}")
    return e


def _bin_index(values, edges):
    """Bin of each value: [lo, hi) except the last bin, [lo, hi]; -1 outside."""
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    idx[(values < edges[0]) | (values > edges[-1]) | np.isnan(values)] = -1
    return idx


def recall_by_band(matched, values, edges):
    """Recall of true peaks in bands of a property (SNR, neighbour distance...).

    Parameters
    ----------
    matched : array_like of bool, shape (m,)
        Whether each true peak was found (``PeakMatch.matched``; leave out the
        optional peaks first if they should not count).
    values : array_like of shape (m,)
        The property of each true peak, e.g. its SNR or the distance to its
        nearest neighbour in linewidths (``inf`` allowed; ``nan`` is in no band).
    edges : array_like of shape (k + 1,)
        Strictly increasing band edges, e.g. ``(3, 5, 10, 30, 100, inf)``.
        Bands are ``[lo, hi)``, the last one ``[lo, hi]``; values outside all
        bands are left out.

    Returns
    -------
    rows : list of tuple
        ``(lo, hi, n, recall)`` per band: its edges (float), its number of
        true peaks (int) and the fraction of them matched (``nan`` when n is 0).

    Examples
    --------
    >>> recall_by_band([True, False, True, True], [4, 4, 12, 50], [3, 10, float("inf")])
    [(3.0, 10.0, 2, 0.5), (10.0, inf, 2, 1.0)]
    """
    matched = _as_vector(matched, "matched", None, kind="bool")
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`values` must be a real numeric array; got dtype {arr.dtype}")
    values = arr.astype(np.float64).reshape(-1) if arr.ndim <= 1 else None
    if values is None or values.size != matched.size:
        raise NmrpickError(f"`values` must be 1-D with length {matched.size} (as `matched`); "
                           f"got shape {arr.shape}")
    e = _as_edges(edges, "edges")
    idx = _bin_index(values, e)
    rows = []
    for b in range(len(e) - 1):
        sel = idx == b
        cnt = int(sel.sum())
        rows.append((float(e[b]), float(e[b + 1]), cnt,
                     float(matched[sel].mean()) if cnt else math.nan))
    return rows


def reliability_table(scores, is_true, bins=10):
    """Calibration of detection scores: fraction of true picks per score bin.

    A calibrated score has ``fraction true ~= mean score`` in every bin.

    Parameters
    ----------
    scores : array_like of shape (n,)
        Scores of the picks, within the bin range ([0, 1] by default).
    is_true : array_like of bool, shape (n,)
        Whether each pick is right (e.g. ``PeakMatch.status == 'tp'``).
    bins : int or array_like, optional
        Number of equal bins on [0, 1], or strictly increasing bin edges.
        Bins are ``[lo, hi)``, the last one ``[lo, hi]``.

    Returns
    -------
    rows : list of tuple
        ``(lo, hi, n, mean_score, fraction_true)`` per bin; the last two are
        ``nan`` for an empty bin.

    Examples
    --------
    >>> rows = reliability_table([0.1, 0.2, 0.8, 0.9], [False, True, True, True], bins=2)
    >>> [(lo, hi, n, round(s, 2), f) for lo, hi, n, s, f in rows]
    [(0.0, 0.5, 2, 0.15, 0.5), (0.5, 1.0, 2, 0.85, 1.0)]
    """
    scores = _as_vector(scores, "scores", None)
    is_true = _as_vector(is_true, "is_true", len(scores), kind="bool")
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise NmrpickError(f"`bins` must be >= 1; got {bins}")
        e = np.linspace(0.0, 1.0, int(bins) + 1)
    else:
        e = _as_edges(bins, "bins")
    outside = (scores < e[0]) | (scores > e[-1])
    if np.any(outside):
        raise NmrpickError(f"`scores` must lie within [{e[0]}, {e[-1]}]; got "
                           f"{float(scores[outside][0])}")
    idx = _bin_index(scores, e)
    rows = []
    for b in range(len(e) - 1):
        sel = idx == b
        cnt = int(sel.sum())
        rows.append((float(e[b]), float(e[b + 1]), cnt,
                     float(scores[sel].mean()) if cnt else math.nan,
                     float(is_true[sel].mean()) if cnt else math.nan))
    return rows


def _cell(v, floatfmt):
    if v is None:
        return "", False
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)), False
    if isinstance(v, (int, np.integer)):
        return str(int(v)), True
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "n/a", True
        if math.isinf(v):
            return ("inf" if v > 0 else "-inf"), True
        return format(v, floatfmt), True
    return str(v).replace("|", "\\|").replace("\n", " "), False


def format_table(rows, headers, floatfmt=".4g"):
    """Render rows as a Markdown (GitHub) table.

    Parameters
    ----------
    rows : sequence of sequence
        Table body; every row has ``len(headers)`` cells. Ints print as such,
        floats with ``floatfmt`` (``nan`` as ``n/a``, ``inf``), None as an
        empty cell, anything else with ``str`` (``|`` escaped).
    headers : sequence of str
        Column titles.
    floatfmt : str, optional
        Format spec for floats (default ``".4g"``).

    Returns
    -------
    table : str
        The table, one line per row, no trailing newline. Columns holding only
        numbers are right-aligned.

    Examples
    --------
    >>> print(format_table([(3.0, 5.0, 12, 0.75), (5.0, float("inf"), 0, float("nan"))],
    ...                    ["SNR from", "to", "n", "recall"]))
    | SNR from |  to |   n | recall |
    | -------: | --: | --: | -----: |
    |        3 |   5 |  12 |   0.75 |
    |        5 | inf |   0 |    n/a |
    """
    if isinstance(headers, (str, bytes)) or not hasattr(headers, "__len__"):
        raise TypeError(f"`headers` must be a sequence of str; got {type(headers).__name__}")
    headers = [str(h).replace("|", "\\|") for h in headers]
    if not headers:
        raise NmrpickError("`headers` must name at least one column")
    try:
        format(1.5, floatfmt)
    except (ValueError, TypeError):
        raise NmrpickError(f"`floatfmt` must be a float format spec; got {floatfmt!r}") from None
    body, numeric = [], [True] * len(headers)
    for r, row in enumerate(rows):
        if isinstance(row, (str, bytes)) or not hasattr(row, "__len__"):
            raise TypeError(f"`rows[{r}]` must be a sequence; got {type(row).__name__}")
        if len(row) != len(headers):
            raise NmrpickError(f"`rows[{r}]` must have {len(headers)} cells (one per header); "
                               f"got {len(row)}")
        cells = []
        for c, v in enumerate(row):
            text, is_num = _cell(v, floatfmt)
            numeric[c] &= is_num or v is None
            cells.append(text)
        body.append(cells)
    width = [max([len(h), 3] + [len(b[c]) for b in body]) for c, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(t.rjust(w) if num else t.ljust(w)
                                 for t, w, num in zip(cells, width, numeric)) + " |"

    rule = "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w
                             for w, num in zip(width, numeric)) + " |"
    return "\n".join([line(headers), rule] + [line(b) for b in body])
