"""Whole-spectrum peak detection with the Mask R-CNN (the engine behind ``pick``).

normalise once -> (resample to the trained linewidth range) -> tiles -> network
-> stitch -> refine on the data -> threshold (global and per-column noise) ->
peaks in points of the original grid.
"""

from __future__ import annotations

import numpy as np

from ._noise import column_noise, ridge_noise
from ._refine import _half_width, _subpoint, gaussian_volume, refine

#: Linewidths (points) the network was trained on; spectra whose typical FWHH
#: falls outside [LW_LOW, LW_HIGH] are resampled to LW_TARGET on that axis.
LW_LOW, LW_HIGH, LW_TARGET = 2.5, 16.0, 4.0
#: A tile is run only if some point exceeds max(threshold, SKIP_SNR x noise).
SKIP_SNR = 5.0
#: A peak in a column with t1-noise ridges must stand RIDGE_K x the ridge noise.
RIDGE_K = 6.0


def typical_fwhh(data, noise, n=12):
    """Median FWHH (points) per axis of the strongest isolated maxima.

    Returns (nan, nan) when no maximum stands 20x above the noise.
    """
    from scipy.ndimage import maximum_filter
    d = np.asarray(data, dtype=np.float64)
    mx = maximum_filter(d, size=5, mode="nearest")
    ys, xs = np.nonzero((d == mx) & (d > 20 * noise))
    if len(ys) == 0:
        return np.array([np.nan, np.nan])
    order = np.argsort(-d[ys, xs])[: 4 * n]
    widths = []
    for i in order:
        y, x = ys[i], xs[i]
        if y < 2 or x < 2 or y > d.shape[0] - 3 or x > d.shape[1] - 3:
            continue
        cy, hy = _subpoint(d[:, x], y)
        cx, hx = _subpoint(d[y, :], x)
        h = max(hy, hx)
        wy = _half_width(d[:, x], cy, h)
        wx = _half_width(d[y, :], cx, h)
        if wy is not None and wx is not None:
            widths.append((wy, wx))
        if len(widths) >= n:
            break
    if not widths:
        return np.array([np.nan, np.nan])
    return np.median(np.array(widths), axis=0)


def resample_factors(fwhh):
    """Zoom factor per axis that brings a typical FWHH into the trained range (1 = none)."""
    f = np.ones(2)
    for a in range(2):
        w = fwhh[a]
        if np.isfinite(w) and (w < LW_LOW or w > LW_HIGH):
            f[a] = LW_TARGET / w
    return f


def calibrate(scores, table):
    """Map the network's raw scores to calibrated ones (probability that a pick is
    a true peak), by the monotone table ``{"raw": [...], "calibrated": [...]}``
    that ships in ``config.json`` (identity without one)."""
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


