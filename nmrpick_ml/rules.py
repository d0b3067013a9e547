"""Rules that turn detections into one pick per real peak, decided on the data.

Pure functions of arrays: the spectrum (signed, on the grid the positions are
given in) and the picks' ``centre`` (k, 2) points, ``fwhh`` (k, 2) points,
signed ``height`` (k,) and ``score`` (k,). The picking core runs
:func:`apply_rules` once, on both signs together, after refinement:

1. :func:`merge_duplicates` -- two picks of one sign closer than one FWHH are
   one peak unless the data show two: two maxima with a dip between them
   deeper than the noise, or a shoulder (the weaker pick is concave on both
   axes and stands above the mirror image of the stronger peak's profile).
   The merged pick is the higher one and keeps the better score.
2. :func:`reject_artefacts` -- a pick on the row or column of a much stronger
   peak (its "parent", either sign) is tested against what that parent can
   make there: a symmetric partner at the mirrored offset (sidelobes and
   sidebands come in pairs, :func:`mirror_partner`) with the pick below the
   envelope of a truncated line or of sidebands at that offset; an other-sign
   dip beside the parent (its undershoot); and, where the line is measurably
   noisier than the noise on both sides of the parent (t1 ridges, rows of
   lobes), ``LINE_K`` x the part of that level that varies from point to
   point (noise-like: t1 noise, lobes) and ``SLOW_K`` x its whole spread
   (slow wiggles), measured with the other picks on the line left out, so
   that the smooth tails of broad peaks and a crowded line are not taken for
   an artefact level. Negative "peaks" that are
   lobes of positive ones go the same way.
3. :func:`group_multiplets` -- maxima of the data on one row (all peaking at
   the same indirect position) whose spacings along the direct axis are J
   couplings (``J_RANGE`` Hz) and whose positions and intensities are
   symmetric about a centre (d, t, q, dd, ...), with one width along the
   indirect axis, are one multiplet: its picks
   become one pick at the centre, with ``j_hz`` and ``n_lines``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["apply_rules", "rule_step", "merge_duplicates", "reject_artefacts", "reject_crossings",
           "reject_sidebands", "group_multiplets", "STEPS",
           "shows_two", "mirror_partner", "noise_fast_ratio", "other_sign_peaks",
           "MULTIPLET_MODES", "J_RANGE", "multiplet_mode"]

#: The rules of :func:`apply_rules`, in the order they run.
STEPS = ("duplicates", "artefacts", "crossings", "sidebands", "multiplets")
#: What ``multiplets=`` may be: one pick per multiplet, or each line; "auto" is
#: :func:`multiplet_mode`'s choice by the indirect nucleus.
MULTIPLET_MODES = ("auto", "merge", "keep")
#: J couplings (Hz) between the lines of one multiplet.
J_RANGE = (2.0, 18.0)
#: A parent is at least this many times higher than the pick it may have made.
PARENT_RATIO = 4.0
#: A maximum at the mirrored offset within this factor of a pick's height is its symmetric partner.
MIRROR_K = 2.0
#: Where the parent's artefacts are measurable, a pick is this many times their level (robust sd) ...
LINE_K = 4.0
#: ... which they are where the line's robust sd is this many times the noise.
LINE_EXCESS = 1.5
#: Envelope of truncation sidelobes: at most TRUNCATION x FWHH / offset of the parent's height
#: (sinc lobes 1 / (pi x) at x zero-spacings, and at least 1.21 zero-spacings per FWHH: 1 / (1.21 pi)).
#: Far out, where the DFT's wrapped tails add up (to 1.5x that), SIDEBAND covers them: with both,
#: no lobe of an unwindowed line of 32-128 acquired points, zero-filled 2-8x, damped or not,
#: exceeds 0.75 of the envelope.
TRUNCATION = 0.264
#: Decoupling sidebands: at most this fraction of the parent's height.
SIDEBAND = 0.02
#: A symmetric partner lies within this many of the pick's FWHH of the mirrored offset ...
PARTNER_TOL = 0.25
#: ... and both sit on the parent's own row/column: within this many of its FWHH across.
ON_LINE = 0.25
#: An other-sign dip within this many FWHH of its parent, below the envelope, is the
#: parent's own undershoot (window, linear prediction, phase: often on one side only).
NEAR_LOBE = 2.0
#: The flanks of a line of the other sign (:func:`_flank`), a pair about it: the line is at
#: least this many times higher (a sine-bell window that starts at zero leaves a line of no
#: area: flanks of half its height, a zero-filling factor of points either side).
FLANK_RATIO = 1.5
#: ... and an undersampled line (FWHH at most FLANK_FWHH points along the axis), sampled off its
#: apex, shows one flank alone, within FLANK_REACH points of it and at most 1 / (2 FLANK_RATIO)
#: of it high (the samples of a line narrower than a point are not symmetric about it).
FLANK_FWHH = 1.5
FLANK_REACH = 2.0
#: ... or, lower than the line, beside one whose samples along the axis (FLANK_REACH + 1 points
#: either side) sum to at most this fraction of its height: a line of no area.
ZERO_AREA = 0.25
#: The lines of a multiplet peak within this many FWHH of one indirect position.
ROW_TOL = 0.15
#: Height ratio allowed between the two lines of a symmetric pair (roof effect, overlap).
ROOF = 2.0
#: The lines of a multiplet are at least this fraction of its highest (q: 1/3, roofing: x 1/2).
LINE_FRACTION = 0.25
#: The lines of a multiplet have one indirect-axis width, within this fraction (plus 2 / SNR).
WIDTH_TOL = 0.15
#: Decoupling sidebands at one offset from two parents, and the two cross peaks of a strongly
#: coupled pair: their fractions of the parent within this factor.
SIDEBAND_SPREAD = 5.0
#: The line level is measured about a running median over this many of the parents' FWHH
#: (their sidelobes alternate within 1.6 FWHH; their tails, and other peaks', vary slower).
SMOOTH = 3.0
#: ... and a pick must reach this many times the line's whole robust sd (slow parts included).
SLOW_K = 2.0
#: A dip between two maxima must be this many noise sd deep (and 2 % of the lower one).
DIP_NOISE = 3.0


def _sample(data, pts, sign=1.0):
    """Bilinear interpolation of ``sign x data`` at fractional points (n, 2); NaN outside."""
    from scipy.ndimage import map_coordinates
    pts = np.asarray(pts, float).reshape(-1, 2)
    # no float64 copy of the whole spectrum per call: the same values (computed in double)
    v = map_coordinates(data, pts.T, order=1, mode="nearest", output=np.float64)
    out = np.all((pts >= 0) & (pts <= np.array(data.shape) - 1), axis=1)
    return np.where(out, sign * v, np.nan)


def _concave(data, c, sign=1.0):
    """Negative second difference (3-point smoothed across) along both axes at c."""
    iy, ix = int(round(c[0])), int(round(c[1]))
    n0, n1 = data.shape
    if not (0 < iy < n0 - 1 and 0 < ix < n1 - 1):
        return False
    win = sign * np.asarray(data[iy - 1:iy + 2, ix - 1:ix + 2], np.float64)
    d2y = np.mean(win[0] - 2 * win[1] + win[2])
    d2x = np.mean(win[:, 0] - 2 * win[:, 1] + win[:, 2])
    return bool(d2y < 0 and d2x < 0)


def shows_two(data, a, b, noise, sign=1.0):
    """Do the data show two peaks at ``a`` (the higher) and ``b``, not one?

    Two maxima with a dip between them (the profile along the segment falls
    ``DIP_NOISE`` noise sd, and 2 % of the lower end, below its lower end), or a
    shoulder: ``b`` concave on both axes and standing above the mirror image of
    ``a``'s profile (the data at ``2a - b``) by 3 noise sd and 25 % of its height.

    Parameters
    ----------
    data : ndarray (N1, N2)
        Peaks positive, or of the sign ``sign``.
    a, b : (float, float)
        Positions in points.
    noise : float
    sign : float
        The sign of the peaks in ``data`` (the data are read as ``sign x data``).

    Returns
    -------
    bool

    Examples
    --------
    >>> y, x = np.mgrid[0:32, 0:48]
    >>> g = lambda cy, cx, w: np.exp(-4 * np.log(2) * (((y - cy) / w) ** 2 + ((x - cx) / w) ** 2))
    >>> shows_two(g(16, 20, 4) + g(16, 25, 4), (16, 20), (16, 25), 0.001)   # 1.25 FWHH apart
    True
    >>> shows_two(g(16, 20, 4), (16, 20), (16, 21), 0.001)                   # one peak
    False
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    dist = float(np.hypot(*(b - a)))
    n = max(int(np.ceil(4 * dist)), 8)
    t = np.linspace(0.0, 1.0, n + 1)
    prof = _sample(data, a[None, :] + t[:, None] * (b - a)[None, :], sign)
    if np.any(np.isnan(prof)):
        return False
    low = min(prof[0], prof[-1])
    if low - np.min(prof[1:-1]) > max(DIP_NOISE * noise, 0.02 * abs(low)):
        return True
    mirror = _sample(data, 2 * a - b, sign)[0]
    if np.isnan(mirror) or not _concave(data, b, sign):
        return False
    return bool(prof[-1] - mirror > max(3.0 * noise, 0.25 * abs(prof[-1])))


