"""Robust noise estimates of a 2D spectrum (one place, used everywhere)."""

import numpy as np

#: Noise floor as a fraction of the spectrum's largest absolute value, so that
#: noise-free (synthetic) spectra still get a finite scale.
NOISE_FLOOR_FRACTION = 1e-4


def _block_view(data, block):
    n0 = (data.shape[0] // block) * block
    n1 = (data.shape[1] // block) * block
    if n0 == 0 or n1 == 0:
        return data.reshape(1, -1)
    d = data[:n0, :n1]
    return d.reshape(n0 // block, block, n1 // block, block).swapaxes(1, 2).reshape(-1, block * block)


_PROJ = []
#: Degrees of freedom of an 8x8 block with a plane fitted out, and the 25th
#: percentile of a chi2 with that many: ``scipy.stats.chi2.ppf(0.25, 61)``
#: (a test checks it; importing scipy.stats at every start costs ~0.5 s).
PLANE_DOF, CHI2_Q25 = 61, 53.23211186602016


def _plane_projector():
    """Projector removing a plane from a flattened 8x8 block, its degrees of
    freedom, and the chi2 factor turning a 25th-percentile variance into the mean."""
    if not _PROJ:
        y, x = np.mgrid[0:8, 0:8]
        design = np.stack([np.ones(64), y.ravel() - 3.5, x.ravel() - 3.5], 1)
        proj = np.eye(64) - design @ np.linalg.pinv(design)
        _PROJ.extend([proj, PLANE_DOF, PLANE_DOF / CHI2_Q25])
    return _PROJ


def estimate_noise(data, floor=NOISE_FLOOR_FRACTION):
    """Standard deviation of the noise of a 2D spectrum, robust to peaks.

    The spectrum is cut into 8x8 blocks and a plane is fitted out of each; the
    noise variance is the 25th percentile of the residual variances (blocks
    holding peaks, ridges or baseline steps have larger variances and are left
    out), corrected for that selection. Noise correlated between neighbouring
    points (zero-filling, apodisation) reads somewhat low, as it does for any
    local estimator. The result is floored at ``floor`` times the largest
    absolute value so that noise-free spectra get a finite scale.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
        Real spectrum.
    floor : float, optional
        Smallest noise, as a fraction of ``max(abs(data))``.

    Returns
    -------
    sigma : float
        Noise standard deviation, in the units of ``data``; 0 for an all-zero input.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(estimate_noise(rng.normal(0, 2.0, (256, 256))), 1)
    2.0
    """
    data = np.asarray(data)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak == 0.0:
        return 0.0
    # in units of the maximum, float32: large spectra need no float64 copies
    data = (data / peak).astype(np.float32)
    blocks = _block_view(data, 8 if min(data.shape) >= 16 else 1)
    if blocks.shape[1] > 1:
        # remove a plane from each 8x8 block (broad peaks and baseline slopes),
        # then take the 25th percentile of the residual variances (the quieter
        # blocks) and correct it to the mean of a chi2 with k degrees of freedom
        proj, k, corr = _plane_projector()
        res = blocks @ proj.astype(np.float32)
        var = np.einsum("ij,ij->i", res, res).astype(np.float64) / k
        var = var[var > 0] if np.any(var > 0) else var   # zeroed regions are not noise
        q25 = np.partition(var, len(var) // 4)[len(var) // 4]
        sigma = float(np.sqrt(q25 * corr))
    else:
        med = np.median(data)
        sigma = float(1.4826 * np.median(np.abs(data - med)))
    return max(sigma * peak, floor * peak)


def column_noise(data, sigma=None):
    """Noise per column (along axis 0, the indirect axis) of a 2D spectrum.

    t1-noise ridges raise the noise of a whole column under strong peaks, and
    that noise is correlated along the column. The estimate is 1.4826 x the
    median absolute deviation of each column's values, leaving out the peaks
    themselves (points above 10 sigma and above 5 % of the column's largest
    value; ridges, a few per cent of the peak that causes them, stay in).

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    sigma : float, optional
        Global noise (``estimate_noise(data)`` when omitted), used where a
        column has no point left.

    Returns
    -------
    col_sigma : ndarray of shape (N2,)

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = rng.normal(0, 1, (256, 64))
    >>> d[:, 10] += rng.normal(0, 5, 256)          # a ridge in column 10
    >>> c = column_noise(d)
    >>> bool(4 < c[10] < 6), bool(0.8 < np.median(c) < 1.2)
    (True, True)
    """
    data = np.asarray(data)
    if sigma is None:
        sigma = estimate_noise(data)
    a = np.abs(data).astype(np.float32, copy=False)   # float32 throughout: large spectra
    strong = (a > 10.0 * sigma) & (a > 0.05 * a.max(axis=0, keepdims=True))
    del a
    # one row per column (contiguous: fast sorts)
    d = np.where(strong.T, np.float32(np.nan), data.T.astype(np.float32, order="C"))
    del strong
    med = _nanmedian1(d.copy())
    np.subtract(d, med[:, None], out=d)
    mad = _nanmedian1(np.abs(d, out=d))
    return np.where(np.isfinite(mad), 1.4826 * mad, sigma)


def _nanmedian1(d):
    """``np.nanmedian(d, axis=1)`` of a 2D float array (NaN for an all-NaN row),
    without its per-row loop: each row sorted once, NaNs last. Sorts ``d`` in place."""
    d.sort(axis=1)
    n = np.count_nonzero(~np.isnan(d), axis=1)
    rows = np.arange(d.shape[0])
    lo, hi = d[rows, np.maximum((n - 1) // 2, 0)], d[rows, np.maximum(n // 2, 0)]
    return np.where(n > 0, (lo + hi) / d.dtype.type(2), d.dtype.type(np.nan))


def ridge_noise(col_sigma):
    """The part of each column's noise above the typical column's (t1 ridges):
    ``sqrt(max(c^2 - median(c)^2, 0))`` (0 in ridge-free columns)."""
    c = np.asarray(col_sigma, float)
    return np.sqrt(np.maximum(c * c - np.median(c) ** 2, 0.0))
