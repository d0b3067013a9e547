"""Lineshape fitting of picked peaks: exact centres, widths, heights, volumes and their errors.

Each cluster of touching peaks is fitted together, on the data around it (the
peaks' half-height ellipses grown by ``margin`` FWHH), with a sum of separable
2-D lineshapes ``A * f_y(y) * f_x(x)``. The 1-D profile ``f`` has height 1 at
the centre and full width at half height ``w`` on its axis:

``gaussian``      ``G(d) = exp(-4 ln2 d^2 / w^2)``
``lorentzian``    ``L(d) = 1 / (1 + 4 d^2 / w^2)``
``pseudo-voigt``  ``eta L + (1 - eta) G`` with the same ``w`` (default); the
                  Lorentzian fraction ``eta`` (0..1) is fitted per peak and axis

The fit is bounded (centre within ``max(1, FWHH/2)`` points of the pick,
widths within 1/3..3x the pick's, the height keeps the pick's sign) and run by
``scipy.optimize.least_squares`` (trust-region reflective, analytic Jacobian),
starting from the picks. Peaks of neighbouring clusters whose tails reach into
a cluster's region are subtracted (their own fitted model) and the cluster is
fitted again, once.

Volume is the analytic integral of the fitted shape over the plane,
``A * I_y * I_x`` with ``I = w (eta pi / 2 + (1 - eta) sqrt(pi / (4 ln2)))``
(points^2 x data units): it counts the Lorentzian tails beyond the fit region
and beyond the spectrum's edges.

Standard errors come from the Jacobian at the solution, scaled by the residual
noise of the cluster (``RSS / (n - p)``), with the correlation of the noise
between neighbouring points taken into account: zero filling and apodisation
make neighbouring points of real spectra correlated, which makes the plain
``s^2 (J^T J)^-1`` too small by a factor of up to 3 or more. The correlation
per axis is measured on the quiet parts of the spectrum
(:func:`noise_correlation`) and the covariance is the sandwich
``s^2 H^-1 J^T R J H^-1`` (``H = J^T J``, ``R`` the separable correlation).
Errors of derived values (volume, Hz) follow by linear propagation.

A peak whose fitted height is below 3 of its standard errors is flagged. One
round of residual search adds, per cluster, a peak at the largest residual
maximum above the threshold, kept only when it lowers the cluster's Bayesian
information criterion ``n ln(RSS / n) + p ln n``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._errors import NmrpickError
from ._noise import estimate_noise
from ._validate import check_choice, check_number, check_spectrum

__all__ = ["fit_peaks", "FitResult", "noise_correlation", "profile", "volume_integral",
           "SHAPES", "FIT_COLUMNS"]

#: Lineshape models (per axis).
SHAPES = ("pseudo-voigt", "gaussian", "lorentzian")
_4LN2 = 4.0 * np.log(2.0)
_8LN2 = 8.0 * np.log(2.0)
#: Integral of the unit-height Gaussian / Lorentzian profile of FWHH 1.
_IG = float(np.sqrt(np.pi / _4LN2))
_IL = float(np.pi / 2.0)
#: Parameters per peak, in order: centre y, centre x, FWHH y, FWHH x, height, eta y, eta x.
_NPAR = 7
#: A fitted height below this many standard errors is flagged.
FLAG_SIGMAS = 3.0
#: The residual search never looks below this many times the noise.
SEARCH_MIN_SNR = 5.0
#: ... nor below this many times the robust spread of the cluster's own residual.
SEARCH_RESIDUAL_K = 5.0

#: Columns :meth:`FitResult.to_frame` adds to a peak table (see the README).
FIT_COLUMNS = ("Y_AXIS_ERR", "X_AXIS_ERR", "Y_PPM_ERR", "X_PPM_ERR", "Y_LW_ERR", "X_LW_ERR",
               "Y_LW_HZ_ERR", "X_LW_HZ_ERR", "HEIGHT_ERR", "VOL_ERR", "Y_ETA", "X_ETA",
               "Y_ETA_ERR", "X_ETA_ERR", "CHI2_RED", "FIT_FLAG", "FIT_ADDED")


def profile(t, centre, fwhh, eta):
    """Pseudo-Voigt profile ``eta L + (1 - eta) G`` of height 1 and FWHH ``fwhh``.

    ``eta`` = 0 is the Gaussian, 1 the Lorentzian; arguments broadcast.

    Examples
    --------
    >>> float(profile(np.array(2.0), 0.0, 4.0, 0.3))
    0.5
    """
    u2 = ((np.asarray(t, float) - centre) / fwhh) ** 2
    return eta / (1.0 + 4.0 * u2) + (1.0 - eta) * np.exp(-_4LN2 * u2)


def volume_integral(height, fwhh_y, fwhh_x, eta_y, eta_x):
    """Analytic volume (data units x points^2) of separable pseudo-Voigt peaks.

    Examples
    --------
    >>> round(float(volume_integral(1.0, 2.0, 2.0, 0.0, 0.0)), 4)   # Gaussian: pi w^2 / (4 ln 2)
    4.5324
    """
    iy = fwhh_y * (eta_y * _IL + (1.0 - eta_y) * _IG)
    ix = fwhh_x * (eta_x * _IL + (1.0 - eta_x) * _IG)
    return height * iy * ix


@dataclass
class FitResult:
    """Fitted peaks (all positions and widths in points of the array, 0-based).

    Attributes
    ----------
    centre, centre_err : ndarray (k, 2)
        Centre (axis 0, axis 1) and its standard error.
    fwhh, fwhh_err : ndarray (k, 2)
        Full width at half height per axis and its error.
    height, height_err : ndarray (k,)
        Signed height (the amplitude of the shape, baseline excluded).
    volume, volume_err : ndarray (k,)
        Analytic integral of the fitted shape (:func:`volume_integral`).
    eta, eta_err : ndarray (k, 2)
        Lorentzian fraction per axis (0 Gaussian, 1 Lorentzian).
    cluster : ndarray (k,) of int
        Fit cluster (0-based): peaks fitted together.
    chi2_red : ndarray (k,)
        Reduced chi-square of the peak's cluster, ``RSS / ((n - p) noise^2)``.
    flagged : ndarray (k,) of bool
        Height below :data:`FLAG_SIGMAS` standard errors.
    added : ndarray (k,) of bool
        Added by the residual search (not one of the picks).
    source : ndarray (k,) of int
        Index of the pick each peak came from (-1 for added peaks).
    noise : float
        Noise standard deviation used (data units).
    correlation : (ndarray, ndarray)
        Noise autocorrelation per axis (lag 0, 1, ...), as used for the errors.
    """

    centre: np.ndarray
    centre_err: np.ndarray
    fwhh: np.ndarray
    fwhh_err: np.ndarray
    height: np.ndarray
    height_err: np.ndarray
    volume: np.ndarray
    volume_err: np.ndarray
    eta: np.ndarray
    eta_err: np.ndarray
    cluster: np.ndarray
    chi2_red: np.ndarray
    flagged: np.ndarray
    added: np.ndarray
    source: np.ndarray
    noise: float = 0.0
    correlation: tuple = field(default_factory=tuple)

    def __len__(self):
        return len(self.height)

    def to_frame(self, uc=None):
        """The fitted peaks as a DataFrame with the columns of a pick table plus
        :data:`FIT_COLUMNS` (ppm and Hz from ``uc``, one nmrglue unit conversion per axis)."""
        import pandas as pd
        c, ce, w, we = self.centre, self.centre_err, self.fwhh, self.fwhh_err
        df = pd.DataFrame({"Y_AXIS": c[:, 0], "X_AXIS": c[:, 1], "cID": self.cluster + 1,
                           "Y_LW": w[:, 0], "X_LW": w[:, 1], "VOL": self.volume})
        if uc is not None:
            hz = [abs(u.hz(1.0) - u.hz(0.0)) for u in uc]
            ppm = [abs(u.ppm(1.0) - u.ppm(0.0)) for u in uc]
            df["Y_PPM"], df["X_PPM"] = uc[0].ppm(c[:, 0]), uc[1].ppm(c[:, 1])
        else:
            hz = ppm = [np.nan, np.nan]
            df["Y_PPM"] = df["X_PPM"] = np.nan
        df["Y_LW_HZ"], df["X_LW_HZ"] = w[:, 0] * hz[0], w[:, 1] * hz[1]
        df["HEIGHT"] = self.height
        extra = {"Y_AXIS_ERR": ce[:, 0], "X_AXIS_ERR": ce[:, 1],
                 "Y_PPM_ERR": ce[:, 0] * ppm[0], "X_PPM_ERR": ce[:, 1] * ppm[1],
                 "Y_LW_ERR": we[:, 0], "X_LW_ERR": we[:, 1],
                 "Y_LW_HZ_ERR": we[:, 0] * hz[0], "X_LW_HZ_ERR": we[:, 1] * hz[1],
                 "HEIGHT_ERR": self.height_err, "VOL_ERR": self.volume_err,
                 "Y_ETA": self.eta[:, 0], "X_ETA": self.eta[:, 1],
                 "Y_ETA_ERR": self.eta_err[:, 0], "X_ETA_ERR": self.eta_err[:, 1],
                 "CHI2_RED": self.chi2_red, "FIT_FLAG": self.flagged.astype(int),
                 "FIT_ADDED": self.added.astype(int)}
        for k in FIT_COLUMNS:
            df[k] = extra[k]
        return df


# --------------------------------------------------------------------------- noise correlation

def noise_correlation(data, noise=None, max_lag=8, block=32):
    """Autocorrelation of the noise along each axis, measured on the quiet parts.

    The spectrum is cut into ``block`` x ``block`` squares; a plane is removed
    from each, and the quietest 30 % of the squares (lowest residual variance:
    no peaks, ridges or steps) give the pooled lag correlations. Lags from the
    first one under 0.05 (or the first that rises again) on are set to 0; the
    others are corrected for the plane removed.

    Parameters
    ----------
    data : ndarray (N1, N2)
    noise : float, optional
        Unused except to detect noise-free data (0 gives no correlation).
    max_lag : int
    block : int
        Side of the squares (halved until at least 8 squares fit).

    Returns
    -------
    rho_y, rho_x : ndarray
        Correlation at lag 0 (= 1), 1, ... per axis.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = noise_correlation(rng.normal(size=(256, 256)))
    >>> len(r[0]), len(r[1])                  # white noise: no correlation beyond lag 0
    (1, 1)
    """
    d = np.asarray(data, dtype=np.float64)
    out = []
    b = block
    while b > 8 and (d.shape[0] // b) * (d.shape[1] // b) < 8:
        b //= 2
    n0, n1 = (d.shape[0] // b) * b, (d.shape[1] // b) * b
    if n0 == 0 or n1 == 0 or (noise is not None and noise == 0):
        return np.ones(1), np.ones(1)
    blocks = d[:n0, :n1].reshape(n0 // b, b, n1 // b, b).swapaxes(1, 2).reshape(-1, b, b)
    yy, xx = np.mgrid[0:b, 0:b]
    design = np.stack([np.ones(b * b), yy.ravel() - (b - 1) / 2, xx.ravel() - (b - 1) / 2], 1)
    coef = blocks.reshape(len(blocks), -1) @ np.linalg.pinv(design).T
    res = blocks - (coef @ design.T).reshape(-1, b, b)
    var = np.einsum("kij,kij->k", res, res)
    quiet = res[var <= np.quantile(var, 0.3)]
    if len(quiet) == 0 or not np.any(quiet):
        return np.ones(1), np.ones(1)
    for axis in (1, 2):
        den = float(np.sum(quiet * quiet))
        raw = [1.0]
        for lag in range(1, min(max_lag, b - 1) + 1):
            a = np.take(quiet, np.arange(lag, b), axis=axis)
            c = np.take(quiet, np.arange(0, b - lag), axis=axis)
            # the ratio of sums over the overlap, corrected to the full-length normalisation
            v = float(np.sum(a * c)) / den * b / (b - lag)
            if v < 0.05 or v > raw[-1]:      # up to the first small lag, or one that rises
                break
            raw.append(v)
        raw = np.array(raw[1:])
        # removing the plane lowers every lag by about (1 + 2 sum rho) / b (of the variance)
        rho = raw
        for _ in range(3):
            delta = (1.0 + 2.0 * np.sum(rho)) / b
            rho = np.minimum((raw + delta) / (1.0 + delta), 0.999)
        out.append(np.r_[1.0, rho])
    return out[0], out[1]


def _toeplitz(rho, n):
    """n x n correlation matrix from the lags ``rho`` (0 beyond)."""
    m = np.zeros((n, n))
    idx = np.arange(n)
    lag = np.abs(idx[:, None] - idx[None, :])
    ok = lag < len(rho)
    m[ok] = rho[lag[ok]]
    return m


# --------------------------------------------------------------------------- model

def _prof(t, c, w, e):
    """Profiles (K, n) with their derivatives wrt centre, width and eta."""
    d = t[None, :] - c[:, None]
    w2 = (w * w)[:, None]
    u2 = d * d / w2
    g = np.exp(-_4LN2 * u2)
    lo = 1.0 / (1.0 + 4.0 * u2)
    e = e[:, None]
    p = e * lo + (1.0 - e) * g
    # dP/dc = (eta 8 L^2 + (1 - eta) 8 ln2 G) d / w^2 ; dP/dw = dP/dc * d / w
    k = (e * 8.0 * lo * lo + (1.0 - e) * _8LN2 * g) * d / w2
    return p, k, k * d / w[:, None], lo - g


class _Cluster:
    """One fit problem: a box of the data, the points used, the peaks' parameters."""

    def __init__(self, y0, x0, sub, mask, params, lo, hi, free, baseline=True):
        self.y0, self.x0 = y0, x0
        self.baseline = baseline          # fit a constant offset (stored after the peaks)
        self.offset = 0.0
        self.sub = sub                    # (ny, nx) data (noise units) minus neighbours
        self.mask = mask                  # (ny, nx) bool: points fitted
        self.params = params              # (K, 7) full parameters (box coordinates)
        self.lo, self.hi = lo, hi         # (K, 7) bounds
        self.free = free                  # (K, 7) bool: fitted parameters
        self.ty = np.arange(sub.shape[0], dtype=float)
        self.tx = np.arange(sub.shape[1], dtype=float)

    def model(self, params=None):
        """The fitted peaks (and offset) on the box."""
        p = self.params if params is None else params
        py = profile(self.ty[None, :], p[:, 0:1], p[:, 2:3], p[:, 5:6])
        px = profile(self.tx[None, :], p[:, 1:2], p[:, 3:4], p[:, 6:7])
        return np.einsum("k,ky,kx->yx", p[:, 4], py, px) + self.offset

    def jacobian(self, p):
        """Model (ny, nx) and Jacobian (ny*nx, K*7) at full parameters ``p``."""
        a = p[:, 4:5]
        py, ky, wy, ey = _prof(self.ty, p[:, 0], p[:, 2], p[:, 5])
        px, kx, wx, ex = _prof(self.tx, p[:, 1], p[:, 3], p[:, 6])
        ys = np.stack([a * ky, py, a * wy, py, py, a * ey, py])        # (7, K, ny)
        xs = np.stack([px, a * kx, px, a * wx, px, px, a * ex])        # (7, K, nx)
        jac = np.einsum("jky,jkx->yxkj", ys, xs).reshape(py.shape[1] * px.shape[1], -1)
        model = np.einsum("k,ky,kx->yx", p[:, 4], py, px)
        return model, jac

    def _free(self):
        return np.r_[self.free.ravel(), self.baseline]

    def solve(self, max_nfev=60):
        from scipy.optimize import least_squares
        free = self._free()
        full = np.r_[self.params.ravel(), self.offset]
        lo = np.r_[self.lo.ravel(), -np.inf][free]
        hi = np.r_[self.hi.ravel(), np.inf][free]
        fin = np.isfinite(lo) & np.isfinite(hi)
        x0 = full[free].copy()
        x0[fin] = np.clip(x0[fin], lo[fin] + 1e-9 * (hi - lo)[fin], hi[fin] - 1e-9 * (hi - lo)[fin])
        m = self.mask.ravel()
        d = self.sub.ravel()[m]
        cache = {}

        def evaluate(x):
            key = x.tobytes()
            if key not in cache:
                cache.clear()
                full[free] = x
                model, jac = self.jacobian(full[:-1].reshape(-1, _NPAR))
                jac = np.column_stack([jac[m], np.ones(int(m.sum()))])
                cache[key] = (model.ravel()[m] + full[-1] - d, jac[:, free])
            return cache[key]

        res = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1],
                            bounds=(lo, hi), method="trf", x_scale="jac", max_nfev=max_nfev,
                            xtol=1e-8, ftol=1e-8)
        full[free] = res.x
        self.params = full[:-1].reshape(-1, _NPAR)
        self.offset = float(full[-1])
        self.rss = float(np.sum(res.fun ** 2))
        self.n = int(m.sum())
        self.p = int(free.sum())
        return self

    def bic(self):
        return self.n * np.log(max(self.rss, 1e-300) / self.n) + self.p * np.log(self.n)

    def covariance(self, rho_y, rho_x):
        """Covariance (K*7+1, K*7+1) of the full parameters, offset last (0 for fixed
        ones), noise units."""
        free = self._free()
        _, jac = self.jacobian(self.params)
        jac = np.column_stack([jac, np.ones(len(jac))])
        m = self.mask.ravel()
        jf = np.where(m[:, None], jac[:, free], 0.0)
        ny, nx = self.sub.shape
        h = jf[m].T @ jf[m]
        try:
            hinv = np.linalg.pinv(h, rcond=1e-12, hermitian=True)
        except np.linalg.LinAlgError:
            hinv = np.full_like(h, np.nan)
        if len(rho_y) > 1 or len(rho_x) > 1:
            j3 = jf.reshape(ny, nx, -1)
            rj = np.einsum("ab,bcp->acp", _toeplitz(rho_y, ny), j3)
            rj = np.einsum("cd,adp->acp", _toeplitz(rho_x, nx), rj)
            meat = jf[m].T @ rj.reshape(ny * nx, -1)[m]
            meat = (meat + meat.T) / 2
            cov_f = hinv @ meat @ hinv
            # E[RSS] = s^2 tr((I - P) R) = s^2 (n - tr(H^-1 J^T R J)) for correlated noise:
            # the fit absorbs more of it than the p degrees of freedom of white noise
            dof = self.n - float(np.trace(hinv @ meat))
        else:
            cov_f = hinv
            dof = self.n - self.p
        s2 = self.rss / max(dof, 1.0)
        cov = np.zeros((free.size, free.size))
        cov[np.ix_(free, free)] = cov_f * s2
        self.chi2 = s2
        return cov