def merge_duplicates(data, centre, fwhh, height, score, noise):
    """Merge same-sign picks closer than one FWHH that the data do not show as two.

    Parameters
    ----------
    data : ndarray (N1, N2), signed
    centre, fwhh : ndarray (k, 2), points
    height, score : ndarray (k,)
        Signed heights; scores.
    noise : float

    Returns
    -------
    keep : ndarray of int
        Indices of the picks kept.
    score : ndarray (k,)
        Scores, a kept pick holding the best score of the picks merged into it.
    """
    centre, fwhh = np.asarray(centre, float).reshape(-1, 2), np.asarray(fwhh, float).reshape(-1, 2)
    height, score = np.asarray(height, float), np.asarray(score, float).copy()
    k = len(height)
    if k < 2:
        return np.arange(k), score
    from scipy.spatial import cKDTree
    order = np.argsort(-np.abs(height), kind="stable")
    alive = np.ones(k, bool)
    tree = cKDTree(centre)
    wmax = float(np.max(fwhh))
    for i in order:
        if not alive[i]:
            continue
        for j in tree.query_ball_point(centre[i], wmax + 1e-9):
            if j == i or not alive[j] or np.sign(height[j]) != np.sign(height[i]):
                continue
            if abs(height[j]) > abs(height[i]):
                continue    # j is handled as the higher one of its own pairs
            w = np.maximum(fwhh[i], fwhh[j])
            if np.sum(((centre[j] - centre[i]) / w) ** 2) >= 1.0:
                continue
            s = np.sign(height[i])
            if shows_two(data, centre[i], centre[j], noise, sign=s):
                continue
            alive[j] = False
            score[i] = max(score[i], score[j])
    return np.nonzero(alive)[0], score


def _median(x):
    """np.median of a 1-D float64 array, to the last bit, without its overhead."""
    x = np.sort(x)
    h = len(x) // 2
    return x[h] if len(x) % 2 else (x[h - 1] + x[h]) / 2


def _nearest_free(idx, centre_, excluded, fw_p, n_line):
    """The n_line points of idx nearest centre_ that are in no peak."""
    keep = np.abs(idx - centre_) > max(2.0 * fw_p, 1.0)   # the pick and its flanks
    for c, half in excluded:
        keep &= np.abs(idx - c) > half
    idx = idx[keep]
    return idx[np.argsort(np.abs(idx - centre_), kind="stable")[:n_line]]


def _line_level(data, centre_, axis, other, fw_p, excluded, sign, smooth=0, fast_above=None):
    """Robust sd and median of the line (row ``other`` for axis 1, column for
    axis 0) of ``sign x data`` around ``centre_``: the line level of :func:`reject_artefacts`.

    Returns ``(sd, median, fast)``. With ``smooth`` (points, >= 5), ``fast`` is
    the robust sd of the line minus its running median over ``smooth``
    points: what varies along the line as noise, t1 noise and sidelobes do
    (they alternate within a few of the parent's FWHH), and not the slow tails
    of the parent and of other peaks that the line passes through (a broad
    Lorentzian's tails reach far); NaN without ``smooth``, and where ``sd`` is not
    above ``fast_above`` (a line as quiet as the noise needs no more)."""
    n = data.shape[axis]
    w = max(16.0, 8.0 * fw_p)
    n_line = int(np.ceil(2 * w))
    # the points within 4 w first (no others are used); the whole line only
    # where fewer than n_line are free there
    lo, hi = max(int(np.floor(centre_ - 4 * w)), 0), min(int(np.ceil(centre_ + 4 * w)), n - 1)
    idx = _nearest_free(np.arange(lo, hi + 1), centre_, excluded, fw_p, n_line)
    if len(idx) < n_line or np.max(np.abs(idx - centre_)) > 4 * w:
        idx = _nearest_free(np.arange(n), centre_, excluded, fw_p, n_line)
    if len(idx) < 8 or np.max(np.abs(idx - centre_)) > 4 * w:
        return np.nan, np.nan, np.nan
    full = data[other, :] if axis == 1 else data[:, other]
    line = sign * np.asarray(full[idx], np.float64)
    base = float(_median(line))
    sd = float(1.4826 * _median(np.abs(line - base)))
    if smooth < 5 or (fast_above is not None and not sd > fast_above):
        return sd, base, np.nan
    from scipy.ndimage import median_filter
    k = int(smooth) | 1
    a, b = max(int(idx.min()) - k, 0), min(int(idx.max()) + k + 1, n)
    seg = sign * np.asarray(full[a:b], np.float64)
    res = (seg - median_filter(seg, size=k, mode="nearest"))[idx - a]
    return sd, base, float(1.4826 * _median(np.abs(res - _median(res))))


def noise_fast_ratio(data, noise, axis, smooth, max_lines=16):
    """What :func:`_line_level`'s ``fast`` level is of the whole robust sd for
    the noise of this spectrum along ``axis``: about 0.9 for white noise, less
    where the noise is correlated along the axis (apodisation, zero-filling,
    resampling), whose slow part the running median follows. Measured on the
    stretches of up to ``max_lines`` evenly spaced lines that hold noise only
    (robust sd below ``LINE_EXCESS`` x ``noise``: no peak, ridge or lobe), the
    median of their ratios. Dividing a line's ``fast`` level by it gives its
    noise-equivalent level, so that t1 noise (which the indirect axis's
    processing correlates as it does the noise) is measured as such. 1.0 when
    fewer than 8 such stretches are found."""
    from scipy.ndimage import median_filter
    d = np.asarray(data)
    k = int(smooth) | 1
    n_other, n = d.shape[1 - axis], d.shape[axis]
    seg = max(4 * k, 32)
    if not noise > 0 or n < seg:
        return 1.0
    idx = np.unique(np.linspace(0, n_other - 1, min(max_lines, n_other)).astype(int))
    lines = np.asarray(d[idx, :] if axis == 1 else d[:, idx].T, np.float64)
    res = lines - median_filter(lines, size=(1, k), mode="nearest")
    m = n // seg * seg
    vals = lines[:, :m].reshape(-1, seg)
    res = res[:, :m].reshape(-1, seg)
    mad = lambda a: 1.4826 * np.median(np.abs(a - np.median(a, axis=1, keepdims=True)), axis=1)
    sd, fast = mad(vals), mad(res)
    quiet = (sd > 0) & (sd < LINE_EXCESS * noise)
    if quiet.sum() < 8:
        return 1.0
    return float(np.clip(np.median(fast[quiet] / sd[quiet]), 0.05, 1.0))


