"""Resampling: bring a spectrum's linewidths into the range the network was trained on.

The typical FWHH per axis is measured on the strongest isolated maxima; an
axis whose typical FWHH falls outside [:data:`LW_LOW`, :data:`LW_HIGH`] is
resampled (cubic spline) so that it becomes :data:`LW_TARGET` points. Peaks
found on the resampled grid are mapped back to the original one.
"""

from __future__ import annotations

import numpy as np

from ._refine import half_width, subpoint

__all__ = ["LW_LOW", "LW_HIGH", "LW_TARGET", "typical_fwhh", "resample_factors", "choose_factors",
           "resample", "back_factors"]

#: Linewidths (points) the network was trained on; spectra whose typical FWHH
#: falls outside [LW_LOW, LW_HIGH] are resampled to LW_TARGET on that axis.
LW_LOW, LW_HIGH, LW_TARGET = 2.5, 16.0, 4.0


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
        cy, hy = subpoint(d[:, x], y)
        cx, hx = subpoint(d[y, :], x)
        h = max(hy, hx)
        wy = half_width(d[:, x], cy, h)
        wx = half_width(d[y, :], cx, h)
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


def choose_factors(data, noise, resample="auto", signed=False):
    """The zoom factors for a pick: measured ("auto"), none ("none") or given.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    noise : float
    resample : "auto", "none" or (float, float)
    signed : bool
        Negative peaks are picked too. The linewidth is still measured on the
        positive peaks, so that picking the negative ones too does not change
        the positive picks; only when no positive peak is strong enough to be
        measured are the negative ones used.
    """
    if isinstance(resample, str):
        if resample != "auto":
            return np.ones(2)
        fwhh = typical_fwhh(data, noise)
        if signed and not np.all(np.isfinite(fwhh)):
            fwhh = typical_fwhh(np.abs(data), noise)
        return resample_factors(fwhh)
    return np.asarray(resample, float)


def resample(data, factors):
    """``data`` zoomed by ``factors`` (cubic spline, float32); ``data`` itself when none."""
    if np.all(np.asarray(factors) == 1.0):
        return data
    from scipy.ndimage import zoom
    return zoom(data, factors, order=3, mode="nearest", grid_mode=False).astype(np.float32)


def back_factors(shape, work_shape):
    """Per axis, the factor taking a point of the resampled grid back to the
    original one: point p there is (n-1)/(m-1) * p here."""
    return np.array([(n - 1) / (m - 1) if m != n else 1.0 for n, m in zip(shape, work_shape)])
