"""From network detections to peaks: the one post-processing step.

Used by the tile benchmark (``bench.py``) and by whole-spectrum picking
(``pick.py``) alike, so the published figures measure what users get.

For each detection (box, score, mask) on a spectrum (positive peaks; negative
peaks are handled by the caller on the negated data):

1. centre: the data maximum near the box centre, refined to sub-point by a
   parabola through the 3 points around it on each axis (on the logarithm when
   all three are positive, which is exact for Gaussians); a shoulder without a
   local maximum keeps the mask's intensity-weighted centroid;
2. FWHH per axis: the half-height crossings of the data profile through the
   centre (linear interpolation, :func:`half_width`); where a neighbour stops
   the profile from falling to half height the mask's extent is used instead;
3. the box is redrawn as the pixel extent of that half-height region
   (the prototype's misses on the paper protocol were boxes one pixel off);
4. duplicates (a detection whose refined centre falls inside the half-height
   region of a better-scored one) are removed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["refine", "half_height_box", "gaussian_volume", "half_width", "subpoint", "clusters"]


def _parabola(ym, y0, yp):
    """Offset (-0.5..0.5) and height of the vertex of a parabola through 3 points."""
    den = ym - 2.0 * y0 + yp
    if den >= 0:
        return 0.0, y0
    off = 0.5 * (ym - yp) / den
    off = float(np.clip(off, -0.5, 0.5))
    return off, y0 - 0.25 * (ym - yp) * off


def subpoint(prof, i):
    """Sub-point position and height of a maximum at index i of a 1D profile."""
    if i <= 0 or i >= len(prof) - 1:
        return float(i), float(prof[i])
    a, b, c = prof[i - 1], prof[i], prof[i + 1]
    if a > 0 and b > 0 and c > 0:
        off, h = _parabola(np.log(a), np.log(b), np.log(c))
        return i + off, float(np.exp(h))
    off, h = _parabola(a, b, c)
    return i + off, float(h)


def half_width(prof, c, h, *, neighbours=True, one_sided=True):
    """FWHH of a 1D profile around sub-point centre ``c`` with height ``h``.

    Walks out from the sample nearest ``c`` on each side to the first sample
    below ``h / 2`` and interpolates the crossing linearly (the package's one
    FWHH measurement: refinement, resampling and the realism table use it).

    Parameters
    ----------
    prof : 1D array
    c : float
        Centre (points).
    h : float
        Peak height (the half height is ``h / 2``).
    neighbours : bool, optional
        Stop a side (no crossing) where the profile rises again (by more
        than 2 %) above half height: a neighbour's flank.
    one_sided : bool, optional
        With one crossing found, return twice its distance from ``c``;
        otherwise None.

    Returns
    -------
    float or None
        None where no crossing was found (both sides, or one side without
        ``one_sided``); a side also finds none at the profile's end.

    Examples
    --------
    >>> x = np.arange(21.0)
    >>> round(float(half_width(np.exp(-4 * np.log(2) * (x - 10) ** 2 / 16), 10.0, 1.0)), 2)
    4.0
    """
    n = len(prof)
    i0 = int(round(c))
    half = 0.5 * h
    ends = []
    for step in (-1, 1):
        i = i0
        prev = prof[i0]
        found = None
        while 0 <= i + step < n:
            v = prof[i + step]
            if neighbours and v > prev * 1.02 and prev > half:   # rising again: neighbour
                break
            if v < half:
                # linear interpolation between i (>= half) and i+step (< half)
                frac = (prof[i] - half) / (prof[i] - v) if prof[i] != v else 0.0
                found = i + step * frac
                break
            prev = v
            i += step
        ends.append(found)
    if ends[0] is None or ends[1] is None:
        if (ends[0] is None and ends[1] is None) or not one_sided:
            return None
        one = ends[0] if ends[0] is not None else ends[1]
        return 2.0 * abs(c - one)
    return ends[1] - ends[0]


#: Grid cell (points) for the duplicate search: two detections of one peak lie
#: within 0.35 FWHH (<= 7 points for the widest trained peaks) of each other.
_CELL = 8.0


def _climb(data, iy, ix, bounds, max_steps=64):
    """Steepest ascent over 3x3 neighbourhoods from (iy, ix); None if it leaves
    ``bounds`` = (y0, x0, y1, x1) (inclusive)."""
    n0, n1 = data.shape
    for _ in range(max_steps):
        ya, yb = max(0, iy - 1), min(n0, iy + 2)
        xa, xb = max(0, ix - 1), min(n1, ix + 2)
        win = data[ya:yb, xa:xb]
        wy, wx = np.unravel_index(int(np.argmax(win)), win.shape)
        ny, nx = ya + wy, xa + wx
        if (ny, nx) == (iy, ix) or win[wy, wx] <= data[iy, ix]:
            break
        iy, ix = ny, nx
        if not (bounds[0] <= iy <= bounds[2] and bounds[1] <= ix <= bounds[3]):
            return None
    return iy, ix


def _concave(data, iy, ix):
    """Is the data concave (negative second difference, 3-point smoothed across)
    along both axes at (iy, ix)? A shoulder bulges; a plain flank or tail is
    convex along the direction it falls beyond its inflection point."""
    n0, n1 = data.shape
    if not (0 < iy < n0 - 1 and 0 < ix < n1 - 1):
        return False
    ya, yb = max(iy - 1, 0), min(iy + 2, n0)
    xa, xb = max(ix - 1, 0), min(ix + 2, n1)
    d2y = np.mean(data[iy - 1, xa:xb] - 2 * data[iy, xa:xb] + data[iy + 1, xa:xb])
    d2x = np.mean(data[ya:yb, ix - 1] - 2 * data[ya:yb, ix] + data[ya:yb, ix + 1])
    return bool(d2y < 0 and d2x < 0)


def _is_duplicate(c, fw, out, grid):
    """Does centre c fall within 0.35 FWHH (or 0.75 points) of a kept peak?"""
    cell = (int(c[0] // _CELL), int(c[1] // _CELL))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            for k in grid.get((cell[0] + dy, cell[1] + dx), ()):
                gap = np.abs(c - out["centre"][k])
                if np.all(gap < 0.35 * np.maximum(out["fwhh"][k], fw)) or np.hypot(*gap) < 0.75:
                    return True
    return False


def half_height_box(centre, fwhh, shape=None):
    """Pixel extent ``(y0, x0, y1, x1)`` (end exclusive) of a half-height ellipse's
    bounding box: the pixels within ``fwhh/2`` of the centre on each axis."""
    cy, cx = centre
    wy, wx = fwhh
    y0 = np.ceil(cy - wy / 2 - 1e-9)
    y1 = np.floor(cy + wy / 2 + 1e-9) + 1
    x0 = np.ceil(cx - wx / 2 - 1e-9)
    x1 = np.floor(cx + wx / 2 + 1e-9) + 1
    if y1 <= y0:
        y0, y1 = np.round(cy), np.round(cy) + 1
    if x1 <= x0:
        x0, x1 = np.round(cx), np.round(cx) + 1
    b = np.array([y0, x0, y1, x1], float)
    if shape is not None:
        b[[0, 2]] = np.clip(b[[0, 2]], 0, shape[0])
        b[[1, 3]] = np.clip(b[[1, 3]], 0, shape[1])
    return b


def gaussian_volume(height, fwhh_y, fwhh_x):
    """Volume of a 2D Gaussian of this height and FWHH (pi / (4 ln 2) * h * wy * wx)."""
    return np.pi / (4.0 * np.log(2.0)) * height * fwhh_y * fwhh_x


def refine(data, boxes, scores, extents=None):
    """Refine detections on the data (see module docstring).

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
        The spectrum (any units; peaks positive).
    boxes : ndarray of shape (m, 4)
        ``(y0, x0, y1, x1)`` from the network, in ``data`` coordinates.
    scores : ndarray of shape (m,)
    extents : ndarray of shape (m, 2), optional
        Rows and columns (points) covered by each detection's mask inside its
        box; NaN (or None for all) where the mask is empty: the box size is
        used then.

    Returns
    -------
    dict of ndarray
        ``centre`` (k, 2), ``fwhh`` (k, 2), ``height`` (k,), ``score`` (k,),
        ``box`` (k, 4) redrawn, ``index`` (k,) into the input detections,
        ``mask_fwhh`` (k, 2) widths of the network's mask. Sorted by score.
    """
    data = np.asarray(data)
    n0, n1 = data.shape
    order = np.argsort(-np.asarray(scores), kind="stable")
    grid = {}
    out = {k: [] for k in ("centre", "fwhh", "height", "score", "box", "index", "mask_fwhh")}
    for j in order:
        y0, x0, y1, x1 = boxes[j]
        by, bx = (y0 + y1) / 2 - 0.5, (x0 + x1) / 2 - 0.5   # pixel-index centre of the box
        hy, hx = max(y1 - y0, 1.0), max(x1 - x0, 1.0)
        mw = np.array([hy, hx], float)
        if extents is not None and np.all(np.isfinite(extents[j])):
            mw = np.array(extents[j], float)
        # climb from the box centre to the local maximum; if the climb leaves
        # the box, the maximum belongs to a neighbour and this is a shoulder
        iy = min(max(int(round(by)), 0), n0 - 1)
        ix = min(max(int(round(bx)), 0), n1 - 1)
        top = _climb(data, iy, ix, (np.floor(y0) - 1, np.floor(x0) - 1, np.ceil(y1), np.ceil(x1)))
        on_edge = top is None
        if not on_edge:
            my, mx = top
        if on_edge and not _concave(data, iy, ix):
            # no local maximum and no concavity: the flank or tail of a
            # neighbour (or of a peak outside the spectrum), not a peak
            continue
        if on_edge:
            # no local maximum, but the data bulge here: a shoulder. Keep the box centre.
            cy, cx = float(by), float(bx)
            h = float(data[iy, ix])
            fw = mw
        else:
            cy, hy_ = subpoint(data[:, mx], my)
            cx, hx_ = subpoint(data[my, :], mx)
            h = max(hy_, hx_)
            fy = half_width(data[:, mx], cy, h)
            fx = half_width(data[my, :], cx, h)
            fw = np.array([fy if fy is not None else mw[0], fx if fx is not None else mw[1]], float)
            # a profile that never falls to half height within 3 mask widths is
            # not a peak shape (ridge, baseline): trust the mask
            fw = np.where(fw > 3 * mw + 2, mw, fw)
        c = np.array([cy, cx])
        # duplicate of a better detection already kept? (neighbours via a grid)
        dup = _is_duplicate(c, fw, out, grid)
        if dup and not on_edge and _concave(data, iy, ix):
            # the climb ended on a better neighbour's maximum; if the box itself
            # sits apart from it, this is a shoulder of its own, not a duplicate
            cb = np.array([float(by), float(bx)])
            if not _is_duplicate(cb, mw, out, grid):
                c, h, fw, dup = cb, float(data[iy, ix]), mw, False
        if dup:
            continue
        cell = (int(c[0] // _CELL), int(c[1] // _CELL))
        grid.setdefault(cell, []).append(len(out["centre"]))
        out["centre"].append(c)
        out["fwhh"].append(np.maximum(fw, 0.5))
        out["height"].append(h)
        out["score"].append(float(scores[j]))
        out["box"].append(half_height_box(c, np.maximum(fw, 0.5), (n0, n1)))
        out["index"].append(int(j))
        out["mask_fwhh"].append(mw)
    shapes = dict(centre=(0, 2), fwhh=(0, 2), box=(0, 4), mask_fwhh=(0, 2))
    return {k: (np.array(v, float if k != "index" else int) if len(v)
                else np.zeros(shapes.get(k, (0,)), float if k != "index" else int))
            for k, v in out.items()}


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