def _far_level(data, p, q, axis, other, fw_p, cores, sign, smooth=0):
    """:func:`_line_level` at the mirrored stretch ``2q - p``, moved inside the
    spectrum when it falls outside (a ridge runs the whole line), as long as it
    stays on the parent's other side; NaN when there is none."""
    mc = float(np.clip(2 * q - p, 0, data.shape[axis] - 1))
    if np.sign(q - mc) == np.sign(p - q) and abs(q - mc) > max(fw_p, 1.0):
        return _line_level(data, mc, axis, other, fw_p, cores, sign, smooth)
    return np.nan, np.nan, np.nan


def mirror_partner(data, p, q, axis, fw_p, base=0.0, sign=1.0):
    """The maximum of the data near the mirrored offset ``2q - p`` of pick ``p``
    about its parent ``q`` along ``axis``, if there is one.

    Sidelobes and decoupling sidebands of a parent come in symmetric pairs: the
    partner of an artefact at ``q + d`` is a maximum (of the pick's sign) at
    ``q - d``. The data along the axis within ``max(1, 0.5 fw_p)`` points of the
    mirrored position are searched for a local maximum inside that stretch (not
    at its ends: a flank of something else is no partner). The stretch is
    ``max(1, PARTNER_TOL fw_p)`` points either side: the lobes of one line are
    symmetric to the precision of the pick's position. ``sign``: the pick's
    sign (the data are read as ``sign x data``).

    Returns
    -------
    float
        Its height above ``base``; NaN when there is no such maximum (or the
        mirror lies outside the spectrum).
    """
    p, q = np.asarray(p, float), np.asarray(q, float)
    m = 2 * q[axis] - p[axis]
    n = data.shape[axis]
    half = max(1.0, PARTNER_TOL * fw_p)
    lo, hi = int(np.floor(m - half)), int(np.ceil(m + half))
    if lo < 0 or hi > n - 1 or hi - lo < 2:
        return np.nan
    other = int(np.clip(np.rint(p[1 - axis]), 0, data.shape[1 - axis] - 1))
    line = sign * np.asarray(data[other, lo:hi + 1] if axis == 1 else data[lo:hi + 1, other], np.float64)
    k = int(np.argmax(line))
    if k == 0 or k == len(line) - 1:
        return np.nan
    return float(line[k] - base)


def reject_artefacts(data, centre, fwhh, height, noise, parent_ratio=PARENT_RATIO, parents=None,
                     why=None):
    """Which picks stand out of the artefacts of a much stronger peak on their row or column?

    A pick whose row or column passes within 0.75 FWHH (at least a point) of a
    parent (``parent_ratio`` x higher, either sign) is tested against what
    that parent can make there, for every such parent:

    * a symmetric pair (truncation sidelobes, decoupling sidebands): the
      pick is an artefact when the data have a maximum of the pick's sign at
      the mirrored offset (:func:`mirror_partner`) within a factor
      ``MIRROR_K`` of the pick's height, and the pick is no higher than the
      parent's lineshape allows at that offset: ``TRUNCATION x fw / |d|`` of
      the parent (the envelope of a truncated line: sinc lobes ``1/(pi x)``
      at ``x`` zero-spacings, with at least 1.21 zero-spacings per FWHH) or
      ``SIDEBAND`` of it (decoupling sidebands are at most a few per cent),
      whichever is larger; and the pick lies on the parent's own line (within
      ``ON_LINE`` of its FWHH across, half a point at least), as its lobes
      do. A real peak that happens to mirror another one of similar height
      about a much stronger peak, on its line, is the risk taken; it is
      bounded by that envelope.
    * the undershoot of a line: a pick of the other sign than its parent,
      within ``NEAR_LOBE`` of the parent's FWHH and below the envelope, is
      the parent's first lobe (apodisation, linear prediction and phase
      errors make it one-sided, so no partner is asked for). A real peak of
      the other sign that close would be mostly cancelled by the parent.
    * the flanks of a line of the other sign (:func:`_flank`): a window that
      starts near zero leaves a line of about no area, flanked by two maxima
      of the other sign up to half its height, too high for the envelope; a
      pick with its mirror partner there, the line ``FLANK_RATIO`` x higher
      (not ``parent_ratio``), is one.
    * the line level (t1 ridges, rows of sidelobes): where the robust sd of
      the data along the line around the pick (:func:`_line_level`)
      exceeds the noise by ``LINE_EXCESS`` (the parent's artefacts are
      measurable there), the pick, above the line's baseline, must reach
      ``LINE_K`` x the line's point-to-point level (its robust sd about a
      running median over ``SMOOTH`` x the parents' FWHH: noise, t1 noise and
      lobes, not the slow tails of broad peaks; over :func:`noise_fast_ratio`,
      so that it is in noise units however correlated the noise is along the
      line) and ``SLOW_K`` x its whole
      robust sd with the other picks on the line left out (slow wiggles it
      may sit on as a bump; a crowded line is not an artefact level): on a
      column (t1 noise runs the whole of it) always, on a row where the pick
      is within the envelope above (the parent makes only lobes and
      sidebands along the direct axis; a taller pick on a crowded row is
      another peak). Where the line is as quiet as the noise, the noise
      threshold has decided.

    Picks with no parent are kept.

    Parameters
    ----------
    data : ndarray (N1, N2), signed
    centre, fwhh : ndarray (k, 2), points
    height : ndarray (k,), signed
    noise : float
    parent_ratio : float
    parents : (centre, fwhh, height), optional
        More peaks that may be parents but are not tested themselves (the
        other sign's peaks when each sign is picked apart).
    why : list, optional
        Gets ``(pick, reason, parent, axis)`` for each pick rejected (parent
        indices past ``k`` are ``parents``').

    Returns
    -------
    keep : ndarray of bool (k,)
    """
    centre, fwhh, height_, keep = _pick_arrays(centre, fwhh, height)
    k = len(height_)
    centre, fwhh, height_ = _with_parents(centre, fwhh, height_, parents)
    h = np.abs(height_)
    if len(h) < 2:
        return keep
    ratio = {}      # noise_fast_ratio per (axis, smoothing length)
    for i in range(k):
        s = np.sign(height_[i]) or 1.0
        flank = _flank(data, centre, fwhh, height_, h, i, s)
        if flank is not None:
            keep[i] = False
            _note(why, i, "flank", *flank)
            continue
        parents_ = np.nonzero(h >= parent_ratio * h[i])[0]
        if not len(parents_):
            continue
        for axis in (1, 0):   # 1: the parent's row (direct axis); 0: its column
            across = 1 - axis
            band = np.maximum(0.75 * fwhh[parents_, across], 1.0)
            on = parents_[np.abs(centre[parents_, across] - centre[i, across]) <= band]
            on = on[np.abs(centre[on, axis] - centre[i, axis]) > 0.5 * fwhh[i, axis]]
            if not len(on):
                continue
            # the parents' own peaks are left out of the line level
            cores = [(centre[j, axis], 2.0 * max(fwhh[j, axis], 1.0)) for j in on]
            fw = fwhh[i, axis]
            other = int(np.clip(np.rint(centre[i, across]), 0, data.shape[across] - 1))
            # the level near the pick and the baseline it stands on do not depend on
            # which parent it is tested against: measured once per axis.
            # The parents' tails vary slowly along the line; their lobes, and t1 noise, do not
            # (the point-to-point part only where the line is disturbed)
            smooth = _smoothing(fwhh[on, axis])
            near, base, near_fast = _line_level(data, centre[i, axis], axis, other, fw, cores, s,
                                                smooth, fast_above=LINE_EXCESS * noise)
            quiet = not (np.isfinite(near) and near > LINE_EXCESS * noise)
            if not quiet:
                key = (axis, smooth)
                if key not in ratio:
                    ratio[key] = noise_fast_ratio(data, noise, axis, smooth)
                near_fast /= ratio[key]
            # the line's slow spread, the other picks on it left out too (a crowded row
            # is not an artefact level)
            slow_near = base2 = np.nan
            if not quiet or not np.isfinite(base):
                line_band = np.maximum(0.75 * fwhh[:, across], 1.0)
                rest = np.nonzero(np.abs(centre[:, across] - centre[i, across]) <= line_band)[0]
                others = [(centre[j, axis], 2.0 * max(fwhh[j, axis], 1.0)) for j in rest if j != i]
                slow_near, base2, _ = _line_level(data, centre[i, axis], axis, other, fw,
                                                  cores + others, s)
            if not np.isfinite(base):
                base = base2
            base = base if np.isfinite(base) else 0.0
            hi_ = abs(height_[i]) - base
            # above the line's own baseline (other peaks left out) for the line level
            hi_line = abs(height_[i]) - (base2 if np.isfinite(base2) else base)
            # the line test can only fire where the near side alone would fire it
            line_test = not quiet and not _stands_out(hi_line, slow_near, near_fast)
            for j in on:
                d = abs(centre[i, axis] - centre[j, axis])
                envelope = h[j] * max(TRUNCATION * max(fwhh[j, axis], 1.0) / d, SIDEBAND)
                # t1 noise runs the whole column (axis 0); along the row the parent makes
                # lobes and sidebands no higher than their envelope: a pick higher than
                # that is no artefact of this parent, whatever the row's spread (a
                # crowded row: other peaks and their lobes)
                if line_test and (axis == 0 or h[i] <= envelope):
                    far, _, far_fast = _far_level(data, centre[i, axis], centre[j, axis], axis,
                                                  other, fw, cores, s, smooth)
                    far_slow, _, _ = _far_level(data, centre[i, axis], centre[j, axis], axis,
                                                other, fw, cores + others, s)
                    line = min(near, far) if np.isfinite(far) else np.nan
                    far_fast /= ratio[key]
                    fast = min(near_fast, far_fast) if np.isfinite(far_fast) else near_fast
                    slow = min([v for v in (slow_near, far_slow, line) if np.isfinite(v)],
                               default=np.nan)
                    if (np.isfinite(line) and line > LINE_EXCESS * noise
                            and not _stands_out(hi_line, slow, fast)):
                        keep[i] = False
                        _note(why, i, "line level", j, axis)
                        break
                if abs(centre[i, across] - centre[j, across]) > max(ON_LINE * fwhh[j, across], 0.5):
                    continue   # a lobe or sideband lies on the parent's own line
                if hi_ > envelope:
                    continue
                if np.sign(height_[j]) != s and d <= NEAR_LOBE * max(fwhh[j, axis], 1.0):
                    keep[i] = False   # the undershoot beside a line of the other sign
                    _note(why, i, "undershoot", j, axis)
                    break
                partner = mirror_partner(data, centre[i], centre[j], axis, fw, base, sign=s)
                if np.isfinite(partner) and hi_ / MIRROR_K <= partner <= MIRROR_K * hi_:
                    keep[i] = False
                    _note(why, i, "mirror partner", j, axis)
                    break
            if not keep[i]:
                break
    return keep


