"""Score calibration: raw network score -> probability that a pick is a true peak.

The map is a monotone table ``{"raw": [...], "calibrated": [...]}`` shipped in
``config.json``, fitted by :func:`fit_calibration` (isotonic regression on
realistic tiles, seeds apart from every benchmark) when a model is shipped
(``train.ship``). Used by the picker at every pick.
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibrate", "raw_threshold", "network_floor", "fit_calibration", "isotonic"]

#: Seed of the calibration tiles: apart from the benchmark seeds (``bench.BENCH_SEED``).
CALIBRATION_SEED = 20261124 + 7


def calibrate(scores, table):
    """Map the network's raw scores to calibrated ones by the monotone
    ``table`` (identity without one)."""
    scores = np.asarray(scores, float)
    if not table:
        return scores
    return np.interp(scores, table["raw"], table["calibrated"])


def raw_threshold(threshold, table):
    """The raw score whose calibrated value is ``threshold`` (identity without a table)."""
    if not table:
        return float(threshold)
    raw, cal = np.asarray(table["raw"], float), np.asarray(table["calibrated"], float)
    above = np.nonzero(cal >= threshold)[0]
    if not len(above):
        return 1.0
    # the knot below the crossing: a safe (low) floor; the calibrated filter is exact
    return float(raw[max(above[0] - 1, 0)])


def network_floor(threshold, table):
    """The raw score floor the network applies before masks are computed:
    :func:`raw_threshold` of ``threshold``, at least 0.01."""
    return float(max(0.01, raw_threshold(threshold, table)))


def isotonic(y, w):
    """Pool-adjacent-violators: the non-decreasing fit to ``y`` with weights ``w``."""
    vals, wts, sizes = [], [], []
    for yi, wi in zip(y, w):
        vals.append(yi), wts.append(wi), sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / (wts[-2] + wts[-1])
            wts[-2] += wts[-1]
            sizes[-2] += sizes[-1]
            vals[-2] = v
            vals.pop(), wts.pop(), sizes.pop()
    return np.repeat(vals, sizes)


def fit_calibration(picker, n=400, seed=CALIBRATION_SEED, knots=20):
    """Score calibration on ``n`` realistic tiles (seeds apart from every benchmark).

    Isotonic fit of P(pick is a true peak) against the raw network score, kept
    as ``knots`` points of a monotone table for ``config.json``.

    Parameters
    ----------
    picker : nmrpick_ml.picker.Picker
        The model to calibrate; picked with its raw scores (its own calibration,
        if any, is not applied; the picker is not changed).
    n, seed, knots : int

    Returns
    -------
    dict
        ``raw``, ``calibrated`` (the table), ``fitted_on``, ``n_picks``.
    """
    from . import metrics, synth
    from .picker import detect_each
    tiles = [synth.make_spectrum((128, 128), synth.REALISTIC, seed=[seed, i]) for i in range(n)]
    res = detect_each(picker.uncalibrated(), [t.data for t in tiles])
    scores, true = [], []
    for t, r in zip(tiles, res):
        pos = (t.amp > 0) & np.all((t.centre >= -0.5) & (t.centre < 127.5), axis=1)
        m = metrics.match_peaks(r.centre, t.centre[pos], t.fwhh[pos])
        scores.extend(r.score)
        true.extend(np.array(m.status) == "tp")
    order = np.argsort(scores)
    s_sorted = np.asarray(scores)[order]
    fit = isotonic(np.asarray(true, float)[order], np.ones(len(order)))
    qs = np.unique(np.quantile(s_sorted, np.linspace(0, 1, knots)))
    cal = np.interp(qs, s_sorted, fit)
    raw_knots = np.concatenate([[0.0], qs, [1.0]])
    cal = np.concatenate([[0.0], cal, [max(cal[-1], fit[-1])]])
    cal = np.maximum.accumulate(cal)
    return {"raw": [round(float(v), 5) for v in raw_knots],
            "calibrated": [round(float(v), 5) for v in cal],
            "fitted_on": f"{n} realistic tiles, seed [{seed}, i]", "n_picks": int(len(scores))}
