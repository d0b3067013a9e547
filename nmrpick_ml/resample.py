"""Resampling: bring a spectrum's linewidths into the range the network was trained on.

The typical FWHH per axis is measured on the strongest isolated maxima; an
axis whose typical FWHH falls outside [:data:`LW_LOW`, :data:`LW_HIGH`] is
resampled so that it becomes :data:`LW_TARGET` points. Peaks found on the
resampled grid are mapped back to the original one.

The resampling must not make maxima that the data do not have (each would be
a pick): :func:`resample` uses monotone piecewise cubics (:func:`monotone`),
whose every local maximum is a point of the original grid. A cubic spline
rings next to lines one or two points wide, and so does time-domain
zero-filling (:func:`zero_fill`, NMRPipe's HT + ZF) on data that were not
zero-filled when processed (arborinine: ``benchmarks/results/rules.md``).
"""

from __future__ import annotations

import numpy as np

from ._refine import half_width, subpoint

__all__ = ["LW_LOW", "LW_HIGH", "LW_TARGET", "linewidth_range", "typical_fwhh", "resample_factors",
           "choose_factors", "resample", "back_factors", "monotone", "zero_fill", "local_maxima"]

#: Linewidths (points) the network was trained on; spectra whose typical FWHH
#: falls outside [LW_LOW, LW_HIGH] are resampled to LW_TARGET on that axis.
#: These are model v1's; a model's ``config.json`` may give its own range
#: (``linewidths``: ``{"low", "high", "target"}``, :func:`linewidth_range`).
LW_LOW, LW_HIGH, LW_TARGET = 2.5, 16.0, 4.0


def typical_fwhh(data, noise, n=12):
    """Median FWHH (points) per axis of the strongest isolated maxima.

    Returns (nan, nan) when no maximum stands 20x above the noise.
    """
    d = np.asarray(data)
    ys, xs = _maxima(d, 20 * noise, 2)           # no lower than the 5x5 around
    if len(ys) == 0:
        return np.array([np.nan, np.nan])
    order = np.argsort(-d[ys, xs].astype(np.float64))[: 4 * n]   # float64: as before
    widths = []
    for i in order:
        y, x = ys[i], xs[i]
        if y < 2 or x < 2 or y > d.shape[0] - 3 or x > d.shape[1] - 3:
            continue
        col, row = d[:, x].astype(np.float64), d[y, :].astype(np.float64)
        cy, hy = subpoint(col, y)
        cx, hx = subpoint(row, x)
        h = max(hy, hx)
        wy = half_width(col, cy, h)
        wx = half_width(row, cx, h)
        if wy is not None and wx is not None:
            widths.append((wy, wx))
        if len(widths) >= n:
            break
    if not widths:
        return np.array([np.nan, np.nan])
    return np.median(np.array(widths), axis=0)


def linewidth_range(config=None):
    """The (low, high, target) linewidths (points) of a model's ``config.json``.

    ``config["linewidths"]`` = ``{"low": L, "high": H, "target": T}`` with
    ``0 <= L <= T <= H``; a ``low`` of 0 never resamples up. Without it (model
    v1): (:data:`LW_LOW`, :data:`LW_HIGH`, :data:`LW_TARGET`).
    """
    lw = (config or {}).get("linewidths")
    if lw is None:
        return LW_LOW, LW_HIGH, LW_TARGET
    return float(lw["low"]), float(lw["high"]), float(lw["target"])


def resample_factors(fwhh, lw_range=None):
    """Zoom factor per axis that brings a typical FWHH into the trained range (1 = none).

    ``lw_range`` is (low, high, target) points (:func:`linewidth_range`; default v1's).
    """
    low, high, target = lw_range or linewidth_range()
    f = np.ones(2)
    for a in range(2):
        w = fwhh[a]
        if np.isfinite(w) and (w < low or w > high):
            f[a] = target / w
    return f