def _flank(data, centre, fwhh, height, h, i, s):
    """Is pick ``i`` (sign ``s``) a flank of a line of the other sign? Its ``(line, axis)``, or None.

    A window that starts near zero (a sine bell without shift) makes a line of
    about no area: a maximum flanked, a zero-filling factor of points either
    side, by two of the other sign of up to half its height. They are too high
    for the envelope of :func:`reject_artefacts`' undershoot, so they are told
    by their pair: within ``NEAR_LOBE`` of the line's FWHH of it on its own
    line (``ON_LINE``), the line ``FLANK_RATIO`` x higher, and a maximum of the
    pick's sign at the mirrored offset within ``MIRROR_K`` of its height. A line
    narrower than ``FLANK_FWHH`` points is sampled off its apex, and its two
    flanks come out unequal: there one within ``FLANK_REACH`` points needs no
    partner where it is at most half of ``1 / FLANK_RATIO`` of the line high, or
    lower than the line and the line's samples sum to about nothing
    (``ZERO_AREA``): a line of no area."""
    cand = np.nonzero((h > h[i]) & (np.sign(height) == -s))[0]
    dist = np.abs(centre[cand] - centre[i])              # (m, 2): along each axis
    for axis in (1, 0):
        across = 1 - axis
        near = (dist[:, across] <= np.maximum(ON_LINE * fwhh[cand, across], 0.5)) & \
            (dist[:, axis] >= 0.5) & (dist[:, axis] <= NEAR_LOBE * np.maximum(fwhh[cand, axis], 1.0))
        for j, d in zip(cand[near], dist[near, axis]):
            if fwhh[j, axis] <= FLANK_FWHH and d <= FLANK_REACH and (
                    h[j] >= 2.0 * FLANK_RATIO * h[i]
                    or _area(data, centre[j], axis) <= ZERO_AREA * h[j]):
                return int(j), axis
            if h[j] < FLANK_RATIO * h[i]:
                continue
            partner = mirror_partner(data, centre[i], centre[j], axis, fwhh[i, axis], sign=s)
            if np.isfinite(partner) and h[i] / MIRROR_K <= partner <= MIRROR_K * h[i]:
                return int(j), axis
    return None


def _area(data, c, axis):
    """|Sum| of the data along ``axis`` within ``FLANK_REACH + 1`` points of ``c`` (its line)."""
    r = int(FLANK_REACH) + 1
    n = data.shape[axis]
    k = int(np.clip(np.rint(c[axis]), 0, n - 1))
    other = int(np.clip(np.rint(c[1 - axis]), 0, data.shape[1 - axis] - 1))
    seg = slice(max(k - r, 0), min(k + r + 1, n))
    line = data[other, seg] if axis == 1 else data[seg, other]
    return float(abs(np.sum(line, dtype=np.float64)))


def _smoothing(parent_fwhh):
    """The running median's length for parents of these FWHH along the line:
    SMOOTH x the largest, odd, on a grid of about 1.4x steps (5, 7, 9, 13, 17, 25,
    33, 47, 65, ...; the noise's ratio is measured once per length)."""
    want = SMOOTH * max(float(np.max(parent_fwhh)), 1.0)
    if want <= 5:
        return 5
    k = 5.0 * np.sqrt(2.0) ** np.round(np.log(want / 5.0) / np.log(np.sqrt(2.0)))
    return int(k) | 1