def clusters(centre, fwhh):
    """Cluster ids: peaks whose half-height ellipses touch share an id (0-based)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    k = len(centre)
    if k == 0:
        return np.zeros(0, int)
    tree = cKDTree(centre)
    pairs = tree.query_pairs(r=float(np.max(fwhh)) + 1e-9, output_type="ndarray")
    if len(pairs):
        d = np.abs(centre[pairs[:, 0]] - centre[pairs[:, 1]])
        w = (fwhh[pairs[:, 0]] + fwhh[pairs[:, 1]]) / 2
        touch = np.sum((d / w) ** 2, axis=1) <= 1.0
        pairs = pairs[touch]
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k)) if len(pairs) \
        else coo_matrix((k, k))
    return connected_components(g, directed=False)[1]


def detect(data, *, model, noise, pthres, nthres=None, tile=128, overlap=32, batch_size=8,
           resample="auto", min_score=0.05, progress=None):
    """Pick peaks of a 2D spectrum with the network; positions in points.

    Parameters
    ----------
    data : ndarray of shape (N1, N2), float
    model : torch.nn.Module
        From :func:`nmrpick_ml.model.load_model`.
    noise : float
        Robust noise of the whole spectrum (data units).
    pthres : float
        Positive threshold (data units): a peak's height must reach it, and
        ``RIDGE_K`` times the t1-ridge noise of its column
        (:func:`nmrpick_ml._noise.ridge_noise`).
    nthres : float, optional
        Negative threshold (a positive number or the negative level); None:
        no negative peaks. The network runs on the negated data.
    tile, overlap, batch_size : int
    resample : "auto" or (float, float)
        Zoom factors per axis; "auto" measures the typical linewidth.
    min_score : float
        Detections scoring below this are dropped before refinement.
    progress : callable, optional
        ``progress(done, total)`` after each batch of tiles.

    Returns
    -------
    dict
        ``centre`` (k, 2), ``fwhh`` (k, 2), ``height`` (k,) signed, ``score``
        (k,), ``volume`` (k,), ``cluster`` (k,), and ``factors`` (2,) the zoom
        used, ``n_tiles`` the number of tiles run.
    """
    from scipy.ndimage import zoom as _zoom

    data = np.asarray(data, dtype=np.float32)
    if isinstance(resample, str):
        # negative peaks count too when they are asked for
        probe = np.abs(data) if nthres is not None else data
        factors = resample_factors(typical_fwhh(probe, noise)) if resample == "auto" else np.ones(2)
    else:
        factors = np.asarray(resample, float)
    work = data
    if np.any(factors != 1.0):
        work = _zoom(data, factors, order=3, mode="nearest", grid_mode=False).astype(np.float32)
    # the network's own score floor (in its raw score): no mask is computed for
    # weaker detections
    cal = getattr(model, "config", {}).get("calibration")
    saved = (model.roi_heads.score_thresh, model.transform.min_size, model.transform.max_size)
    try:
        model.roi_heads.score_thresh = float(max(0.01, raw_threshold(min_score, cal)))
        model.transform.min_size, model.transform.max_size = (int(tile),), int(tile)  # no resize
        return _detect(data, work, factors, model, noise, pthres, nthres, tile, overlap,
                       batch_size, cal, min_score, progress)
    finally:
        model.roi_heads.score_thresh, model.transform.min_size, model.transform.max_size = saved


def _detect(data, work, factors, model, noise, pthres, nthres, tile, overlap, batch_size, cal,
            min_score, progress):
    from .model import noise_scale, normalise, predict_tiles
    from .tiling import cut_tiles, stitch
    n0, n1 = data.shape
    m0, m1 = work.shape
    # point p on the resampled grid is (n-1)/(m-1) * p on the original grid
    back = np.array([(n - 1) / (m - 1) if m != n else 1.0 for n, m in ((n0, m0), (n1, m1))])
    ridge = ridge_noise(column_noise(work, noise))   # before x: keep the peak memory low
    scale = noise_scale(data, noise)
    x = normalise(work, scale)
    results = []
    signs = [1.0] + ([-1.0] if nthres is not None else [])
    n_tiles = 0
    for sign in signs:
        thr = abs(pthres if sign > 0 else nthres)
        d = work if sign > 0 else -work
        xs = x if sign > 0 else -x
        # tiles with nothing above the threshold (and above SKIP_SNR x noise, as
        # noise alone passes 3 sigma in every 128x128 tile) are skipped
        coarse = d >= max(thr, SKIP_SNR * noise)

        def keep(y0, x0, coarse=coarse):
            return bool(coarse[y0:y0 + tile, x0:x0 + tile].any())
        tiles, origins, cores = cut_tiles(xs, tile, overlap, keep=keep, stack=False)
        n_tiles += len(tiles)
        dets = []
        for i in range(0, len(tiles), max(batch_size, 1) * 4):
            dets.extend(predict_tiles(model, tiles[i:i + max(batch_size, 1) * 4], batch_size))
            if progress is not None:
                progress(min(i + batch_size * 4, len(tiles)), len(tiles))
        st = stitch(dets, origins, cores)
        st["scores"] = calibrate(st["scores"], cal)
        keep_s = st["scores"] >= min_score
        st = dict(boxes=st["boxes"][keep_s], scores=st["scores"][keep_s],
                  masks=[m for m, k in zip(st["masks"], keep_s) if k],
                  mask_offsets=st["mask_offsets"][keep_s])
        r = refine(d, st["boxes"], st["scores"], st["masks"], st["mask_offsets"])
        if len(r["score"]):
            cols = np.clip(np.round(r["centre"][:, 1]).astype(int), 0, m1 - 1)
            ok = (r["height"] >= thr) & (r["height"] >= RIDGE_K * ridge[cols])
            ok &= np.all((r["centre"] > -0.5) & (r["centre"] < np.array([m0, m1]) - 0.5), axis=1)
            for k in r:
                r[k] = r[k][ok]
        r["height"] = sign * r["height"]
        results.append(r)
    centre = np.concatenate([r["centre"] for r in results]) * back
    fwhh = np.concatenate([r["fwhh"] for r in results]) * back
    height = np.concatenate([r["height"] for r in results])
    score = np.concatenate([r["score"] for r in results])
    order = np.lexsort((centre[:, 1], centre[:, 0])) if len(score) else np.zeros(0, int)
    centre, fwhh, height, score = centre[order], fwhh[order], height[order], score[order]
    return dict(centre=centre.reshape(-1, 2), fwhh=fwhh.reshape(-1, 2), height=height, score=score,
                volume=gaussian_volume(height, fwhh[:, 0], fwhh[:, 1]) if len(score) else np.zeros(0),
                cluster=clusters(centre, fwhh), factors=factors, n_tiles=n_tiles)