def choose_factors(data, noise, resample="auto", signed=False, lw_range=None):
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
    lw_range : (float, float, float), optional
        The model's (low, high, target) linewidths (:func:`linewidth_range`).
    """
    if isinstance(resample, str):
        if resample != "auto":
            return np.ones(2)
        fwhh = typical_fwhh(data, noise)
        if signed and not np.all(np.isfinite(fwhh)):
            fwhh = typical_fwhh(np.abs(data), noise)
        return resample_factors(fwhh, lw_range)
    return np.asarray(resample, float)


def resample(data, factors):
    """``data`` zoomed by ``factors`` (:func:`monotone`, float32); ``data`` itself when none."""
    if np.all(np.asarray(factors) == 1.0):
        return data
    return monotone(data, factors)


def back_factors(shape, work_shape):
    """Per axis, the factor taking a point of the resampled grid back to the
    original one: point p there is (n-1)/(m-1) * p here."""
    return np.array([(n - 1) / (m - 1) if m != n else 1.0 for n, m in zip(shape, work_shape)])


def monotone(data, factors):
    """Resample with monotone piecewise cubics (PCHIP), one axis after the other.

    Between two points the interpolant is monotone where the data are, and
    its derivative is zero at each point that is a maximum or minimum along
    that axis, so it adds no maximum along either axis: every local maximum of
    the result is on a point of the original grid (the property that matters
    for picking; a cubic spline overshoots next to lines a point or two wide
    and makes new maxima, as does band-limited interpolation of data that were
    not zero-filled). (A point that is a maximum along both axes but not among
    its diagonal neighbours stays one.)

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    factors : (float, float)
        Zoom per axis; the new size is ``round(N * f)`` (as ``scipy.ndimage.zoom``).

    Returns
    -------
    ndarray, float32
        First and last points kept: point ``p`` is ``p * (N - 1) / (M - 1)`` of the original.

    Examples
    --------
    >>> d = np.zeros((5, 7)); d[2, 3] = 10.0; d[2, 4] = 4.0
    >>> z = monotone(d, (3, 3))
    >>> z.shape, float(z.max()), float(z.min())
    ((15, 21), 10.0, 0.0)
    """
    from scipy.interpolate import PchipInterpolator
    out = np.asarray(data, np.float64)
    for axis in range(2):
        f = float(factors[axis])
        n = out.shape[axis]
        m = int(round(n * f))
        if m == n or n < 2:
            continue
        x = np.arange(n, dtype=float)
        xn = np.arange(m) * (n - 1) / max(m - 1, 1)
        if f < 1.0:
            from scipy.ndimage import uniform_filter1d
            width = int(round(1.0 / f))
            src = uniform_filter1d(out, width, axis=axis, mode="nearest") if width > 1 else out
        else:
            src = out
        out = PchipInterpolator(x, src, axis=axis)(xn)
    return out.astype(np.float32)


def _zero_fill_axis(data, k, axis):
    """Zero-fill one axis by the integer ``k`` (HT, inverse FT, ZF, FT)."""
    d = np.moveaxis(np.asarray(data, np.float64), axis, -1)
    n = d.shape[-1]
    if k == 1 or n < 2:
        return np.moveaxis(d, -1, axis)
    t = np.arange(n) / (n - 1)
    first, last = d[..., :1], d[..., -1:]
    ramp = first + (last - first) * t
    s = np.fft.ifft(d - ramp, axis=-1)
    # causal FID: keep t >= 0, double it (the Hilbert transform's imaginary part)
    h = n // 2
    fid = np.zeros(d.shape[:-1] + (n * k,), np.complex128)
    fid[..., 0] = s[..., 0]
    fid[..., 1:h + (n % 2)] = 2.0 * s[..., 1:h + (n % 2)]
    if n % 2 == 0:
        fid[..., h] = s[..., h]   # the Nyquist term, shared by both halves
    m = (n - 1) * k + 1
    out = np.fft.fft(fid, axis=-1).real[..., :m]
    tt = np.arange(m) / (m - 1)
    out += first + (last - first) * tt
    return np.moveaxis(out, -1, axis)


def zero_fill(data, factors):
    """Resample a 2D spectrum by time-domain zero-filling, as NMRPipe's HT and ZF do.

    Per axis: the imaginary part is rebuilt by a Hilbert transform (the inverse
    FT of the real spectrum made causal: negative times set to zero, positive
    ones doubled), the FID zero-filled to ``k`` times, FT, real part. The
    straight line joining an axis's first and last values is taken out before
    and put back after (an extracted region is not periodic). Exact where the
    spectrum was zero-filled at least twice when processed; it rings otherwise.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    factors : (int, int)
        Integer zero-fill factor per axis (1 = that axis unchanged).

    Returns
    -------
    ndarray of shape ((N1 - 1) * k1 + 1, (N2 - 1) * k2 + 1), float32
        Point ``(k1 * i, k2 * j)`` equals ``data[i, j]``.

    Examples
    --------
    >>> x = np.arange(64.0)
    >>> d = np.outer(np.exp(-(x - 20.3) ** 2 / 4), np.exp(-(x - 30.6) ** 2 / 3))
    >>> z = zero_fill(d, (4, 2))
    >>> z.shape, bool(np.allclose(z[::4, ::2], d, atol=1e-6))
    ((253, 127), True)
    """
    out = np.asarray(data, np.float64)
    for axis, k in enumerate(factors):
        k = int(k)
        if k < 1 or k != float(factors[axis]):
            raise ValueError(f"zero_fill: factor {factors[axis]!r} on axis {axis} is not a positive integer")
        out = _zero_fill_axis(out, k, axis)
    return out.astype(np.float32)


def local_maxima(data, level, cross=False):
    """Local maxima of a 2D array above ``level``: (k, 2) indices.

    A maximum is no lower than its 8 neighbours, or with ``cross`` its 4
    neighbours along the axes (what a resampling axis by axis can keep).
    """
    ys, xs = _maxima(np.asarray(data), level, 1, cross)
    return np.column_stack([ys, xs]).astype(np.intp).reshape(-1, 2)


def _maxima(d, level, r, cross=False):
    """Rows and columns (row-major order) of the points above ``level`` that are
    no lower than any point within ``r`` of them (a (2r+1)^2 square; with
    ``cross`` only the 4 along the axes, r = 1); beyond the edges the edge
    values repeat. The same as ``d == maximum_filter(d, ..., mode="nearest")``
    but only the points above the level are looked at (few: fast on large spectra)."""
    ys, xs = np.nonzero(d > np.float64(level))     # compared in float64, as the data
    v = d[ys, xs]
    offsets = ([(-1, 0), (1, 0), (0, -1), (0, 1)] if cross else
               [(a, b) for a in range(-r, r + 1) for b in range(-r, r + 1) if a or b])
    for a, b in offsets:                            # the candidates shrink at each step
        ok = v >= d[np.clip(ys + a, 0, d.shape[0] - 1), np.clip(xs + b, 0, d.shape[1] - 1)]
        ys, xs, v = ys[ok], xs[ok], v[ok]
    return ys, xs