def _stands_out(height, slow, fast):
    """Does a pick of ``height`` (above its local baseline) stand out of a line
    whose robust sd is ``slow`` and whose point-to-point part is ``fast``
    (:func:`_line_level`)? It must reach ``LINE_K`` x the fast level (noise-like
    artefacts: t1 noise, sidelobes, whose maxima reach 3-4 sd) and ``SLOW_K`` x
    the whole spread (slow wiggles and tails it may sit on as a bump)."""
    if not np.isfinite(fast):
        return height >= LINE_K * slow
    return height >= LINE_K * fast and height >= SLOW_K * slow


def _pick_arrays(centre, fwhh, height):
    """centre, fwhh (k, 2) and height (k,) as float arrays, and keep (k,) all True."""
    height = np.asarray(height, float)
    return (np.asarray(centre, float).reshape(-1, 2), np.asarray(fwhh, float).reshape(-1, 2), height,
            np.ones(len(height), bool))


def _with_parents(centre, fwhh, height, parents):
    """The picks followed by the extra parents (centre, fwhh, height)."""
    if parents is None or not len(parents[2]):
        return centre, fwhh, height
    return (np.concatenate([centre, np.asarray(parents[0], float).reshape(-1, 2)]),
            np.concatenate([fwhh, np.asarray(parents[1], float).reshape(-1, 2)]),
            np.concatenate([height, np.asarray(parents[2], float)]))


def reject_crossings(data, centre, fwhh, height, noise, hz_per_point, parent_ratio=PARENT_RATIO,
                     parents=None, spread=SIDEBAND_SPREAD, why=None):
    """Which picks are not strong-coupling cross peaks of two stronger peaks?

    Two protons A and B that are coupled (J) and close in shift (second order:
    ``J / |dH_A - dH_B|`` not small) each carry a little of the other's
    coherence in an HSQC: a weak peak appears at the carbon (or nitrogen)
    shift of A and the proton shift of B, (F1_A, F2_B), and its mirror image
    at (F1_B, F2_A). A pick is such a cross peak when it lies on the row of a
    stronger peak A of its sign and on the column of another stronger peak B
    (both ``parent_ratio`` x higher, each within ``ON_LINE`` of its FWHH
    across, half a point at least), it is no higher than A can give there,
    ``|A| x J_RANGE[1] / |F2_A - F2_B|`` (the second-order admixture, Hz,
    of the largest J), and the data show the mirror image at (F1_B, F2_A):
    a peak (a maximum of B's sign among its 3x3 neighbours, within a point of
    that spot; the tail or flank of another peak is none), ``DIP_NOISE``
    noise sd at least, and the same
    fraction of B as the pick is of A within a factor ``spread`` (the
    admixture is one for the pair).

    Parameters
    ----------
    data : ndarray (N1, N2), signed
    centre, fwhh : ndarray (k, 2), points
    height : ndarray (k,), signed
    noise : float
    hz_per_point : float
        Direct-axis Hz per point.
    parent_ratio : float
    parents : (centre, fwhh, height), optional
        More peaks that may be A or B (the other sign's).
    spread : float
    why : list, optional
        Gets ``(pick, "crossing", A, 1)`` for each pick rejected.

    Returns
    -------
    keep : ndarray of bool (k,)
    """
    centre, fwhh, height_, keep = _pick_arrays(centre, fwhh, height)
    k = len(height_)
    if k == 0 or not hz_per_point or hz_per_point <= 0:
        return keep
    c, w, hs = _with_parents(centre, fwhh, height_, parents)
    h = np.abs(hs)
    n0, n1 = data.shape
    for i in range(k):
        s = np.sign(height_[i]) or 1.0
        strong = h >= parent_ratio * h[i]
        strong[i] = False
        row = strong & (np.sign(hs) == s) & (np.abs(c[:, 0] - c[i, 0]) <= np.maximum(ON_LINE * w[:, 0], 0.5))
        row &= np.abs(c[:, 1] - c[i, 1]) > np.maximum(w[:, 1], 1.0)
        col = strong & (np.abs(c[:, 1] - c[i, 1]) <= np.maximum(ON_LINE * w[:, 1], 0.5))
        col &= np.abs(c[:, 0] - c[i, 0]) > np.maximum(w[:, 0], 1.0)
        for a in np.nonzero(row)[0]:
            for b in np.nonzero(col)[0]:
                dnu = abs(c[a, 1] - c[b, 1]) * hz_per_point
                if h[i] > h[a] * min(1.0 / parent_ratio, J_RANGE[1] / max(dnu, 1e-9)):
                    continue
                mirror = _mirror_peak(data, c[b, 0], c[a, 1], np.sign(hs[b]))
                frac = h[i] / h[a]
                if mirror >= DIP_NOISE * noise and frac / spread <= mirror / h[b] <= frac * spread:
                    keep[i] = False
                    _note(why, i, "crossing", a, 1)
                    break
            if not keep[i]:
                break
    return keep


def _mirror_peak(data, y, x, sign):
    """Height (``sign x data``) of the maximum in the 3x3 points around (y, x)
    when it is a peak there: higher than every point around it, 5x5; 0 else
    (the flank of a broad peak or a tail reaching the spot is no mirror image)."""
    iy, ix = int(round(y)), int(round(x))
    n0, n1 = data.shape
    if not (2 <= iy < n0 - 2 and 2 <= ix < n1 - 2):
        return 0.0
    win = sign * np.asarray(data[iy - 2:iy + 3, ix - 2:ix + 3], np.float64)
    k = int(np.argmax(win[1:4, 1:4]))
    ky, kx = 1 + k // 3, 1 + k % 3
    top = win[ky, kx]
    around = win[ky - 1:ky + 2, kx - 1:kx + 2]
    return float(top) if np.sum(around >= top) == 1 else 0.0


def reject_sidebands(centre, fwhh, height, parents=None, spread=SIDEBAND_SPREAD, why=None):
    """Which picks are not decoupling sidebands, told by their offset recurring?

    Heteronuclear decoupling during acquisition modulates every signal the
    same way: each peak gets weak copies at the same offsets along the direct
    axis (both sides, often of unequal size), a fixed small fraction of it.
    A pick on the row of a peak of its sign (within ``ON_LINE`` of the
    parent's FWHH across, half a point at least), at most ``SIDEBAND`` of its
    height and more than ``NEAR_LOBE`` FWHH from it, is a sideband when
    another such pick sits on the row of another parent at the same distance
    (either side; within ``PARTNER_TOL`` of the larger FWHH along the row,
    half a point at least) with a fraction of its parent within a factor
    ``spread`` of this one's. A single weak peak beside a strong one is kept:
    only the pattern repeated elsewhere tells a sideband.

    Parameters
    ----------
    centre, fwhh : ndarray (k, 2), points
    height : ndarray (k,), signed
    parents : (centre, fwhh, height), optional
    spread : float
    why : list, optional
        Gets ``(pick, "sideband", parent, 1)`` for each pick rejected.

    Returns
    -------
    keep : ndarray of bool (k,)
    """
    centre, fwhh, height_, keep = _pick_arrays(centre, fwhh, height)
    k = len(height_)
    if k < 2:
        return keep
    c, w, hs = _with_parents(centre, fwhh, height_, parents)
    h = np.abs(hs)
    cand = []          # (pick, parent, |offset|, fraction)
    for i in range(k):
        par = (np.sign(hs) == np.sign(height_[i])) & (h * SIDEBAND >= h[i])
        par &= np.abs(c[:, 0] - c[i, 0]) <= np.maximum(ON_LINE * w[:, 0], 0.5)
        d = np.abs(c[:, 1] - c[i, 1])
        par &= d > NEAR_LOBE * np.maximum(w[:, 1], 1.0)
        par[i] = False
        cand += [(i, int(j), float(d[j]), float(h[i] / h[j])) for j in np.nonzero(par)[0]]
    for i, j, d, f in cand:
        if not keep[i] and why is None:
            continue
        for i2, j2, d2, f2 in cand:
            if j2 == j or i2 == i:
                continue
            tol = max(PARTNER_TOL * max(fwhh[i, 1], fwhh[i2, 1]), 0.5)
            if abs(d - d2) <= tol and 1.0 / spread <= f / f2 <= spread:
                if keep[i]:
                    keep[i] = False
                    _note(why, i, "sideband", j, 1)
                break
    return keep