def _peak_boxes(centre, fwhh, reach, shape):
    """Integer boxes (y0, x0, y1, x1), end exclusive, of +-reach FWHH (+1 point)."""
    half = reach * fwhh + 1.0
    lo = np.floor(centre - half).astype(int)
    hi = np.ceil(centre + half).astype(int) + 1
    lo = np.clip(lo, 0, np.array(shape) - 1)
    hi = np.clip(hi, 1, np.array(shape))
    return np.column_stack([lo, hi])


def _fit_clusters(centre, fwhh, height, eta):
    """Cluster ids of peaks (0-based): half-height ellipses that touch."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    k = len(centre)
    if k < 2:
        return np.zeros(k, int)
    pairs = cKDTree(centre).query_pairs(r=float(np.max(fwhh)) + 1e-9, output_type="ndarray")
    if len(pairs):
        dd = np.abs(centre[pairs[:, 0]] - centre[pairs[:, 1]])
        w = (fwhh[pairs[:, 0]] + fwhh[pairs[:, 1]]) / 2
        pairs = pairs[np.sum((dd / w) ** 2, axis=1) <= 1.0]
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    return connected_components(g, directed=False)[1]


# --------------------------------------------------------------------------- the fit

def fit_peaks(data, centre, fwhh, height=None, *, cluster=None, noise=None, shape="pseudo-voigt",
              margin=0.75, baseline=True, threshold=None, residual_search=True,
              correlation="auto", refit_neighbours=True, max_nfev=60):
    """Fit the picked peaks of a 2-D spectrum with separable lineshapes.

    Parameters
    ----------
    data : ndarray (N1, N2)
        Real spectrum (axis 0 indirect, axis 1 direct).
    centre : array_like (k, 2)
        Picked centres (0-based points), the start of the fit.
    fwhh : array_like (k, 2)
        Picked FWHH (points); NaN becomes 2 points, and widths are at least 1 point.
    height : array_like (k,), optional
        Picked signed heights; default the data at the rounded centres. The
        sign of each peak is kept by the fit.
    cluster : array_like (k,), optional
        Cluster ids: peaks sharing one are fitted together. Default: peaks
        whose half-height ellipses touch.
    noise : float, optional
        Noise standard deviation (data units); default the robust estimate.
    shape : {'pseudo-voigt', 'gaussian', 'lorentzian'}
        Lineshape per axis.
    margin : float
        The fit region of a peak is its half-height ellipse grown by this many
        FWHH per axis (semi-axes ``(0.5 + margin) FWHH + 1`` points).
    baseline : bool
        Fit a constant offset per cluster (default True): a local baseline
        offset otherwise goes into the widths and the Lorentzian tails.
    threshold : float, optional
        Residual search threshold (data units, positive); default and floor
        :data:`SEARCH_MIN_SNR` x noise.
    residual_search : bool
        One round of residual search per cluster (kept when the BIC drops).
    correlation : 'auto', None or (rho_y, rho_x)
        Noise autocorrelation per axis for the errors; 'auto' measures it
        (:func:`noise_correlation`), None assumes white noise.
    refit_neighbours : bool
        Refit clusters into whose region other clusters' peaks reach, with
        those peaks' fitted signal subtracted.
    max_nfev : int
        Most function evaluations per cluster fit.

    Returns
    -------
    FitResult
        Fitted peaks: the picks in their order, then any added by the
        residual search.

    Examples
    --------
    >>> y, x = np.mgrid[0:40, 0:50]
    >>> d = 100 * profile(y, 20.3, 4.0, 0.0) * profile(x, 24.6, 5.0, 1.0)
    >>> d = d + np.random.default_rng(0).normal(0, 1, d.shape)
    >>> r = fit_peaks(d, [[20, 25]], [[4.5, 4.5]])
    >>> np.round(r.centre[0], 1).tolist(), np.round(r.fwhh[0], 1).tolist()
    ([20.3, 24.6], [4.0, 5.0])
    """
    data = check_spectrum(data)
    check_choice(shape, "shape", SHAPES)
    margin = check_number(margin, "margin", low=0)
    centre = np.asarray(centre, float).reshape(-1, 2)
    k = len(centre)
    fwhh = np.asarray(fwhh, float).reshape(-1, 2)
    if len(fwhh) != k:
        raise NmrpickError(f"`fwhh` must have one row per peak ({k}); got {len(fwhh)}")
    fwhh = np.where(np.isfinite(fwhh), fwhh, 2.0)
    fwhh = np.maximum(fwhh, 1.0)
    iy = np.clip(np.rint(centre[:, 0]).astype(int), 0, data.shape[0] - 1)
    ix = np.clip(np.rint(centre[:, 1]).astype(int), 0, data.shape[1] - 1)
    height = data[iy, ix].astype(float) if height is None else np.asarray(height, float).reshape(-1)
    if len(height) != k:
        raise NmrpickError(f"`height` must have one value per peak ({k}); got {len(height)}")
    if noise is None:
        noise = estimate_noise(data)
    noise = float(noise) if noise and noise > 0 else float(max(np.max(np.abs(data)) * 1e-6, 1e-30))
    thr = SEARCH_MIN_SNR if threshold is None else max(float(threshold) / noise, SEARCH_MIN_SNR)
    if isinstance(correlation, str):
        check_choice(correlation, "correlation", ("auto",))
        rho = noise_correlation(data, noise)
    elif correlation is None:
        rho = (np.ones(1), np.ones(1))
    else:
        rho = tuple(np.asarray(r, float) for r in correlation)
    if k == 0:
        return _empty(noise, rho)
    cid = _fit_clusters(centre, fwhh, height, None) if cluster is None else \
        np.unique(np.asarray(cluster).reshape(-1), return_inverse=True)[1].reshape(-1)
    scaled = np.asarray(data, dtype=np.float64) / noise if data.dtype != np.float64 else data / noise
    eta0 = {"pseudo-voigt": 0.5, "gaussian": 0.0, "lorentzian": 1.0}[shape]
    params = np.column_stack([centre, fwhh, height / noise, np.full(k, eta0), np.full(k, eta0)])
    sign = np.where(height < 0, -1.0, 1.0)
    groups = [np.nonzero(cid == c)[0] for c in range(cid.max() + 1)]
    groups = [g for g in groups if len(g)]

    fits = [None] * len(groups)
    members = list(groups)
    # pass 1: each cluster alone; pass 2: with the other clusters' fitted peaks subtracted
    for pass_ in (1, 2):
        if pass_ == 2 and not refit_neighbours:
            break
        all_par = np.concatenate([f.params + np.array([f.y0, f.x0, 0, 0, 0, 0, 0])
                                  for f in fits]) if pass_ == 2 else None
        all_owner = np.concatenate([np.full(len(f.params), i) for i, f in enumerate(fits)]) \
            if pass_ == 2 else None
        for gi, g in enumerate(members):
            if pass_ == 1:
                p0 = params[g]
                sg = sign[g]
            else:
                f = fits[gi]
                p0 = f.params + np.array([f.y0, f.x0, 0, 0, 0, 0, 0])
                sg = np.where(p0[:, 4] < 0, -1.0, 1.0)
            others = None
            if pass_ == 2:
                others = all_par[all_owner != gi]
                if not _reaches(others, p0, margin, data.shape):
                    continue
            fits[gi] = _fit_one(scaled, p0, sg, shape, margin, others, max_nfev, baseline,
                                start=None if pass_ == 1 else fits[gi])
    # residual search (one round per cluster)
    added_mask = [np.zeros(len(f.params), bool) for f in fits]
    if residual_search:
        for gi, f in enumerate(fits):
            new = _search(f, thr)
            if new is not None:
                added_mask[gi] = np.r_[added_mask[gi], True]
                fits[gi] = new
    return _collect(fits, members, added_mask, k, noise, rho)


def _reaches(others, p0, margin, shape):
    """Whether any of ``others`` (K, 7 absolute params) has signal >= ~1 noise in the region."""
    if len(others) == 0:
        return False
    box = _peak_boxes(p0[:, :2], p0[:, 2:4], 0.5 + margin, shape)
    y0, x0 = box[:, 0].min(), box[:, 1].min()
    y1, x1 = box[:, 2].max(), box[:, 3].max()
    cy = np.clip(others[:, 0], y0, y1 - 1)
    cx = np.clip(others[:, 1], x0, x1 - 1)
    val = np.abs(others[:, 4]) * profile(cy, others[:, 0], others[:, 2], others[:, 5]) \
        * profile(cx, others[:, 1], others[:, 3], others[:, 6])
    return bool(np.any(val >= 1.0))


def _fit_one(scaled, p0, sign, shape, margin, others, max_nfev, baseline, start=None):
    """Fit one cluster; p0 (K, 7) absolute parameters in noise units."""
    box = _peak_boxes(p0[:, :2], p0[:, 2:4], 0.5 + margin, scaled.shape)
    y0, x0 = int(box[:, 0].min()), int(box[:, 1].min())
    y1, x1 = int(box[:, 2].max()), int(box[:, 3].max())
    sub = np.array(scaled[y0:y1, x0:x1], dtype=np.float64)
    ty = np.arange(y0, y1, dtype=float)
    tx = np.arange(x0, x1, dtype=float)
    if others is not None and len(others):
        sub -= np.einsum("k,ky,kx->yx", others[:, 4],
                         profile(ty[None, :], others[:, 0:1], others[:, 2:3], others[:, 5:6]),
                         profile(tx[None, :], others[:, 1:2], others[:, 3:4], others[:, 6:7]))
    ref = p0 if start is None else start.ref
    rad = (0.5 + margin) * ref[:, 2:4] + 1.0
    dy = (ty[None, :, None] - ref[:, 0, None, None]) / rad[:, 0, None, None]
    dx = (tx[None, None, :] - ref[:, 1, None, None]) / rad[:, 1, None, None]
    mask = np.any(dy * dy + dx * dx <= 1.0, axis=0)
    p = p0.copy()
    p[:, 0] -= y0
    p[:, 1] -= x0
    lo, hi, free = _bounds(ref - np.array([y0, x0, 0, 0, 0, 0, 0]), sign, shape)
    c = _Cluster(y0, x0, sub, mask, p, lo, hi, free, baseline)
    if start is not None:
        c.offset = start.offset
    c.ref = ref
    c.sign = sign
    c.shape_ = shape
    c.solve(max_nfev)
    return c


def _bounds(ref, sign, shape):
    """Bounds (K, 7) around the reference (pick) parameters, box coordinates."""
    k = len(ref)
    dc = np.maximum(1.0, 0.5 * ref[:, 2:4])
    wlo = np.maximum(0.3, ref[:, 2:4] / 3.0)
    whi = 3.0 * ref[:, 2:4] + 2.0
    big = 1e12
    alo = np.where(sign > 0, 0.0, -big)
    ahi = np.where(sign > 0, big, 0.0)
    lo = np.column_stack([ref[:, :2] - dc, wlo, alo, np.zeros((k, 2))])
    hi = np.column_stack([ref[:, :2] + dc, whi, ahi, np.ones((k, 2))])
    free = np.ones((k, _NPAR), bool)
    if shape != "pseudo-voigt":
        free[:, 5:7] = False
    return lo, hi, free


def _search(f, thr):
    """One residual search on a fitted cluster: the refit with one more peak, or None."""
    from scipy.ndimage import maximum_filter
    resid = f.sub - f.model()
    sgn = 1.0 if np.sum(f.params[:, 4]) >= 0 else -1.0
    r = sgn * resid
    rm = r[f.mask]
    spread = 1.4826 * np.median(np.abs(rm - np.median(rm)))
    level = max(thr, SEARCH_RESIDUAL_K * spread)
    peaks = (r == maximum_filter(r, size=3, mode="nearest")) & f.mask & (r >= level)
    if not peaks.any():
        return None
    ys, xs = np.nonzero(peaks)
    i = int(np.argmax(r[ys, xs]))
    y, x = ys[i], xs[i]
    w = np.median(f.params[:, 2:4], axis=0)
    eta0 = {"pseudo-voigt": 0.5, "gaussian": 0.0, "lorentzian": 1.0}[f.shape_]
    newp = np.r_[y + f.y0, x + f.x0, w, sgn * r[y, x], eta0, eta0]
    p0 = np.vstack([f.params + np.array([f.y0, f.x0, 0, 0, 0, 0, 0]), newp])
    ref = np.vstack([f.ref, newp])
    g = _Cluster(f.y0, f.x0, f.sub, f.mask, p0 - np.array([f.y0, f.x0, 0, 0, 0, 0, 0]),
                 *_bounds(ref - np.array([f.y0, f.x0, 0, 0, 0, 0, 0]), np.r_[f.sign, sgn],
                          f.shape_), baseline=f.baseline)
    g.offset = f.offset
    g.ref, g.sign, g.shape_ = ref, np.r_[f.sign, sgn], f.shape_
    g.solve()
    return g if g.bic() < f.bic() else None


def _empty(noise, rho):
    z2, z1 = np.zeros((0, 2)), np.zeros(0)
    return FitResult(z2, z2, z2, z2, z1, z1, z1, z1, z2, z2, np.zeros(0, int), z1,
                     np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int), noise, rho)


def _collect(fits, members, added_mask, k, noise, rho):
    """Gather the clusters' parameters and errors into a FitResult (data units)."""
    rows, errs, vols, verr, chi, clus, src, add = [], [], [], [], [], [], [], []
    n_added = 0
    for gi, (f, g) in enumerate(zip(fits, members)):
        cov = f.covariance(*rho)
        p = f.params + np.array([f.y0, f.x0, 0, 0, 0, 0, 0])
        sd = np.sqrt(np.maximum(np.diag(cov), 0.0))[:-1].reshape(-1, _NPAR)
        rows.append(p)
        errs.append(sd)
        v = volume_integral(p[:, 4], p[:, 2], p[:, 3], p[:, 5], p[:, 6])
        # gradient of the volume wrt (wy, wx, A, ey, ex) of each peak
        iy = p[:, 2] * (p[:, 5] * _IL + (1 - p[:, 5]) * _IG)
        ix = p[:, 3] * (p[:, 6] * _IL + (1 - p[:, 6]) * _IG)
        for j in range(len(p)):
            grad = np.zeros(cov.shape[0])
            o = j * _NPAR
            grad[o + 2] = v[j] / p[j, 2]
            grad[o + 3] = v[j] / p[j, 3]
            grad[o + 4] = iy[j] * ix[j]
            grad[o + 5] = p[j, 4] * ix[j] * p[j, 2] * (_IL - _IG)
            grad[o + 6] = p[j, 4] * iy[j] * p[j, 3] * (_IL - _IG)
            verr.append(float(np.sqrt(max(grad @ cov @ grad, 0.0))))
        vols.append(v)
        chi.append(np.full(len(p), f.chi2))
        clus.append(np.full(len(p), gi))
        nsrc = len(g)
        src.append(np.r_[g, -np.ones(len(p) - nsrc, int)])
        add.append(added_mask[gi])
        n_added += len(p) - nsrc
    p = np.concatenate(rows)
    sd = np.concatenate(errs)
    src = np.concatenate(src).astype(int)
    order = np.r_[np.argsort(np.where(src >= 0, src, k + 1), kind="stable")]
    p, sd = p[order], sd[order]
    vol = np.concatenate(vols)[order] * noise
    vol_err = np.asarray(verr)[order] * noise
    h, he = p[:, 4] * noise, sd[:, 4] * noise
    return FitResult(centre=p[:, :2], centre_err=sd[:, :2], fwhh=p[:, 2:4], fwhh_err=sd[:, 2:4],
                     height=h, height_err=he, volume=vol, volume_err=vol_err,
                     eta=p[:, 5:7], eta_err=sd[:, 5:7], cluster=np.concatenate(clus)[order],
                     chi2_red=np.concatenate(chi)[order],
                     flagged=np.abs(h) < FLAG_SIGMAS * he,
                     added=np.concatenate(add)[order].astype(bool), source=src[order],
                     noise=noise, correlation=rho)