def _note(why, i, reason, j, axis):
    """Record why pick i went (for tests and diagnostics): (i, reason, parent, axis)."""
    if why is not None:
        why.append((int(i), reason, int(j), int(axis)))


def _symmetric(x, h, tol):
    """Are positions x (sorted) and heights h symmetric about their centre?"""
    n = len(x)
    c = 0.5 * (x[0] + x[-1])
    for a in range(n // 2):
        b = n - 1 - a
        if abs((x[a] + x[b]) / 2 - c) > tol or not (1 / ROOF <= h[a] / h[b] <= ROOF):
            return False
    if n % 2 == 1:
        mid = n // 2
        if abs(x[mid] - c) > tol or h[mid] < 0.8 * max(h[0], h[-1]):
            return False   # a triplet's (or quintet's) middle line is the tallest
    return True


def _row_maxima(prof, lo, hi, floor):
    """Sub-point positions and heights of the local maxima of a 1D profile in [lo, hi]
    standing ``floor`` above both neighbouring minima (their prominence)."""
    lo, hi = max(int(np.floor(lo)), 0), min(int(np.ceil(hi)), len(prof) - 1)
    seg = np.asarray(prof[lo:hi + 1], np.float64)
    if len(seg) < 3:
        return np.zeros(0), np.zeros(0)
    idx = _prominent_maxima(seg, floor)
    x, h = [], []
    for i in idx:
        a, b, c = seg[i - 1], seg[i], seg[i + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den < 0 else 0.0
        x.append(lo + i + float(np.clip(off, -0.5, 0.5)))
        h.append(b - 0.25 * (a - c) * off)
    return np.array(x), np.array(h)


def _prominent_maxima(x, floor):
    """Indices of the local maxima of the 1D float64 ``x`` at least ``floor`` high
    and ``floor`` prominent: ``scipy.signal.find_peaks(x, height=floor,
    prominence=floor)`` (a flat top: its middle point, rounded down), without
    importing scipy.signal (seconds on a cold start)."""
    n = len(x)
    change = np.flatnonzero(x[1:] != x[:-1])
    start = np.concatenate(([0], change + 1))          # runs of equal values
    end = np.concatenate((change, [n - 1]))
    v = x[start]
    k = np.arange(1, len(v) - 1)
    k = k[(v[k - 1] < v[k]) & (v[k + 1] < v[k])]
    peaks = (start[k] + end[k]) // 2
    peaks = peaks[x[peaks] >= floor]
    if not len(peaks):
        return peaks.astype(int)
    # each side out to the first higher point (or the end): its lowest point
    top = x[peaks][:, None]
    idx = np.arange(n)[None, :]
    pk = peaks[:, None]
    higher = x[None, :] > top
    left = np.where(higher & (idx < pk), idx, -1).max(axis=1)[:, None]
    right = np.where(higher & (idx > pk), idx, n).min(axis=1)[:, None]
    lmin = np.where((idx > left) & (idx <= pk), x[None, :], np.inf).min(axis=1)
    rmin = np.where((idx >= pk) & (idx < right), x[None, :], np.inf).min(axis=1)
    return peaks[top[:, 0] - np.maximum(lmin, rmin) >= floor].astype(int)


def _column_centre(data, y, x, half, sign=1.0):
    """Sub-point position of the column maximum nearest ``y`` at column round(x), found
    by climbing from round(y) within ``half`` points; ``y`` itself where the climb
    leaves that range but the column is concave at y (a line on a neighbour's flank),
    else NaN."""
    ix = int(np.clip(np.rint(x), 0, data.shape[1] - 1))
    col = sign * np.asarray(data[:, ix], np.float64)
    n = len(col)
    i = int(np.clip(np.rint(y), 1, n - 2))
    i0 = i
    while 1 <= i <= n - 2 and abs(i - y) <= half:
        step = 1 if col[i + 1] > col[i] else -1 if col[i - 1] > col[i] else 0
        if step == 0:
            a, b, c = col[i - 1], col[i], col[i + 1]
            den = a - 2 * b + c
            return i + (float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den < 0 else 0.0)
        i += step
    return float(y) if col[i0 - 1] - 2 * col[i0] + col[i0 + 1] < 0 else np.nan


def _column_fwhh(data, y, x, reach, sign=1.0):
    """FWHH along axis 0 of the maximum at (y, x) (sub-point y), from the half-height
    crossings of column round(x) within ``reach`` points: twice the nearer one's distance
    (a neighbour overlapping one side widens that side only); NaN where one is not reached."""
    ix = int(np.clip(np.rint(x), 0, data.shape[1] - 1))
    col = sign * np.asarray(data[:, ix], np.float64)
    n = len(col)
    i = int(np.clip(np.rint(y), 0, n - 1))
    half = 0.5 * col[i]
    if half <= 0:
        return np.nan
    ends = []
    for step in (-1, 1):
        k = i
        while 0 <= k + step < n and abs(k + step - i) <= reach and col[k + step] > half:
            k += step
        if not 0 <= k + step < n or abs(k + step - i) > reach:
            return np.nan
        a, b = col[k], col[k + step]
        ends.append(k + step * (a - half) / (a - b))
    return float(2.0 * min(float(y) - ends[0], ends[1] - float(y)))


def group_multiplets(data, centre, fwhh, height, hz_per_point, noise, j_range=J_RANGE, max_lines=8):
    """Find the J-multiplets of the direct axis (axis 1) on the data and group the picks on them.

    For each pick (the highest first), the maxima of the data along its row
    (prominence 5 noise sd, at least ``LINE_FRACTION`` of the pick's) that follow one another at spacings of ``j_range``
    Hz are the candidate lines; the longest run through the pick's own maximum
    that is symmetric about a centre in position (within 0.2 line FWHH) and
    height (pairs within a factor ``ROOF``: the roof effect; an odd middle line the
    tallest) and whose lines all peak at the pick's indirect position (within
    ``ROW_TOL`` FWHH plus the error at their SNR) with one width there (the
    FWHH along the indirect axis of each line's column within ``WIDTH_TOL``
    plus twice the noise over the lowest line: one carbon or nitrogen
    carries them all) is a multiplet: a d is two lines, a
    t three, a q or dd four. The lines need not all have been picked; every
    pick of the same sign on that row within the multiplet's extent belongs
    to it, and so does one up to a J beyond an outer line, no higher than
    the lowest line and at least ``LINE_FRACTION`` of it (an outer line too
    weak to be found, or past the edge; a far weaker pick is another peak).
    A multiplet found again through a line of one found before (a dd whose
    lines overlap reads as two doublets sharing one) joins it: one multiplet
    with the lines of both.

    Parameters
    ----------
    data : ndarray (N1, N2), signed
    centre, fwhh : ndarray (k, 2), points
    height : ndarray (k,), signed
    hz_per_point : float
        Direct-axis digital resolution of this grid (Hz per point).
    noise : float

    Returns
    -------
    list of dict
        One per multiplet: ``picks`` (indices, two or more or the one pick on
        it), ``centre`` (2,), ``extent`` (first and last line, points),
        ``j_hz`` (the largest first-order coupling: the spacing of d, t, q
        lines; for a dd, lines 1 and 3) and ``n_lines``.
    """
    centre, fwhh = np.asarray(centre, float).reshape(-1, 2), np.asarray(fwhh, float).reshape(-1, 2)
    height = np.asarray(height, float)
    data = np.asarray(data)
    k = len(height)
    out = []
    if k == 0 or not hz_per_point or hz_per_point <= 0:
        return out
    jlo, jhi0 = j_range[0] / hz_per_point, j_range[1] / hz_per_point
    used = np.zeros(k, bool)
    for i in np.argsort(-np.abs(height), kind="stable"):
        if used[i]:
            continue
        sgn = np.sign(height[i]) or 1.0
        yi, xi = centre[i]
        lw = max(float(fwhh[i, 1]), 1.0)
        jhi = jhi0 + 0.25 * lw    # overlapping lines push their maxima apart
        iy = int(np.clip(np.rint(yi), 0, data.shape[0] - 1))
        prof = sgn * np.asarray(data[iy], np.float64)
        reach = (max_lines - 1) * jhi + lw
        xs, hs = _row_maxima(prof, xi - reach, xi + reach, 5.0 * noise)
        if len(xs) < 2:
            continue
        m0 = int(np.argmin(np.abs(xs - xi)))
        if abs(xs[m0] - xi) > max(0.5 * lw, 1.0):
            continue
        # lines are at least LINE_FRACTION of this one (the wiggles between lines are not)
        big = hs >= LINE_FRACTION * hs[m0]
        xs, hs = xs[big], hs[big]
        m0 = int(np.argmin(np.abs(xs - xi)))
        if len(xs) < 2:
            continue
        # the run of maxima through m0 whose gaps are J couplings
        a = b = m0
        while a > 0 and jlo <= xs[a] - xs[a - 1] <= jhi:
            a -= 1
        while b < len(xs) - 1 and jlo <= xs[b + 1] - xs[b] <= jhi:
            b += 1
        best = None
        for n in range(min(b - a + 1, max_lines), 1, -1):
            for start in range(max(a, m0 - n + 1), min(m0, b - n + 1) + 1):
                x, h = xs[start:start + n], hs[start:start + n]
                if np.any(np.diff(x) < 0.5 * lw) or not _symmetric(x, h, max(0.2 * lw, 0.3)):
                    continue
                # every line peaks on this row of the indirect axis
                tol = ROW_TOL * fwhh[i, 0] + 0.5 * fwhh[i, 0] * noise / max(float(h.min()), 1e-30)
                ys = [_column_centre(data, yi, xl, fwhh[i, 0], sgn) for xl in x]
                if not np.all(np.abs(np.array(ys) - yi) <= max(tol, 0.5)):
                    continue
                # ... with one profile along it: the same width (one carbon or nitrogen)
                wy = np.array([_column_fwhh(data, yl, xl, 4 * fwhh[i, 0] + 2, sgn)
                               for yl, xl in zip(ys, x)])
                spread = WIDTH_TOL + 2.0 * noise / max(float(h.min()), 1e-30)
                if np.all(np.isfinite(wy)) and np.max(wy) <= (1 + spread) * np.min(wy):
                    best = (x, h)
                    break
            if best is not None:
                break
        if best is None:
            continue
        x, h = best
        # picks of this row out to one J beyond the outer lines, no higher than the
        # lowest line and at least LINE_FRACTION of it, are lines too (an outer line too
        # weak to be found, or past the edge; one far weaker is another peak)
        span = (x[0] - jhi, x[-1] + jhi)
        same = (np.sign(height) == sgn) & ~used & (np.abs(centre[:, 0] - yi) <= 0.5 * fwhh[i, 0])
        same &= (centre[:, 1] >= span[0]) & (centre[:, 1] <= span[1])
        inside = (centre[:, 1] >= x[0] - 0.5 * lw) & (centre[:, 1] <= x[-1] + 0.5 * lw)
        low = float(np.min(h))
        outer = (np.abs(height) <= 1.05 * low) & (np.abs(height) >= LINE_FRACTION * low)
        same &= inside | outer
        same[i] = True            # the pick it was found from (its line may be up to a point off)
        picks = np.nonzero(same)[0]
        used[picks] = True
        # a multiplet found again from another of its lines (a dd whose lines overlap reads
        # as two doublets sharing one): one multiplet with the lines of both
        for gi_, g in enumerate(out):
            if g["sign"] == sgn and abs(g["centre"][0] - yi) <= 0.5 * fwhh[i, 0] and \
                    np.min(np.abs(g["lines"][:, None] - x[None, :])) <= max(0.5 * lw, 0.5):
                x = np.sort(np.concatenate([g["lines"], x]))
                x = x[np.r_[True, np.diff(x) > max(0.5 * lw, 0.5)]]
                picks = np.union1d(g["picks"], picks)
                yi = g["centre"][0]
                del out[gi_]
                break
        picks = picks[np.argsort(centre[picks, 1])]
        gaps = np.diff(x)
        if len(x) == 4 and abs(gaps[0] - gaps[1]) > 0.25 * max(gaps[0], gaps[1]):
            j = x[2] - x[0]          # dd: lines 1 and 3 are J1 apart
        else:
            j = float(np.mean(gaps))
        out.append(dict(picks=picks, centre=np.array([yi, 0.5 * (x[0] + x[-1])]),
                        extent=(float(x[0]), float(x[-1])), j_hz=float(j * hz_per_point),
                        n_lines=len(x), lines=x, sign=sgn))
    for g in out:
        del g["lines"], g["sign"]
    return out


def multiplet_mode(mode, labels=None, direct_axis=1):
    """``mode`` ('auto', 'merge' or 'keep') as the rules run it: 'merge' or 'keep'.

    'auto' keeps each line where the indirect (not ``direct_axis``) nucleus
    is 15N and merges otherwise (13C, or not known). In a 1H-15N HSQC the
    amide proton's couplings (3J(HN,HA) up to ~10 Hz) are seldom resolved
    beside its linewidth, so two maxima on one 15N row are two residues far
    more often than a doublet; in a 1H-13C HSQC of a small molecule the 1H
    multiplets are resolved (``benchmarks/results/rules.md``).

    Parameters
    ----------
    mode : {'auto', 'merge', 'keep'}
    labels : sequence of str, optional
        The nucleus of each axis (:attr:`Spectrum.labels`, e.g. ``('15N', '1H')``).
    direct_axis : int

    Examples
    --------
    >>> multiplet_mode("auto", ("15N", "1H")), multiplet_mode("auto", ("13C", "1H"))
    ('keep', 'merge')
    >>> multiplet_mode("auto"), multiplet_mode("merge", ("15N", "1H"))
    ('merge', 'merge')
    """
    if mode not in MULTIPLET_MODES:
        raise ValueError(f"multiplets must be one of {MULTIPLET_MODES}; got {mode!r}")
    if mode != "auto":
        return mode
    if labels is None or len(labels) != 2:
        return "merge"
    indirect = str(labels[1 - int(direct_axis)]).strip().upper()
    return "keep" if indirect in ("15N", "N15", "N") else "merge"


def apply_rules(data, centre, fwhh, height, score, *, noise, hz_per_point=None,
                multiplets="merge", steps=STEPS, parents=None):
    """All the rules, in order, on the picks of one spectrum (both signs together).

    Parameters
    ----------
    data : ndarray (N1, N2)
        The spectrum the positions refer to, signed.
    centre, fwhh : ndarray (k, 2), points
    height, score : ndarray (k,)
        Signed heights, scores.
    noise : float
        Noise sd of ``data``.
    hz_per_point : float, optional
        Direct-axis Hz per point of this grid; no multiplet grouping without it.
    multiplets : {'merge', 'keep', 'auto'}
        'merge': one pick per J-multiplet at its centre; 'keep': each line,
        with the multiplet's ``j_hz`` and ``n_lines`` on every line ('auto',
        no nucleus known here: 'merge'; see :func:`multiplet_mode`).
    steps : sequence of str
        The rules to run (all by default).
    parents : (centre, fwhh, height), optional
        Peaks that are not picks here but whose artefacts count (the other sign's).

    Returns
    -------
    dict
        ``centre``, ``fwhh``, ``height``, ``score`` of the picks left, ``index``
        (k',) the input pick each comes from (a multiplet: its tallest line),
        ``j_hz`` (k',) NaN for singlets, ``n_lines`` (k',) 1 for singlets.

    Examples
    --------
    >>> y, x = np.mgrid[0:40, 0:80]
    >>> g = lambda cy, cx: np.exp(-4 * np.log(2) * (((y - cy) / 3.0) ** 2 + ((x - cx) / 3.0) ** 2))
    >>> data = 100 * (g(20, 30) + g(20, 38))                     # a doublet, 8 points apart
    >>> r = apply_rules(data, [[20, 30], [20, 38]], [[3, 3], [3, 3]], [100, 100], [0.9, 0.8],
    ...                 noise=0.1, hz_per_point=1.5)             # J = 12 Hz
    >>> r["centre"].round(2).tolist(), r["j_hz"].round(2).tolist(), r["n_lines"].tolist()
    ([[20.0, 34.0]], [12.0], [2])
    """
    multiplets = multiplet_mode(multiplets)
    data = np.asarray(data)
    centre = np.asarray(centre, float).reshape(-1, 2)
    fwhh = np.asarray(fwhh, float).reshape(-1, 2)
    height, score = np.asarray(height, float), np.asarray(score, float)
    idx = np.arange(len(height))
    if "duplicates" in steps and len(idx):
        keep, score = merge_duplicates(data, centre, fwhh, height, score, noise)
        idx = idx[keep]
    if "artefacts" in steps and len(idx):
        idx = idx[reject_artefacts(data, centre[idx], fwhh[idx], height[idx], noise,
                                   parents=parents)]
    if "crossings" in steps and len(idx):
        idx = idx[reject_crossings(data, centre[idx], fwhh[idx], height[idx], noise, hz_per_point,
                                   parents=parents)]
    if "sidebands" in steps and len(idx):
        idx = idx[reject_sidebands(centre[idx], fwhh[idx], height[idx], parents=parents)]
    c, w, h, s = centre[idx].copy(), fwhh[idx].copy(), height[idx].copy(), score[idx].copy()
    j_hz = np.full(len(idx), np.nan)
    n_lines = np.ones(len(idx), int)
    if "multiplets" in steps and hz_per_point and len(idx):
        drop = np.zeros(len(idx), bool)
        for g in group_multiplets(data, c, w, h, hz_per_point, noise):
            p = g["picks"]
            j_hz[p], n_lines[p] = g["j_hz"], g["n_lines"]
            if multiplets == "keep":
                continue
            top = p[int(np.argmax(np.abs(h[p])))]
            line_w = float(np.median(w[p, 1]))
            c[top] = g["centre"]
            w[top, 1] = g["extent"][1] - g["extent"][0] + line_w
            s[top] = float(np.max(s[p]))
            drop[p] = True
            drop[top] = False
        keep = ~drop
        c, w, h, s, idx, j_hz, n_lines = (c[keep], w[keep], h[keep], s[keep], idx[keep],
                                          j_hz[keep], n_lines[keep])
    return dict(centre=c.reshape(-1, 2), fwhh=w.reshape(-1, 2), height=h, score=s, index=idx,
                j_hz=j_hz, n_lines=n_lines)


def other_sign_peaks(data, noise, fwhh, level):
    """The strong peaks of the other sign (local maxima of ``-data`` above ``level``),
    as parents for :func:`reject_artefacts` when each sign is picked apart.

    Parameters
    ----------
    data : ndarray (N1, N2)
        Peaks of the sign being picked positive.
    noise : float
    fwhh : (float, float)
        The width given to each (the picks' typical FWHH).
    level : float
        Least height (data units, positive); at least 20 noise sd.

    Returns
    -------
    centre (m, 2), fwhh (m, 2), height (m,) negative
    """
    data = np.asarray(data, np.float32)
    level = max(float(level), 20.0 * float(noise))
    pts = np.argwhere(data <= -np.float32(level))      # -data >= level, in float32
    v = data[pts[:, 0], pts[:, 1]]
    # a maximum of -data among its 3x3 neighbours (the edge repeated)
    n0, n1 = data.shape
    is_max = np.ones(len(pts), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nb = data[np.clip(pts[:, 0] + dy, 0, n0 - 1), np.clip(pts[:, 1] + dx, 0, n1 - 1)]
            is_max &= v <= nb
    pts = pts[is_max]
    h = data[pts[:, 0], pts[:, 1]].astype(float)
    return pts.astype(float), np.tile(np.asarray(fwhh, float), (len(pts), 1)), h


def rule_step(refined, data, noise, *, hz_per_point=None, multiplets="merge", direct_axis=1):
    """:func:`apply_rules` as a step of the picking core, on one sign's refined detections.

    Parameters
    ----------
    refined : dict of ndarray
        ``centre``, ``fwhh``, ``height`` (positive), ``score`` and any other
        per-pick arrays (rows are kept or dropped alike).
    data : ndarray (N1, N2)
        The spectrum the detections were refined on, this sign's peaks positive;
        the other sign's strong peaks in it are parents of artefacts too.
    noise : float
    hz_per_point : float, optional
        Direct-axis Hz per point of ``data``; no multiplets without it.
    multiplets : {'merge', 'keep', 'auto'}
    direct_axis : int
        The direct (acquisition) axis of ``data``: 1, or 0 for a transposed file.

    Returns
    -------
    dict
        ``refined`` with the rows left, centre/fwhh/score of merged picks
        updated, and ``j_hz`` and ``n_lines`` per row.
    """
    r = {k: np.asarray(v) for k, v in refined.items()}
    n = len(r["score"])
    if n == 0:
        r["j_hz"], r["n_lines"] = np.zeros(0), np.zeros(0, int)
        return r
    data = np.asarray(data)
    c, w = r["centre"].reshape(-1, 2), r["fwhh"].reshape(-1, 2)
    t = direct_axis == 0      # the rules' direct axis is axis 1: transpose
    if t:
        data, c, w = data.T, c[:, ::-1], w[:, ::-1]
    parents = other_sign_peaks(data, noise, np.median(w, axis=0),
                               PARENT_RATIO * float(np.min(r["height"])))
    out = apply_rules(data, c, w, r["height"], r["score"], noise=noise, hz_per_point=hz_per_point,
                      multiplets=multiplets, parents=parents)
    res = {k: v[out["index"]] for k, v in r.items() if len(v) == n}
    res["centre"] = out["centre"][:, ::-1] if t else out["centre"]
    res["fwhh"] = out["fwhh"][:, ::-1] if t else out["fwhh"]
    res["score"], res["height"] = out["score"], out["height"]
    res["j_hz"], res["n_lines"] = out["j_hz"], out["n_lines"]
    return res
