"""Lineshape fitting of picked peaks: exact centres, widths, heights, volumes and their errors.

Each cluster of touching peaks is fitted together, on the data around it (the
peaks' half-height ellipses grown by ``margin`` FWHH), and so are clusters whose
peaks reach into each other's regions (:data:`JOIN_COUPLING`), with a sum of separable
2-D lineshapes ``A * f_y(y) * f_x(x)``. The 1-D profile ``f`` has height 1 at
the centre and full width at half height ``w`` on its axis:

``gaussian``      ``G(d) = exp(-4 ln2 d^2 / w^2)``
``lorentzian``    ``L(d) = 1 / (1 + 4 d^2 / w^2)``
``pseudo-voigt``  ``eta L + (1 - eta) G`` with the same ``w`` (default); the
                  Lorentzian fraction ``eta`` (0..1) is fitted per peak and axis

Each cluster also gets a constant offset (a local baseline; ``baseline=False``
drops it). The fit is bounded (centre within ``max(1, 0.75 FWHH)`` points of the
pick, :data:`CENTRE_REACH`; widths within 1/3..3x the pick's, Lorentzian fractions in
0..1, the height keeps the pick's sign) and starts from the picks. Peaks of neighbouring
clusters whose tails reach into a cluster's region (1 noise or more) are
subtracted, with their own fitted shapes, and the cluster is fitted again:
:data:`NEIGHBOUR_ROUNDS` rounds, each with the others' fits of the round before (the
second only where those moved by 1 noise or more).

Solvers (``method``): ``'lm'`` (default) is a bounded Levenberg-Marquardt
(Marquardt scaling, projected steps, parameters held on a bound the gradient
pushes against) on dense batches: clusters with the same number of peaks share
one parameter layout, so they are stacked (points padded to the batch's
largest cluster, at most a quarter more) and every step, with its analytic
Jacobian, normal equations and solve, is one array operation per batch; each
cluster has its own damping, accepts or rejects its own steps and stops on its
own (Gauss-Newton decrement under 1e-4 chi-square). ``'least_squares'`` runs
``scipy.optimize.least_squares`` (trust-region reflective, same analytic
Jacobian and bounds) cluster by cluster, to the same minimum, far slower (a
Python call per cluster and iteration).

Volume is the analytic integral of the fitted shape over the plane,
``A * I_y * I_x`` with ``I = w (eta pi / 2 + (1 - eta) sqrt(pi / (4 ln2)))``
(points^2 x data units): it counts the Lorentzian tails beyond the fit region
and beyond the spectrum's edges.

Standard errors come from the Jacobian at the solution, scaled by the residual
noise of the cluster, with the correlation of the noise between neighbouring
points taken into account: zero filling and apodisation make neighbouring
points of real spectra correlated, which makes the plain ``s^2 (J^T J)^-1``
too small by a factor of 2-3. The correlation per axis and the variance of the
noise are measured on the quiet parts of the spectrum (:func:`noise_correlation`,
:func:`noise_variance`; a robust spread reads 10-30 % low for correlated
noise); the covariance is the sandwich ``s^2 H^-1 J^T R J H^-1`` (``H = J^T J``,
``R`` the separable correlation between the cluster's points) and
``s^2 = RSS / (n - tr(H^-1 J^T R J))`` (the residual variance, with the degrees
of freedom that correlated noise leaves; misfit raises it, and the errors with
it). ``s^2`` is taken at least the median of the weakest third of the clusters'
(at most the measured noise variance; :func:`_pooled_variance`): the scale
``max(1, chi2)`` against the noise pooled over the whole fit. A cluster of few independent points (small peaks, strongly
correlated noise) states its ``s^2`` with few degrees of freedom, and one that
falls low would make its errors too small (a Student-t spread, not a Gaussian).
Two kinds of structure the noise lacks enter as well:

- t1 noise: ridges along the indirect axis at the direct-axis position of a
  strong peak, proportional to it, the same in every point of a row. Its
  variance ``tau2`` and row-to-row correlation are measured by projecting each
  row's residual on the cluster's x-profile (kept where significant, see
  :data:`RIDGE_SIGMAS`), and the sandwich's middle becomes
  ``J^T (sigma^2 R + tau2 R_t f f^T) J``, scaled by the RSS over its expectation;
- other misfit: where ``s^2`` exceeds :data:`MISFIT_CHI2` times the noise's
  variance, the cluster's own residual correlation is used where larger.

Several planes (a series): the heights' block of the covariance is the noise's plus a
misfit part per plane, correlated between the planes as the residual is
(:func:`_plane_misfit_cov`): a lineshape's misfit grows with each plane's height and
moves the heights together, which one chi-square spread over independent planes missed.

The Lorentzian fractions are bounded by the model itself (0..1, and a Gaussian or
Lorentzian truth sits on a bound): their errors are those of their Gaussian
truncated to 0..1; the other parameters keep the errors of the joint fit
(:func:`_bounded_posterior`). Errors of derived values
(volume, Hz) follow by linear propagation.

A peak whose fitted height is below 3 of its standard errors is flagged. One
round of residual search adds, per cluster, a peak at the largest residual
maximum above the threshold (and :data:`SEARCH_RESIDUAL_K` times the residual's
robust spread, and :data:`SEARCH_MIN_DISTANCE` FWHH from the cluster's peaks),
kept only when its fitted height stays above the threshold and 3 of its standard
errors, its widths off their bounds, and it lowers the cluster's Bayesian information criterion
``n ln(RSS / n) + p ln n``.

Blends (two peaks the picker saw as one, < 1 FWHH apart) leave no residual maximum
of their own: the one peak fitted to them is wider and flatter than either, and
the residual under it holds the pattern of the difference. Per cluster the peak
whose residual within 1 FWHH misfits most (:data:`SPLIT_MISFIT`) is tested
(:func:`_split_test`): the change from one peak to two (equal heights, and their
difference) along x, y and both diagonals, less what the peak's own parameters
absorb, fitted to the residual; where it removes :data:`SPLIT_Z2` residual
variances or more (with a positive coefficient: data flatter than one peak), the
peak is replaced by two along the best direction and the cluster refitted. The
two are kept (``split``) where the BIC counted on the independent points
(``n / (V_y V_x)``, ``V = 1 + 2 sum(rho)``: correlated noise has fewer) drops by
:data:`SPLIT_BIC_MARGIN`, both heights stand above the threshold and 3 of their
errors, their widths are off their bounds and they end at least
:data:`SPLIT_MIN_SEPARATION` FWHH apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._errors import NmrpickError
from ._noise import estimate_noise
from ._validate import check_choice, check_number, check_spectrum

__all__ = ["fit_peaks", "fit_planes", "fit_table", "FitResult", "noise_correlation", "noise_variance", "profile", "volume_integral",
           "SHAPES", "FIT_COLUMNS"]

#: Lineshape models (per axis).
SHAPES = ("pseudo-voigt", "gaussian", "lorentzian")
_4LN2 = 4.0 * np.log(2.0)
_8LN2 = 8.0 * np.log(2.0)
#: Integral of the unit-height Gaussian / Lorentzian profile of FWHH 1.
_IG = float(np.sqrt(np.pi / _4LN2))
_IL = float(np.pi / 2.0)
#: Clusters whose reduced chi-square exceeds this take their residual's own correlation
#: into the errors (misfit, e.g. t1 ridges, is correlated along whole columns).
MISFIT_CHI2 = 2.0
#: Parameters per peak, in order: centre y, centre x, FWHH y, FWHH x, height, eta y, eta x.
_NPAR = 7
#: A fitted height below this many standard errors is flagged.
FLAG_SIGMAS = 3.0
#: The residual search never looks below this many times the noise.
SEARCH_MIN_SNR = 5.0
#: ... nor below this many times the robust spread of the cluster's own residual.
SEARCH_RESIDUAL_K = 5.0
#: ... nor closer than this (in FWHH, normalised distance) to a peak of the cluster.
SEARCH_MIN_DISTANCE = 0.5

#: Columns :meth:`FitResult.to_frame` adds to a peak table (see the README).
FIT_COLUMNS = ("Y_AXIS_ERR", "X_AXIS_ERR", "Y_PPM_ERR", "X_PPM_ERR", "Y_LW_ERR", "X_LW_ERR",
               "Y_LW_HZ_ERR", "X_LW_HZ_ERR", "HEIGHT_ERR", "VOL_ERR", "Y_ETA", "X_ETA",
               "Y_ETA_ERR", "X_ETA_ERR", "CHI2_RED", "FIT_FLAG", "FIT_ADDED", "FIT_SPLIT")


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
        Reduced chi-square of the peak's cluster, ``RSS / (dof sigma^2)``: ``sigma^2`` the
        measured noise variance (:func:`noise_variance`), ``dof`` the degrees of freedom
        that correlated noise leaves (``n - tr(H^-1 J^T R J)``, ``n - p`` for white noise);
        about 1 where the model explains the data down to the noise.
    flagged : ndarray (k,) of bool
        Height below :data:`FLAG_SIGMAS` standard errors.
    added : ndarray (k,) of bool
        Added by the residual search (not one of the picks).
    source : ndarray (k,) of int
        Index of the pick each peak came from (-1 for added peaks).
    split : ndarray (k,) of bool
        One of two peaks that replaced a pick fitted as a blend (:func:`_split_blends`):
        the pick's own (``source`` >= 0) and the one added beside it (``added``).
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
    split: np.ndarray = None

    def __post_init__(self):
        if self.split is None:
            self.split = np.zeros(len(self.height), bool)

    def __len__(self):
        return len(self.height)

    def to_frame(self, uc=None, score=None):
        """The fitted peaks as a DataFrame with the columns of a pick table plus
        :data:`FIT_COLUMNS` (ppm and Hz from ``uc``, one nmrglue unit conversion per axis).

        ``score`` (one per pick) gives the SCORE column: each fitted pick keeps
        its pick's, a peak added by the residual search gets 0."""
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
        if score is not None:
            score = np.asarray(score, float)
            df["SCORE"] = np.where(self.source >= 0, score[np.maximum(self.source, 0)], 0.0) \
                if len(score) else np.zeros(len(self))
        extra = {"Y_AXIS_ERR": ce[:, 0], "X_AXIS_ERR": ce[:, 1],
                 "Y_PPM_ERR": ce[:, 0] * ppm[0], "X_PPM_ERR": ce[:, 1] * ppm[1],
                 "Y_LW_ERR": we[:, 0], "X_LW_ERR": we[:, 1],
                 "Y_LW_HZ_ERR": we[:, 0] * hz[0], "X_LW_HZ_ERR": we[:, 1] * hz[1],
                 "HEIGHT_ERR": self.height_err, "VOL_ERR": self.volume_err,
                 "Y_ETA": self.eta[:, 0], "X_ETA": self.eta[:, 1],
                 "Y_ETA_ERR": self.eta_err[:, 0], "X_ETA_ERR": self.eta_err[:, 1],
                 "CHI2_RED": self.chi2_red, "FIT_FLAG": self.flagged.astype(int),
                 "FIT_ADDED": self.added.astype(int), "FIT_SPLIT": self.split.astype(int)}
        for k in FIT_COLUMNS:
            df[k] = extra[k]
        return df


# --------------------------------------------------------------------------- noise correlation

def noise_correlation(data, noise=None, max_lag=8, block=32):
    """Autocorrelation of the noise along each axis, measured on the quiet parts.

    :func:`noise_variance` gives the variance measured on the same squares.

    The spectrum is cut into ``block`` x ``block`` squares; a plane is removed
    from each, and the quiet squares (:data:`QUIET_FRACTION`; lowest residual variance:
    no peaks, ridges or steps) give the pooled lag correlations, corrected for
    the plane removed: the correlations whose expected measured values, those of
    the residual ``(I - P) C (I - P)`` of separable noise ``C`` after the
    projection ``P`` on the plane, are the measured ones (:func:`_plane_removed_lags`;
    the bias is small, a few per cent of the variance for strongly correlated
    noise). Lags from the first one under :data:`LAG_FLOOR` (or the first that
    rises again) on are set to 0.

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
    return _noise_stats(data, noise, max_lag, block)[:2]


def noise_variance(data, noise=None, max_lag=8, block=32):
    """Variance of the noise (data units squared), measured as :func:`noise_correlation`
    measures its correlation.

    Robust noise estimates from the spread of the data read low for correlated noise
    (by 10-30 % for lag-1 correlations of 0.6-0.9); this is the variance itself: the
    median over the quiet squares (those within twice the variance of the quietest 30 %),
    corrected for the plane removed from each (the fraction of the variance the residual
    keeps, about ``1 - 3 V_y V_x / block^2``, ``V = 1 + 2 sum(rho)``; see
    :func:`_plane_removed_lags`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(noise_variance(rng.normal(0, 2, size=(256, 256))), 1)
    4.0
    """
    return _noise_stats(data, noise, max_lag, block)[2]


#: The noise's correlation is measured on the squares whose residual variance is at most
#: :data:`QUIET_FACTOR` times the median of the quietest :data:`QUIET_FRACTION` of them (at
#: least :data:`QUIET_MIN` squares, or 30 % of them where fewer). t1 ridges cross most squares of a crowded
#: spectrum (the columns of its strong peaks) and read as noise correlated along the direct
#: axis, their smooth profile: on the quietest 30 % of the squares (as before) of eight
#: realistic synthetic spectra the lag-1 correlation along it read up to 0.42 where the same
#: noise without ridges read 0.09 (0.81 for 0.46, 0.78 for 0.52); so chosen, 0.01-0.04 above
#: it (0.06 where it read under 0.05). The quietest squares alone (no factor) read strongly
#: correlated pure noise up to 0.05 low (lags 3-4: their own low spread); within the factor,
#: 0.02-0.03.
QUIET_FRACTION = 0.05
#: See :data:`QUIET_FRACTION`.
QUIET_FACTOR = 1.2
#: Fewest squares the correlation is measured on.
QUIET_MIN = 16
#: Lag correlations from the first one under this on are set to 0.
LAG_FLOOR = 0.05


def _noise_stats(data, noise=None, max_lag=8, block=32):
    """(rho_y, rho_x, variance) of the noise: see :func:`noise_correlation`."""
    d = np.asarray(data, dtype=np.float64)
    b = block
    while b > 8 and (d.shape[0] // b) * (d.shape[1] // b) < 8:
        b //= 2
    n0, n1 = (d.shape[0] // b) * b, (d.shape[1] // b) * b
    if n0 == 0 or n1 == 0 or (noise is not None and noise == 0):
        return np.ones(1), np.ones(1), float(np.var(d)) if d.size else 0.0
    blocks = d[:n0, :n1].reshape(n0 // b, b, n1 // b, b).swapaxes(1, 2).reshape(-1, b, b)
    yy, xx = np.mgrid[0:b, 0:b]
    design = np.stack([np.ones(b * b), yy.ravel() - (b - 1) / 2, xx.ravel() - (b - 1) / 2], 1)
    coef = blocks.reshape(len(blocks), -1) @ np.linalg.pinv(design).T
    res = blocks - (coef @ design.T).reshape(-1, b, b)
    var = np.einsum("kij,kij->k", res, res)
    m = max(int(np.ceil(QUIET_FRACTION * len(var))), min(QUIET_MIN, int(np.ceil(0.3 * len(var)))))
    order = np.argsort(var, kind="stable")
    calm_ = np.nonzero(var <= QUIET_FACTOR * float(np.median(var[order[:m]])))[0]
    quiet = res[calm_ if len(calm_) >= m else order[:m]]
    if len(quiet) == 0 or not np.any(quiet):
        return np.ones(1), np.ones(1), 0.0
    den = float(np.sum(quiet * quiet))
    raw = []
    for axis in (1, 2):
        r = [1.0]
        for lag in range(1, min(max_lag, b - 1) + 1):
            a = quiet[:, lag:, :] if axis == 1 else quiet[:, :, lag:]
            c = quiet[:, :b - lag, :] if axis == 1 else quiet[:, :, :b - lag]
            # the ratio of sums over the overlap, corrected to the full-length normalisation
            r.append(float(np.einsum("kij,kij->", a, c)) / den * b / (b - lag))
        raw.append(np.array(r))
    # removing the plane lowers the lag sums by what the plane takes of correlated noise:
    # the correlations whose expected raw values (:func:`_plane_removed_lags`) are the
    # measured ones (fixed point; the bias is small, a few iterations)
    rho = [x.copy() for x in raw]
    for _ in range(4):
        ey, ex, _f = _plane_removed_lags(rho[0], rho[1], b)
        rho = [np.clip(rho[0] + raw[0] - ey, -1, 0.999), np.clip(rho[1] + raw[1] - ex, -1, 0.999)]
        rho[0][0] = rho[1][0] = 1.0
    rho = [_cut_lags(r, LAG_FLOOR) for r in rho]
    frac = _plane_removed_lags(rho[0], rho[1], b)[2]
    calm = var[var <= 2.0 * np.quantile(var, 0.3)]
    variance = float(np.median(calm)) / (b * b) / max(float(frac), 0.5)
    return rho[0], rho[1], variance


def _cut_lags(rho, floor=0.05):
    """Lags from the first one under ``floor`` (or the first that rises again) on dropped."""
    n = 1
    while n < len(rho) and floor <= rho[n] <= rho[n - 1]:
        n += 1
    return rho[:n].copy()


def _plane_removed_lags(rho_y, rho_x, b):
    """Expected raw lag correlations per axis (as :func:`_noise_stats` measures them) of
    separable noise with lag correlations ``rho_y, rho_x`` in a ``b`` x ``b`` block from
    which a plane was removed (lags 0 .. ``len(rho) - 1``), and the fraction of the variance
    the residual keeps.

    With ``C = C_y (x) C_x`` and ``P`` the projection on the plane (design ``D``, columns
    1, y, x, separable), the residual's covariance is ``(I - P) C (I - P)``; its sum over the
    pairs at lag ``l`` is ``tr(C L') - tr(G D'CL'D) - tr(G D'L'CD) + tr(G D'CD G D'L'D)``
    (``G = (D'D)^-1``, ``L`` the shift by ``l``), each a product of per-axis ``b x b`` terms.
    """
    def toeplitz(r):
        t = np.zeros(b)
        t[:min(len(r), b)] = r[:b]
        i = np.arange(b)
        return t[np.abs(i[:, None] - i[None, :])]
    c = np.arange(b) - (b - 1) / 2
    one = np.ones(b)
    # the design's columns as (y vector) x (x vector): 1 x 1, y x 1, 1 x x
    u, v = np.stack([one, c, one]), np.stack([one, one, c])

    def k3(ay, ax):
        return (u @ ay @ u.T) * (v @ ax @ v.T)
    cy, cx, eye = toeplitz(rho_y), toeplitz(rho_x), np.eye(b)
    g = np.linalg.inv(k3(eye, eye))
    kc = k3(cy, cx)
    gk = g @ kc
    den = b * b - np.trace(gk)
    out = []
    for axis, r in ((0, rho_y), (1, rho_x)):
        e = [1.0]
        for lag in range(1, min(len(r), b)):
            st = np.eye(b, k=-lag)              # S^T: (S^T v)_i = v_{i - lag}
            full = b * (b - lag) * r[lag]
            if axis == 1:
                m1, m2, m3 = k3(cy, cx @ st), k3(cy, st @ cx), k3(eye, st)
            else:
                m1, m2, m3 = k3(cy @ st, cx), k3(st @ cy, cx), k3(st, eye)
            s = full - np.trace(g @ m1) - np.trace(g @ m2) + np.trace(gk @ g @ m3)
            e.append(s / den * b / (b - lag))
        out.append(np.array(e))
    return out[0], out[1], den / (b * b)


# --------------------------------------------------------------------------- the engine

def _residual_correlation(ry, rx, rq, resid, rho_y, rho_x, max_lag=8):
    """Lag correlations per axis of a cluster's own residual, each at least the noise's."""
    out = []
    y0, x0 = int(ry.min()), int(rx.min())
    img = np.full((int(rq.max()) + 1, int(ry.max()) - y0 + 1, int(rx.max()) - x0 + 1), np.nan)
    img[rq, ry.astype(int) - y0, rx.astype(int) - x0] = resid
    var = float(np.nanmean(img * img))
    for axis, base in ((1, rho_y), (2, rho_x)):
        r = [1.0]
        for lag in range(1, min(max_lag, img.shape[axis] - 1) + 1):
            a = np.take(img, np.arange(lag, img.shape[axis]), axis=axis)
            b = np.take(img, np.arange(0, img.shape[axis] - lag), axis=axis)
            prod = a * b
            ok = np.isfinite(prod)
            v = float(np.mean(prod[ok])) / var if ok.sum() > 10 and var > 0 else 0.0
            v = max(v, float(base[lag]) if lag < len(base) else 0.0)
            if v < 0.05 or v > r[-1]:
                break
            r.append(min(v, 0.999))
        out.append(np.array(r))
    return out[0], out[1]


def _prof1(d, w, e):
    """Pseudo-Voigt values of offsets ``d`` and their derivatives wrt centre, width, eta."""
    w2 = w * w
    u2 = d * d / w2
    g = np.exp(-_4LN2 * u2)
    lo = 1.0 / (1.0 + 4.0 * u2)
    p = e * lo + (1.0 - e) * g
    # dP/dc = (eta 8 L^2 + (1 - eta) 8 ln2 G) d / w^2 ; dP/dw = dP/dc * d / w
    k = (e * 8.0 * lo * lo + (1.0 - e) * _8LN2 * g) * d / w2
    return p, k, k * d / w, lo - g


#: Most clusters in one batch, and most entries of a batch's point-by-point correlation matrix.
_BATCH_MAX, _BATCH_CELLS = 256, 4_000_000


class _Batch:
    """Clusters with the same number of peaks (so the same parameter layout), their points
    padded to the batch's largest cluster: dense arrays ``(B, Q, n)`` for the data and
    ``(B, Q, n, P)`` for the Jacobian, on which every cluster is solved at once."""

    def __init__(self, prob, gis):
        self.gis = np.asarray(gis, int)
        q_n, g0 = prob.q_n, prob.groups[gis[0]]
        c0 = prob.col_start[gis[0]]
        self.P = prob.col_start[gis[0] + 1] - c0
        col = prob.col
        self.cyi, self.cxi = (col["cy"][g0] - c0).T, (col["cx"][g0] - c0).T     # (Q, k)
        self.ai = (col["a"][g0] - c0).T
        self.wyi, self.wxi = col["wy"][g0] - c0, col["wx"][g0] - c0               # (k,)
        self.eyi, self.exi = col["ey"][g0] - c0, col["ex"][g0] - c0
        self.bi = prob.col_b[gis[0]] - c0                                         # (Q,)
        npts = np.asarray(prob.npts)[self.gis]
        b, n = len(gis), int(npts.max())
        self.n = npts
        self.Y, self.X = np.zeros((b, n)), np.zeros((b, n))
        self.V = np.zeros((b, n), bool)
        self.T = np.zeros((b, q_n, n))
        for i, gi in enumerate(self.gis):
            r0, m = prob.row_start[gi], npts[i]
            self.Y[i, :m], self.X[i, :m] = prob.ry[r0:r0 + m], prob.rx[r0:r0 + m]
            self.V[i, :m] = True
            self.T[i, :, :m] = prob.target[r0:r0 + m * q_n].reshape(q_n, m)
        self.G = np.asarray(prob.col_start)[self.gis][:, None] + np.arange(self.P)
        # each cluster's points in a box (rows, columns from its corner); padding goes to a
        # spare row beyond the box, where it only ever holds zeros
        yi, xi = self.Y.astype(np.int64), self.X.astype(np.int64)
        big = np.iinfo(np.int64).max
        y0 = np.where(self.V, yi, big).min(axis=1, keepdims=True)
        x0 = np.where(self.V, xi, big).min(axis=1, keepdims=True)
        self.ny = int(np.max(np.where(self.V, yi - y0, 0))) + 1
        self.nx = int(np.max(np.where(self.V, xi - x0, 0))) + 1
        self.YI = np.where(self.V, yi - y0, self.ny)
        self.XI = np.where(self.V, xi - x0, 0)
        self.rows = [np.arange(prob.row_start[gi], prob.row_start[gi + 1]) for gi in self.gis]

    def sub(self, idx):
        """The batch restricted to clusters ``idx`` (positions in this batch)."""
        out = object.__new__(_Batch)
        out.__dict__.update(self.__dict__)
        for name in ("gis", "n", "Y", "X", "V", "T", "G", "YI", "XI"):
            setattr(out, name, getattr(self, name)[idx])
        return out

    def evaluate(self, xp, jac=True, shapes=False):
        """Model ``(B, Q, n)`` and Jacobian ``(B, Q, n, P)`` at parameters ``xp`` (B, P);
        ``shapes``: the unit-height shapes ``(B, Q, n, k)`` instead of the Jacobian."""
        b = len(xp)
        cy, cx, a = xp[:, self.cyi], xp[:, self.cxi], xp[:, self.ai]           # (B, Q, k)
        dy = self.Y[:, None, :, None] - cy[:, :, None, :]
        dx = self.X[:, None, :, None] - cx[:, :, None, :]
        py, ky, wy, ey = _prof1(dy, xp[:, self.wyi][:, None, None, :], xp[:, self.eyi][:, None, None, :])
        px, kx, wx, ex = _prof1(dx, xp[:, self.wxi][:, None, None, :], xp[:, self.exi][:, None, None, :])
        pp = py * px
        a = a[:, :, None, :]
        model = np.einsum("bqnk,bqnk->bqn", a, pp) + xp[:, self.bi][:, :, None]
        if shapes:
            return model, pp
        if not jac:
            return model
        jac_ = np.zeros(model.shape + (self.P,))
        v = self.V[:, None, :, None]
        for q in range(model.shape[1]):
            jq = jac_[:, q]
            aq = a[:, q]
            jq[..., self.cyi[q]] = aq * ky[:, q] * px[:, q]
            jq[..., self.cxi[q]] = aq * py[:, q] * kx[:, q]
            jq[..., self.wyi] = aq * wy[:, q] * px[:, q]
            jq[..., self.wxi] = aq * py[:, q] * wx[:, q]
            jq[..., self.ai[q]] = pp[:, q]
            jq[..., self.eyi] = aq * ey[:, q] * px[:, q]
            jq[..., self.exi] = aq * py[:, q] * ex[:, q]
            jq[..., self.bi[q]] = 1.0
        jac_ *= v
        return model, jac_

    def resid(self, model):
        return (model - self.T) * self.V[:, None, :]

    def to_box(self, arr):
        """Values at the points ``(B, n, ...)`` in each cluster's box ``(B, ny + 1, nx, ...)``."""
        box = np.zeros((arr.shape[0], self.ny + 1, self.nx) + arr.shape[2:])
        box[np.arange(arr.shape[0])[:, None], self.YI, self.XI] = arr
        return box

    def from_box(self, box):
        return box[np.arange(box.shape[0])[:, None], self.YI, self.XI]

    def correlate(self, arr, rho_y, rho_x):
        """``R @ arr`` per cluster: ``arr`` (B, n, ...) at the points, ``R`` the separable
        correlation between them with lag correlations ``rho_y, rho_x`` (B, L) per cluster
        (one convolution per axis in the cluster's box)."""
        box = _lag_convolve(self.to_box(arr), rho_y, 1)
        return self.from_box(_lag_convolve(box, rho_x, 2))


def _lag_convolve(box, rho, axis):
    """Symmetric convolution along ``axis`` with per-cluster lag weights ``rho`` (B, L),
    ``rho[:, 0]`` the weight of lag 0."""
    out = box * rho[:, 0].reshape((-1,) + (1,) * (box.ndim - 1))
    n = box.shape[axis]
    for lag in range(1, min(rho.shape[1], n)):
        w = rho[:, lag]
        if not np.any(w):
            continue
        w = w.reshape((-1,) + (1,) * (box.ndim - 1))
        hi = [slice(None)] * box.ndim
        lo = [slice(None)] * box.ndim
        hi[axis], lo[axis] = slice(lag, None), slice(None, n - lag)
        out[tuple(hi)] += w * box[tuple(lo)]
        out[tuple(lo)] += w * box[tuple(hi)]
    return out


def _normal(jac, r):
    """J^T J (B, P, P) and J^T r (B, P) summed over the planes."""
    b, q_n, n, p = jac.shape
    j2 = jac.reshape(b, q_n * n, p)
    return np.matmul(j2.transpose(0, 2, 1), j2), np.einsum("bnp,bn->bp", j2, r.reshape(b, -1))


def _fixed_solve(h, rhs, fix, damp=None):
    """Solve ``(H + diag(damp)) s = rhs`` per cluster with the ``fix`` parameters held (s = 0)."""
    h = np.where(fix[:, :, None] | fix[:, None, :], 0.0, h)
    d = np.einsum("bii->bi", h)
    scale = np.maximum(d, 1e-12 * np.maximum(d.max(axis=1, keepdims=True), 1e-300))
    add = np.where(fix, 1.0, 1e-12 * scale + (0.0 if damp is None else damp[:, None] * scale))
    hd = h.copy()
    idx = np.arange(h.shape[1])
    hd[:, idx, idx] += add
    rhs = np.where(fix, 0.0, rhs)
    try:
        return np.linalg.solve(hd, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(m, v, rcond=None)[0] for m, v in zip(hd, rhs)])


def _batch_lm(bt, xp, lo, hi, free, max_iter):
    """Bounded Levenberg-Marquardt on one batch: Marquardt scaling, steps projected on the
    bounds, parameters on a bound that the gradient pushes against held; every cluster has
    its own damping, accepts or rejects its own steps and stops on its own (the Gauss-Newton
    decrement under 1e-4 chi-square, or damping that keeps failing)."""
    b = len(xp)
    span = np.where(np.isfinite(lo) & np.isfinite(hi), hi - lo, 1.0)
    tiny = 1e-9 * span
    lam = np.full(b, 1e-3)
    r = bt.resid(bt.evaluate(xp, jac=False))
    cost = np.einsum("bqn,bqn->b", r, r)
    active = np.ones(b, bool)
    cur = bt
    ia = np.arange(b)
    for _ in range(max_iter):
        if len(ia) != active.sum():
            ia = np.nonzero(active)[0]
            cur = bt.sub(ia)
        x = xp[ia]
        model, jac = cur.evaluate(x)
        h, g = _normal(jac, cur.resid(model))
        l_, h_ = lo[ia], hi[ia]
        fix = ~free[ia] | ((x <= l_ + tiny[ia]) & (g > 0)) | ((x >= h_ - tiny[ia]) & (g < 0))
        gn = _fixed_solve(h, -g, fix)
        dec = -np.einsum("bp,bp->b", g, gn)          # the cost Gauss-Newton would still remove
        step = _fixed_solve(h, -g, fix, lam[ia])
        xt = np.clip(x + step, l_, h_)
        rt = cur.resid(cur.evaluate(xt, jac=False))
        ct = np.einsum("bqn,bqn->b", rt, rt)
        better = ct < cost[ia]
        xp[ia] = np.where(better[:, None], xt, x)
        cost[ia] = np.where(better, ct, cost[ia])
        lam[ia] = np.where(better, np.maximum(lam[ia] * 0.3, 1e-9), lam[ia] * 10.0)
        done = (dec < 1e-4) | (lam[ia] > 1e8) | (better & (np.abs(xt - x).max(axis=1) == 0))
        active[ia[done]] = False
        if not active.any():
            break
    return xp


def _batch_cov(bt, xp, lo, hi, free, holdable, rho_y, rho_x, rss, noise_var=1.0, ridge=None):
    """The parts of each cluster's parameter covariance (noise units) that
    :func:`_finish_cov` scales, and the residual variance
    ``s^2 = RSS / (n - tr(H^-1 J^T R J))`` (noise units).

    The sandwich ``H^-1 J^T S J H^-1 k``: ``R`` the noise correlation (lags ``rho_y``,
    ``rho_x`` per cluster), ``S = noise_var R`` plus, with ``ridge = (tau2, rho_t, f)``, the
    t1 noise ``tau2 rho_t(y - y') f(x) f(x')`` (:func:`_ridge_stats`), and ``k`` the ratio of
    the RSS to its expectation under ``S``, ``E = tr((I - P) S) = noise_var dof + A``
    (``dof = n - tr(H^-1 J^T R J)``, ``A`` the t1 noise's part; 1 where ``S`` explains the
    residual; without t1 noise ``k S = s^2 R``).

    Returns
    -------
    dict
        ``base = H^-1 J^T S J H^-1 / E`` (B, P, P), ``rss``, ``A``, ``dof``, ``s2`` (B,) and
        what the bounds need (``xp, lo, hi, e``: the free ``holdable`` parameters, the
        Lorentzian fractions, kept within their bounds by :func:`_bounded_posterior`).
    """
    model, jac = bt.evaluate(xp)
    h, g = _normal(jac, bt.resid(model))
    fix = ~free
    hf = np.where(fix[:, :, None] | fix[:, None, :], 0.0, h)
    idx = np.arange(hf.shape[1])
    hf[:, idx, idx] += fix
    hinv = np.linalg.pinv(hf, rcond=1e-12, hermitian=True)
    hinv = np.where(fix[:, :, None] | fix[:, None, :], 0.0, hinv)
    q_n = jac.shape[1]
    if not (np.any(rho_y[:, 1:]) or np.any(rho_x[:, 1:])):        # white noise
        meat = np.where(fix[:, :, None] | fix[:, None, :], 0.0, h)
    else:
        jt = jac.transpose(0, 2, 1, 3)                               # (B, n, Q, P)
        rj = bt.correlate(jt, rho_y, rho_x)
        meat = np.einsum("bnqp,bnqr->bpr", jt, rj)
        meat = (meat + meat.transpose(0, 2, 1)) / 2
    dof = np.maximum(bt.n * q_n - np.einsum("bpr,brp->b", hinv, meat), 1.0)
    s2 = rss / dof
    extra = np.zeros(len(rss))
    if ridge is not None and np.any(ridge[0] > 0):
        tau2, rho_t, fx = ridge
        # t1 noise is the same along a row: the rows' sums of f J, correlated between rows
        rows = bt.to_box((jac * fx[:, None, :, None]).transpose(0, 2, 1, 3)).sum(axis=2)
        mr = np.einsum("byqp,byqr->bpr", rows, _lag_convolve(rows, rho_t, 1))
        mr = (mr + mr.transpose(0, 2, 1)) / 2
        meat = noise_var * meat + tau2[:, None, None] * mr
        extra = tau2 * (q_n * np.sum(fx * fx, axis=1) - np.einsum("bpr,brp->b", hinv, mr))
        expect = noise_var * dof + extra
    else:
        meat = noise_var * meat
        expect = noise_var * dof
    base = hinv @ meat @ hinv / np.maximum(expect, 1e-300)[:, None, None]
    return dict(base=base, rss=np.asarray(rss, float), A=extra, dof=dof, s2=s2, xp=xp, lo=lo, hi=hi,
                e=np.nonzero(holdable[0] & free[0])[0])


def _finish_cov(parts, floor=None, absolute=None):
    """Covariances (B, P, P) from :func:`_batch_cov`'s parts: ``base`` times the RSS, the RSS
    at least ``A + floor dof`` (its expectation for a noise variance ``floor``, noise units)
    where a floor is given (:func:`_pooled_variance`). With ``absolute`` (a noise variance,
    noise units) the noise's covariance alone: its correlation, ``A + absolute dof``, whatever
    the residual (``absolute_sigma``)."""
    if absolute is not None:
        cov = parts["base0"] * (parts["A0"] + absolute * parts["dof0"])[:, None, None]
    else:
        scale = parts["rss"] if floor is None else np.maximum(parts["rss"], parts["A"] + floor * parts["dof"])
        cov = parts["base"] * scale[:, None, None]
    if len(parts["e"]):
        cov = _bounded_posterior(cov, parts["xp"], parts["lo"], parts["hi"], parts["e"])
    return cov


#: Fewest clusters for a pooled residual variance (:func:`_pooled_variance`).
POOL_MIN_CLUSTERS = 10


def _pooled_variance(s2, dof, noise_var, height):
    """The floor of the clusters' residual variance (noise units): the median ``s^2`` of the
    clusters whose strongest peak is among the weakest third (``height``, one per cluster),
    at most the measured ``noise_var``; ``None`` with fewer than :data:`POOL_MIN_CLUSTERS`
    clusters.

    A cluster of few points (or strongly correlated noise: few independent ones) states
    ``s^2`` with few degrees of freedom; where it happens to fall low, its errors would too
    (a Student-t, not a Gaussian, spread of the errors over their stated values). The
    pooled value is a noise variance measured on many points after the peaks were removed.
    What the model misses grows with the peaks (t1 noise, a shape the model lacks: the
    median cluster of a realistic synthetic spectrum reads 1.5-3.7 times the noise), the
    noise does not: the weakest clusters' residual is the noise's. (The quiet squares of
    :func:`noise_variance` hold weak t1 ridges and tails in crowded spectra: there they read
    1.2-2 times the true variance.)"""
    s2, h = np.asarray(s2, float), np.asarray(height, float)
    ok = np.isfinite(s2) & np.isfinite(h) & (np.asarray(dof, float) >= 2)
    if ok.sum() < POOL_MIN_CLUSTERS:
        return None
    weak = ok & (h <= np.quantile(h[ok], 1.0 / 3.0))
    return float(min(np.median(s2[weak]), noise_var))


#: t1 noise enters a cluster's errors when its estimated variance exceeds this many of its
#: standard errors under noise alone.
RIDGE_SIGMAS = 3.0


def _ridge_stats(bt, xp, resid, noise_var, rho_x, rho_y, max_lag=4):
    # rho_x, rho_y: (B, L) the noise's lag correlations per cluster
    """t1 noise (ridges along the indirect axis at the direct-axis positions of strong
    peaks, proportional to them) in each cluster's residual (one plane).

    The residual of each row is projected on the cluster's direct-axis profile ``f(x)``
    (the peaks' x-profiles weighted by their heights, maximum 1): ``t(y) = sum r f / sum f^2``.
    Over the rows through the peaks (``sum f^2`` at least half its largest), the mean of
    ``t^2`` less its expectation under the noise (``noise_var f^T R_x f / (f^T f)^2``) is
    the t1-noise variance ``tau2``, kept where above :data:`RIDGE_SIGMAS` of its standard
    error under noise alone; its lag correlations along the rows are ``rho_t``.

    Returns
    -------
    tau2 (B,), rho_t (B, 1 + max_lag), f (B, n)
    """
    b, n = bt.X.shape
    cx, wx, ex = xp[:, bt.cxi[0]], xp[:, bt.wxi], xp[:, bt.exi]
    a = np.abs(xp[:, bt.ai[0]])
    px = profile(bt.X[:, :, None], cx[:, None, :], wx[:, None, :], ex[:, None, :])
    f = np.einsum("bnk,bk->bn", px, a) * bt.V
    f /= np.maximum(f.max(axis=1, keepdims=True), 1e-300)
    r = resid[:, 0] * bt.V
    fb, rb = bt.to_box(f), bt.to_box(r)
    sff = np.sum(fb * fb, axis=2)[:, :-1]                          # per row (spare row dropped)
    srf = np.sum(rb * fb, axis=2)[:, :-1]
    quad = np.sum(fb * _lag_convolve(fb, rho_x, 2), axis=2)[:, :-1]   # f^T R_x f within the row
    core = sff >= 0.5 * sff.max(axis=1, keepdims=True)
    t = np.where(core, srf / np.maximum(sff, 1e-300), 0.0)
    v = np.where(core, noise_var * quad / np.maximum(sff, 1e-150) ** 2, 0.0)
    m = np.maximum(core.sum(axis=1), 1)
    vy = 1.0 + 2.0 * np.sum(rho_y[:, 1:] ** 2, axis=1)   # rows' noise correlated: fewer independent rows
    tau2 = np.sum(t * t - v, axis=1) / m
    sd = np.sqrt(2.0 * vy * np.sum(v * v, axis=1)) / m
    tau2 = np.where(tau2 > RIDGE_SIGMAS * sd, tau2, 0.0)
    rho_t = np.zeros((b, 1 + max_lag))
    rho_t[:, 0] = 1.0
    ok = tau2 > 0
    for lag in range(1, max_lag + 1):
        both = core[:, lag:] & core[:, :-lag]
        cnt = both.sum(axis=1)
        rn = rho_y[:, lag:lag + 1] if lag < rho_y.shape[1] else 0.0
        c = np.sum(np.where(both, t[:, lag:] * t[:, :-lag] - rn * np.sqrt(v[:, lag:] * v[:, :-lag]), 0.0),
                   axis=1) / np.maximum(cnt, 1)
        rl = np.clip(c / np.maximum(tau2, 1e-300), 0.0, 0.999)
        ok &= (cnt > 2) & (rl >= 0.05) & (rl <= rho_t[:, lag - 1])
        rho_t[:, lag] = np.where(ok, rl, 0.0)
    return tau2, rho_t, f


def _bounded_posterior(cov, xp, lo, hi, e):
    """The covariance with the parameters ``e`` (the Lorentzian fractions) known to lie
    within their bounds: each one's Gaussian N(value, var) truncated to its bounds gives its
    variance (smaller near or on a bound, at most that of a uniform over the range); the
    other parameters keep theirs, those of the joint fit (the bound tells nothing about a
    width that the data do not: carrying the truncation over to the widths, by their
    regression on the fractions, made the widths' errors too small where the truth sits on a
    bound, a Gaussian or a Lorentzian: 55-63 % of the truths within one error)."""
    from scipy.special import ndtr
    sd = np.sqrt(np.maximum(np.einsum("bii->bi", cov)[:, e], 1e-300))
    m, a, b = xp[:, e], lo[:, e], hi[:, e]
    al, be = (a - m) / sd, (b - m) / sd
    phi = lambda t: np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
    z = np.maximum(ndtr(be) - ndtr(al), 1e-12)
    var = 1.0 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2
    f = np.sqrt(np.clip(var, 0.0, 1.0))               # truncated over full standard deviation
    d = np.ones(cov.shape[:2])
    d[:, e] = f
    return cov * d[:, :, None] * d[:, None, :]


def _batches(prob, which):
    """The clusters ``which`` of a problem cut into :class:`_Batch` es: by number of peaks,
    then by number of points (padding at most a quarter)."""
    which = [gi for gi in which if prob.col_start[gi + 1] > prob.col_start[gi]]
    npk = np.array([len(prob.groups[gi]) for gi in which])
    npts = np.array([prob.npts[gi] for gi in which])
    out = []
    for k in np.unique(npk):
        sel = np.array(which)[npk == k]
        sel = sel[np.argsort(npts[npk == k], kind="stable")]
        start = 0
        while start < len(sel):
            n0 = prob.npts[sel[start]]
            end = start + 1
            while (end < len(sel) and end - start < _BATCH_MAX and prob.npts[sel[end]] <= 1.25 * n0 + 8
                   and (end - start + 1) * prob.npts[sel[end]] ** 2 <= _BATCH_CELLS):
                end += 1
            out.append(_Batch(prob, sel[start:end]))
            start = end
    return out


class _Problem:
    """Clusters of peaks fitted together as one sparse, bounded least-squares problem.

    Every cluster has its own rows (its points, once per plane) and its own
    columns, so the Jacobian is block diagonal; ``least_squares`` (trf, lsmr)
    solves all blocks at once and the model and Jacobian are evaluated for all
    (point, peak) pairs in one vectorised pass.

    Parameters per peak: FWHH y, x and eta y, x (shared by the planes), centre
    y, x (shared, or one per plane with ``free_pos``), one height per plane;
    per cluster one offset per plane.
    """

    def __init__(self, planes, groups, cen, wid, amp, eta, ref_cen, ref_wid, sign, region, *,
                 shape, margin, baseline, free_pos=False, bound_sign=True, offset=None):
        q_n, n1, n2 = planes.shape
        npk = len(wid)
        self.q_n, self.groups = q_n, groups
        ry, rx, rq, rg, pr, pk = [], [], [], [], [], []
        col = {k: np.zeros((npk, q_n), int) for k in ("cy", "cx", "a")}
        col.update({k: np.zeros(npk, int) for k in ("wy", "wx", "ey", "ex")})
        col_b = np.zeros((len(groups), q_n), int)
        self.row_start, self.col_start, self.npts = [0], [0], []
        nrow = ncol = 0
        for gi, g in enumerate(groups):
            gr = g[region[g]] if np.any(region[g]) else g
            rc, rw = ref_cen[gr], ref_wid[gr]
            rad = (0.5 + margin) * rw + 1.0
            y0 = max(int(np.floor((rc[:, 0] - rad[:, 0]).min())), 0)
            y1 = min(int(np.ceil((rc[:, 0] + rad[:, 0]).max())) + 1, n1)
            x0 = max(int(np.floor((rc[:, 1] - rad[:, 1]).min())), 0)
            x1 = min(int(np.ceil((rc[:, 1] + rad[:, 1]).max())) + 1, n2)
            ty, tx = np.arange(y0, y1), np.arange(x0, x1)
            dy = (ty[None, :, None] - rc[:, 0, None, None]) / rad[:, 0, None, None]
            dx = (tx[None, None, :] - rc[:, 1, None, None]) / rad[:, 1, None, None]
            yy, xx = np.nonzero(np.any(dy * dy + dx * dx <= 1.0, axis=0))
            if len(yy) == 0:     # a peak outside the array: its nearest point
                yy, xx = np.array([min(max(y0, 0), n1 - 1) - y0]), np.array([min(max(x0, 0), n2 - 1) - x0])
            yy, xx = yy + y0, xx + x0
            n = len(yy)
            self.npts.append(n)
            ry.append(np.tile(yy, q_n))
            rx.append(np.tile(xx, q_n))
            rq.append(np.repeat(np.arange(q_n), n))
            rg.append(np.full(n * q_n, gi))
            rows = nrow + np.arange(n * q_n)
            pr.append(np.repeat(rows, len(g)))
            pk.append(np.tile(g, n * q_n))
            nrow += n * q_n
            self.row_start.append(nrow)
            for k in g:
                for j, name in enumerate(("wy", "wx", "ey", "ex")):
                    col[name][k] = ncol + j
                ncol += 4
                if free_pos:
                    col["cy"][k] = ncol + 2 * np.arange(q_n)
                    col["cx"][k] = ncol + 1 + 2 * np.arange(q_n)
                    ncol += 2 * q_n
                else:
                    col["cy"][k], col["cx"][k] = ncol, ncol + 1
                    ncol += 2
                col["a"][k] = ncol + np.arange(q_n)
                ncol += q_n
            col_b[gi] = ncol + np.arange(q_n)
            ncol += q_n
            self.col_start.append(ncol)
        self.ry, self.rx = np.concatenate(ry).astype(float), np.concatenate(rx).astype(float)
        self.rq, self.rg = np.concatenate(rq), np.concatenate(rg)
        self.pr, self.pk = np.concatenate(pr), np.concatenate(pk)
        self.nrow, self.ncol, self.col, self.col_b = nrow, ncol, col, col_b
        self.target = planes[self.rq, self.ry.astype(int), self.rx.astype(int)].astype(float)
        # values and bounds of every column (peaks of these groups only)
        ks = np.concatenate(groups)
        full, lo, hi = np.zeros(ncol), np.full(ncol, -np.inf), np.full(ncol, np.inf)
        free = np.ones(ncol, bool)
        # centres within CENTRE_REACH FWHH (a point at least) of the start; free per-plane
        # ones (titrations) farther
        dc = np.maximum(2.0, 1.5 * ref_wid[ks]) if free_pos else np.maximum(1.0, CENTRE_REACH * ref_wid[ks])
        for a, name in enumerate(("cy", "cx")):
            c = col[name][ks]
            full[c] = cen[ks, :, a] if free_pos else cen[ks, :1, a]
            lo[c] = (ref_cen[ks, a] - dc[:, a])[:, None]
            hi[c] = (ref_cen[ks, a] + dc[:, a])[:, None]
        for a, name in enumerate(("wy", "wx")):
            c = col[name][ks]
            full[c] = wid[ks, a]
            lo[c] = np.maximum(0.3, ref_wid[ks, a] / 3.0)
            hi[c] = 3.0 * ref_wid[ks, a] + 2.0
        for a, name in enumerate(("ey", "ex")):
            c = col[name][ks]
            full[c] = eta[ks, a]
            lo[c], hi[c] = 0.0, 1.0
            free[c] = shape == "pseudo-voigt"
        c = col["a"][ks]
        full[c] = amp[ks]
        if bound_sign:        # sign +1: height >= 0, -1: <= 0, 0: free
            lo[c] = np.where(sign[ks] > 0, 0.0, -np.inf)[:, None]
            hi[c] = np.where(sign[ks] < 0, 0.0, np.inf)[:, None]
        full[col_b] = 0.0 if offset is None else offset
        free[col_b] = baseline
        self.full, self.lo, self.hi, self.free = full, lo, hi, free
        # the Lorentzian fractions' bounds are the model's own (0..1, the truth can sit on
        # them): one held on its bound leaves the covariance; the other bounds only keep the
        # search near the picks and leave it alone
        self.holdable = np.zeros(ncol, bool)
        self.holdable[np.r_[col["ey"][ks], col["ex"][ks]]] = True
        # the Jacobian's structure: 7 entries per (point, peak) pair and one per offset
        q = self.rq[self.pr]
        self.pq = q
        cols = np.stack([col["cy"][self.pk, q], col["cx"][self.pk, q], col["wy"][self.pk],
                         col["wx"][self.pk], col["a"][self.pk, q], col["ey"][self.pk],
                         col["ex"][self.pk]], 1)
        fidx = np.cumsum(free) - 1
        self.fidx = np.where(free, fidx, -1)
        fc = self.fidx[cols]
        self.keep = fc >= 0
        bcol = self.fidx[col_b[self.rg, self.rq]]
        bkeep = bcol >= 0
        rows = np.r_[np.repeat(self.pr, 7).reshape(-1, 7)[self.keep], np.arange(nrow)[bkeep]]
        cols_f = np.r_[fc[self.keep], bcol[bkeep]]
        self.n_b = int(bkeep.sum())
        self.bkeep = bkeep
        self.e_rows, self.e_cols = rows, cols_f
        self.nfree = int(free.sum())

    def evaluate(self, full, jac=True):
        """Model at all rows and (optionally) the Jacobian (free columns, CSR)."""
        if getattr(self, "_all", None) is None:
            self._all = self._subset(np.ones(len(self.groups), bool))
        return self._eval_sub(full, self._all, jac)

    def init_heights(self):
        """Start heights (and offsets) by linear least squares on the start shapes, per
        cluster and plane, keeping each height's sign bound (overlapping peaks would
        otherwise start with their summed heights, and a height driven to 0 takes its
        centre's and widths' gradients with it). All clusters of a batch are solved at
        once; a solution off its sign bound is solved again by bounded least squares."""
        from scipy.optimize import lsq_linear
        full = self.full
        for bt in _batches(self, range(len(self.groups))):
            xp = full[bt.G]
            _, pp = bt.evaluate(xp, shapes=True)                      # (B, Q, n, k)
            b, q_n, n, k = pp.shape
            bfree = self.free[bt.G[:, bt.bi]]                         # (B, Q)
            v = bt.V[:, None, :].astype(float)
            design = np.concatenate([pp * v[..., None], (v * bfree[:, :, None])[..., None]], axis=3)
            target = (bt.T - np.where(bfree, 0.0, xp[:, bt.bi])[:, :, None]) * v
            m = np.einsum("bqnk,bqnl->bqkl", design, design)
            rhs = np.einsum("bqnk,bqn->bqk", design, target)
            m[..., k, k] += ~bfree
            idx = np.arange(k + 1)
            m[..., idx, idx] += 1e-12 * np.maximum(np.einsum("bqii->bqi", m).max(axis=2, keepdims=True), 1e-300)
            try:
                sol = np.linalg.solve(m, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                sol = np.stack([[np.linalg.lstsq(mm, rr, rcond=None)[0] for mm, rr in zip(m_, r_)]
                                for m_, r_ in zip(m, rhs)])
            acol = bt.G[:, bt.ai]                                     # (B, Q, k)
            lo, hi = self.lo[acol], self.hi[acol]
            bad = np.any((sol[..., :k] < lo) | (sol[..., :k] > hi) | ~np.isfinite(sol[..., :k]), axis=2)
            for i, q in zip(*np.nonzero(bad)):
                nn = bt.n[i]
                a = design[i, q, :nn] if bfree[i, q] else design[i, q, :nn, :k]
                lb = np.r_[lo[i, q], -np.inf][:a.shape[1]]
                ub = np.r_[hi[i, q], np.inf][:a.shape[1]]
                try:
                    s_ = lsq_linear(a, target[i, q, :nn], bounds=(lb, ub), method="bvls").x
                except (ValueError, np.linalg.LinAlgError):
                    s_ = np.r_[np.clip(xp[i, bt.ai[q]], lo[i, q], hi[i, q]), xp[i, bt.bi[q]]]
                sol[i, q, :len(s_)] = s_
            sol[..., :k] = np.clip(sol[..., :k], lo, hi)
            full[acol] = sol[..., :k]
            bcol = bt.G[:, bt.bi]
            full[bcol] = np.where(bfree, sol[..., k], full[bcol])

    def own(self, full):
        """The peaks' signal at the rows (no offsets)."""
        return self.evaluate(full, jac=False)[0] - full[self.col_b[self.rg, self.rq]]

    def solve(self, max_nfev=100, method="lm"):
        """Fit: ``'lm'`` the batched bounded Levenberg-Marquardt over all clusters at once,
        ``'least_squares'`` scipy's trust-region reflective solver, cluster by cluster."""
        span = np.where(np.isfinite(self.lo) & np.isfinite(self.hi), self.hi - self.lo, 1.0)
        inside = np.clip(self.full, np.where(np.isfinite(self.lo), self.lo + 1e-9 * span, -np.inf),
                         np.where(np.isfinite(self.hi), self.hi - 1e-9 * span, np.inf))
        self.full = np.where(self.free, inside, self.full)
        if method == "lm":
            for bt in _batches(self, range(len(self.groups))):
                self.full[bt.G] = _batch_lm(bt, self.full[bt.G], self.lo[bt.G], self.hi[bt.G],
                                            self.free[bt.G], max_nfev)
        elif self.free.any():
            x = self.full[self.free].copy()
            self.full[self.free] = self._least_squares(x, self.lo[self.free], self.hi[self.free], max_nfev)
        r = self.evaluate(self.full, jac=False)[0] - self.target
        self.resid = r
        g_n = len(self.groups)
        self.rss = np.bincount(self.rg, r * r, minlength=g_n)
        self.n = np.bincount(self.rg, minlength=g_n)
        self.p = np.diff(self._fstart())
        return self

    def _fstart(self):
        """Start of each cluster's free columns (and the end)."""
        nf = np.r_[0, np.cumsum(self.free)]
        return nf[np.asarray(self.col_start)]

    def _subset(self, active):
        """Index arrays of the rows, pairs and Jacobian entries of the active clusters."""
        on_row = active[self.rg]
        rows = np.nonzero(on_row)[0]
        rmap = np.full(self.nrow, -1)
        rmap[rows] = np.arange(len(rows))
        psel = on_row[self.pr]
        pidx = np.nonzero(psel)[0]
        ent = np.r_[np.repeat(psel, 7).reshape(-1, 7)[self.keep], on_row[self.bkeep]]
        return dict(rows=rows, pidx=pidx, prl=rmap[self.pr[pidx]], keep=self.keep[pidx],
                    e_rows=rmap[self.e_rows[ent]], e_cols=self.e_cols[ent],
                    nb=int(on_row[self.bkeep].sum()))

    def _eval_sub(self, full, sub, jac=True):
        """Model and Jacobian on the rows of :meth:`_subset` (rows renumbered from 0)."""
        from scipy.sparse import csr_matrix
        c = self.col
        pi = sub["pidx"]
        pr, pk, q = self.pr[pi], self.pk[pi], self.pq[pi]
        dy = self.ry[pr] - full[c["cy"][pk, q]]
        dx = self.rx[pr] - full[c["cx"][pk, q]]
        py, ky, wy, ey = _prof1(dy, full[c["wy"][pk]], full[c["ey"][pk]])
        px, kx, wx, ex = _prof1(dx, full[c["wx"][pk]], full[c["ex"][pk]])
        a = full[c["a"][pk, q]]
        pp = py * px
        rows = sub["rows"]
        model = np.bincount(sub["prl"], a * pp, minlength=len(rows)) + \
            full[self.col_b[self.rg[rows], self.rq[rows]]]
        if not jac:
            return model, None
        vals = np.stack([a * ky * px, a * py * kx, a * wy * px, a * py * wx, pp, a * ey * px,
                         a * py * ex], 1)
        data = np.r_[vals[sub["keep"]], np.ones(sub["nb"])]
        return model, csr_matrix((data, (sub["e_rows"], sub["e_cols"])), shape=(len(rows), self.nfree))

    def _least_squares(self, x, lo, hi, max_nfev):
        """scipy.optimize.least_squares (trf, exact) cluster by cluster."""
        from scipy.optimize import least_squares
        fs = self._fstart()
        full = self.full.copy()
        for gi in range(len(self.groups)):
            f0, f1 = fs[gi], fs[gi + 1]
            r0, r1 = self.row_start[gi], self.row_start[gi + 1]
            if f1 == f0:
                continue

            def fun(xg, f0=f0, f1=f1, r0=r0, r1=r1):
                x[f0:f1] = xg
                full[self.free] = x
                return (self.evaluate(full, jac=False)[0] - self.target)[r0:r1]

            def jac(xg, f0=f0, f1=f1, r0=r0, r1=r1):
                x[f0:f1] = xg
                full[self.free] = x
                return self.evaluate(full)[1][r0:r1, f0:f1].toarray()

            res = least_squares(fun, x[f0:f1].copy(), jac=jac, bounds=(lo[f0:f1], hi[f0:f1]),
                                method="trf", x_scale="jac", max_nfev=max_nfev)
            x[f0:f1] = res.x
        return x

    def bic(self):
        n = np.maximum(self.n, 1)
        return n * np.log(np.maximum(self.rss, 1e-300) / n) + self.p * np.log(n)

    def cov_parts(self, rho_y, rho_x, which=None, noise_var=1.0):
        """:func:`_batch_cov`'s parts per batch of the clusters ``which`` (default all): a
        list of (cluster indices, parts). Clusters whose residual variance exceeds
        :data:`MISFIT_CHI2` times the noise's (``noise_var``, noise units) take their
        residual's own correlation where larger than the noise's."""
        which = list(range(len(self.groups)) if which is None else which)
        out = []
        lag = 1 + 8
        for bt in _batches(self, which):
            b = len(bt.gis)
            xp, lo, hi, free = self.full[bt.G], self.lo[bt.G], self.hi[bt.G], self.free[bt.G]
            hold = self.holdable[bt.G]
            rss = self.rss[bt.gis]
            ry = np.zeros((b, lag))
            rx = np.zeros((b, lag))
            ry[:, :min(len(rho_y), lag)] = rho_y[:lag]
            rx[:, :min(len(rho_x), lag)] = rho_x[:lag]
            ridge = None
            if self.q_n == 1:
                ridge = _ridge_stats(bt, xp, bt.resid(bt.evaluate(xp, jac=False)), noise_var, rx, ry)
            parts = _batch_cov(bt, xp, lo, hi, free, hold, ry, rx, rss, noise_var, ridge)
            # the noise's own (before the misfit's correlation replaces it below)
            parts.update(base0=parts["base"].copy(), dof0=parts["dof"].copy(), A0=parts["A"].copy())
            # (a series: any excess, for the misfit part of the heights, :func:`_plane_misfit_cov`)
            mis = np.nonzero(parts["s2"] > (MISFIT_CHI2 if self.q_n == 1 else 1.0) * noise_var)[0]
            if len(mis):
                # misfit (shapes the model lacks, others' ridges) dominates the residual: its own
                # correlation, where larger than the noise's, enters the errors
                for i in mis:
                    rows = bt.rows[i]
                    a, c = _residual_correlation(self.ry[rows], self.rx[rows], self.rq[rows],
                                                 self.resid[rows], rho_y, rho_x)
                    ry[i], rx[i] = 0.0, 0.0
                    ry[i, :len(a)], rx[i, :len(c)] = a, c
                sb = bt.sub(mis)
                rmis = None if ridge is None else tuple(x_[mis] for x_ in ridge)
                pm = _batch_cov(sb, xp[mis], lo[mis], hi[mis], free[mis], hold[mis], ry[mis],
                                rx[mis], rss[mis], noise_var, rmis)
                for k in ("base", "rss", "A", "dof", "s2"):
                    parts[k][mis] = pm[k]
            out.append((bt.gis, parts))
        return out

    def covariances(self, rho_y, rho_x, which=None, noise_var=1.0, floor=None, parts=None, absolute=None):
        """Per cluster (``which``, default all): (full column indices, covariance of those
        columns, residual variance in noise units); ``floor`` and ``absolute`` as
        :func:`_finish_cov` takes them, ``parts`` those of :meth:`cov_parts` (computed when
        not given)."""
        which = list(range(len(self.groups)) if which is None else which)
        if parts is None:
            parts = self.cov_parts(rho_y, rho_x, which, noise_var)
        out = {}
        for gis, pt in parts:
            cov = _finish_cov(pt, floor, absolute)
            for i, gi in enumerate(gis):
                out[gi] = (np.arange(self.col_start[gi], self.col_start[gi + 1]), cov[i], pt["s2"][i])
        for gi in which:
            if gi not in out:           # a cluster without free parameters
                c0, c1 = self.col_start[gi], self.col_start[gi + 1]
                out[gi] = (np.arange(c0, c1), np.zeros((c1 - c0, c1 - c0)), 0.0)
        return [out[gi] for gi in which]


def _fit_clusters(centre, fwhh, reach=1.0, given=None):
    """Cluster ids of peaks (0-based): peaks closer than ``reach`` mean FWHH (1: half-height
    ellipses that touch), joined with the clusters ``given`` (ids, e.g. the picker's)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    k = len(centre)
    if k < 2:
        return np.zeros(k, int)
    pairs = cKDTree(centre).query_pairs(r=reach * float(np.max(fwhh)) + 1e-9, output_type="ndarray")
    if len(pairs):
        dd = np.abs(centre[pairs[:, 0]] - centre[pairs[:, 1]])
        w = (fwhh[pairs[:, 0]] + fwhh[pairs[:, 1]]) / 2
        pairs = pairs[np.sum((dd / w) ** 2, axis=1) <= reach * reach]
    pairs = pairs.reshape(-1, 2)
    if given is not None:
        order = np.argsort(given, kind="stable")
        same = given[order][1:] == given[order][:-1]
        pairs = np.vstack([pairs, np.column_stack([order[:-1][same], order[1:][same]])])
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    return connected_components(g, directed=False)[1]


#: A fitted centre stays within this many of its start's FWHH (a point at least) of it. The two
#: members of a blend closer than one FWHH lie up to half their FWHH either side of the pick,
#: which is wider than they are and off by its own error: at half the pick's FWHH they meet
#: the bound, and a centre held there has an error that does not reach its truth.
CENTRE_REACH = 0.75

#: Picks closer than this many mean FWHH are fitted together even when the picker put them in
#: different clusters (their fit regions overlap by most of a half width).
JOIN_FWHH = 1.5


def _render(shape, cen, wid, amp, eta, peaks, level=0.5):
    """Image (Q, N1, N2) of the given peaks (noise units), each drawn out to where it
    falls below ``level``."""
    q_n = amp.shape[1]
    out = np.zeros((q_n,) + tuple(shape))
    for k in peaks:
        a = float(np.max(np.abs(amp[k])))
        if a <= level:
            continue
        # a Lorentzian falls to level/a at d = w/2 sqrt(a/level - 1)
        reach = 0.5 * np.sqrt(a / level) + 2.0
        for q in range(q_n):
            c = cen[k, q]
            y0 = max(int(c[0] - reach * wid[k, 0]), 0)
            y1 = min(int(c[0] + reach * wid[k, 0]) + 2, shape[0])
            x0 = max(int(c[1] - reach * wid[k, 1]), 0)
            x1 = min(int(c[1] + reach * wid[k, 1]) + 2, shape[1])
            if y1 <= y0 or x1 <= x0:
                continue
            py = profile(np.arange(y0, y1), c[0], wid[k, 0], eta[k, 0])
            px = profile(np.arange(x0, x1), c[1], wid[k, 1], eta[k, 1])
            out[q, y0:y1, x0:x1] += amp[k, q] * np.outer(py, px)
    return out


#: Clusters are fitted together where a peak of each reaches into the other's fit region:
#: ``p_ik p_ki`` at least this (:func:`_coupled`). Each fit is then biased by the other's signal,
#: and their separate fits, each refitted with the other subtracted, converge slowly (by that
#: product per round): a strong Lorentzian 1.6 FWHH from another was fitted 14 % low and 0.4
#: point off, with a CHI2_RED of 13400 after one round (81 after six; 13 fitted together).
JOIN_COUPLING = 0.03

#: Rounds of the neighbours' refit (``refit_neighbours``): each cluster refitted with the
#: other clusters' fitted signal in its region subtracted, that signal from the round before
#: (after the first, only where it moved by 1 noise or more). Where clusters reach far into
#: each other they are joined (:data:`JOIN_COUPLING`); a third round changed the fit
#: benchmark's errors by a few per cent, for a fifth more time.
NEIGHBOUR_ROUNDS = 2


def _coupled(groups, centre, fwhh, margin, level=JOIN_COUPLING):
    """Groups joined where two peaks of different groups reach into each other's fit region:
    ``p_ik p_ki >= level``, ``p_ik`` the profile of ``k`` (pseudo-Voigt, fraction 0.5, unit
    height) at the point of ``i``'s region (the ellipse of :class:`_Problem`, semi-axes
    ``(0.5 + margin) FWHH + 1``) on the line between them, 1 where ``k`` lies inside it.
    The product is the fraction of each one's bias that the other's separate fit returns to
    it (heights cancel), whatever their heights."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree
    if len(groups) < 2:
        return groups
    gid = np.full(len(centre), -1)
    for g, members in enumerate(groups):
        gid[members] = g
    semi = (0.5 + margin) * fwhh + 1.0
    pairs = cKDTree(centre).query_pairs(r=4.0 * float(np.max(semi)), output_type="ndarray").reshape(-1, 2)
    pairs = pairs[(gid[pairs[:, 0]] >= 0) & (gid[pairs[:, 1]] >= 0) & (gid[pairs[:, 0]] != gid[pairs[:, 1]])]
    if not len(pairs):
        return groups
    i, j = pairs[:, 0], pairs[:, 1]
    d = centre[j] - centre[i]

    def reach(a, b, dd):        # profile of b at a's region, towards b
        rho = np.sqrt(np.sum((dd / semi[a]) ** 2, axis=1))
        rest = dd * np.clip(1.0 - 1.0 / np.maximum(rho, 1e-12), 0.0, None)[:, None]
        return profile(rest[:, 0], 0.0, fwhh[b, 0], 0.5) * profile(rest[:, 1], 0.0, fwhh[b, 1], 0.5)
    join = reach(i, j, d) * reach(j, i, -d) >= level
    gp = np.column_stack([gid[i[join]], gid[j[join]]])
    if not len(gp):
        return groups
    n = len(groups)
    g = coo_matrix((np.ones(len(gp)), (gp[:, 0], gp[:, 1])), shape=(n, n))
    lab = connected_components(g, directed=False)[1]
    return [np.sort(np.concatenate([groups[q] for q in np.nonzero(lab == c)[0]])) for c in range(lab.max() + 1)]


class _State:
    """Peak tables (noise units) and, per cluster, the problem that holds its fit."""

    def __init__(self, cen, wid, amp, eta, sign, groups, q_n):
        self.cen, self.wid, self.amp, self.eta, self.sign = cen, wid, amp, eta, sign
        self.ref_cen, self.ref_wid = cen[:, 0].copy(), wid.copy()
        self.region = np.ones(len(wid), bool)
        self.added = np.zeros(len(wid), bool)
        self.split = np.zeros(len(wid), bool)
        self.groups = groups
        self.offset = np.zeros((len(groups), q_n))
        self.owner = [None] * len(groups)        # (problem, index of the group in it)
        self.alt = {}       # peak -> (weight of two, its values as the larger of two): see _split_blends

    def problem(self, planes, which, groups=None, **kw):
        groups = [self.groups[g] for g in which] if groups is None else groups
        return _Problem(planes, groups, self.cen, self.wid, self.amp, self.eta, self.ref_cen,
                        self.ref_wid, self.sign, self.region, offset=self.offset[which], **kw)

    def take(self, prob, which):
        """Copy the fitted parameters of ``prob`` (holding clusters ``which``) into the tables."""
        for j, gi in enumerate(which):
            _take_one(self, prob, j, gi)

    def rows(self, gi):
        prob, j = self.owner[gi]
        return slice(prob.row_start[j], prob.row_start[j + 1]), prob

    def append(self, cen, wid, amp, eta, sign):
        self.cen = np.concatenate([self.cen, cen[None]])
        self.wid = np.vstack([self.wid, wid])
        self.amp = np.vstack([self.amp, amp])
        self.eta = np.vstack([self.eta, eta])
        self.sign = np.r_[self.sign, sign]
        self.ref_cen = np.vstack([self.ref_cen, cen[0]])
        self.ref_wid = np.vstack([self.ref_wid, wid])
        self.region = np.r_[self.region, False]
        self.added = np.r_[self.added, True]
        self.split = np.r_[self.split, False]
        return len(self.wid) - 1


def fit_planes(planes, centre, fwhh, height, *, eta=None, groups=None, noise=1.0, shape="pseudo-voigt",
               margin=0.75, baseline=True, free_positions=False, bound_sign=True,
               search_threshold=None, refit_neighbours=True, correlation=(np.ones(1), np.ones(1)),
               noise_var=1.0, method="lm", max_nfev=100, split_blends=True, absolute_sigma=False):
    """Fit peaks on one or several planes at once (the engine of :func:`fit_peaks` and
    :func:`nmrpick_ml.series.fit_series`).

    Parameters
    ----------
    planes : ndarray (Q, N1, N2)
        Data, one 2-D plane per entry.
    centre, fwhh : ndarray (k, 2)
        Start centres and widths (points).
    height : ndarray (k, Q)
        Start heights per plane (data units, signed).
    eta : ndarray (k, 2), optional
        Start Lorentzian fractions (pseudo-Voigt); default 0.5.
    groups : list of int arrays, optional
        Peaks fitted together; default: half-height ellipses that touch.
    noise : float or array_like (Q,)
        Noise (data units), one for all planes or one per plane (each plane is
        weighted by its own).
    free_positions : bool
        One centre per plane (else shared); widths and Lorentzian fractions are
        always shared, heights always one per plane.
    bound_sign : bool or 'auto'
        Keep each height's sign (that of its summed start heights); 'auto' only
        for peaks whose start heights have one sign in every plane.
    search_threshold : float, optional
        Residual search threshold in noise units (None: no search; single plane only).
    split_blends : bool
        With the residual search, try peaks whose shape misfits as two (:func:`_split_blends`).
    absolute_sigma : bool
        Errors from the noise alone (its measured variance and correlation), not scaled by
        the residual (see :func:`fit_peaks`).
    correlation : (rho_y, rho_x)
        Noise autocorrelation per axis.
    noise_var : float
        Variance of the noise in units of ``noise`` squared (:func:`noise_variance`
        over the square of a robust estimate, which reads low for correlated noise):
        the scale of ``chi2_red`` and of the misfit test (:data:`MISFIT_CHI2`).
    method : {'lm', 'least_squares'}
        Solver (see the module docstring).

    Returns
    -------
    dict
        ``centre`` (k, Q, 2), ``centre_err``, ``fwhh`` (k, 2), ``fwhh_err``, ``eta`` (k, 2),
        ``eta_err``, ``height`` (k, Q), ``height_err``, ``height_cov`` (k, Q, Q) the
        covariance of a peak's heights across the planes, ``volume`` (k, Q), ``volume_err``,
        ``cluster`` (k,), ``chi2_red`` (k,), ``added`` (k,), ``split`` (k,) and ``source`` (k,): the
        index of the start peak, -1 for added ones (added peaks come last).
    """
    q_n = np.asarray(planes).shape[0]
    noise = np.broadcast_to(np.asarray(noise, float), (q_n,)).copy()
    planes = np.asarray(planes, dtype=np.float64) / noise[:, None, None]
    q_n = planes.shape[0]
    k = len(centre)
    centre = np.asarray(centre, float).reshape(k, 2)
    fwhh = np.asarray(fwhh, float).reshape(k, 2)
    amp = np.asarray(height, float).reshape(k, q_n) / noise
    if bound_sign == "auto":      # bounded where every plane's start has one sign
        sign = np.where(np.all(amp < 0, axis=1), -1.0, np.where(np.all(amp > 0, axis=1), 1.0, 0.0))
    else:
        sign = np.where(amp.sum(axis=1) < 0, -1.0, 1.0) * (1.0 if bound_sign else 0.0)
    if groups is None:
        cid = _fit_clusters(centre, fwhh)
        groups = [np.nonzero(cid == c)[0] for c in range(cid.max() + 1)] if k else []
    groups = [np.asarray(g, int) for g in groups if len(g)]
    groups = _coupled(groups, centre, fwhh, margin)
    eta0 = {"pseudo-voigt": 0.5, "gaussian": 0.0, "lorentzian": 1.0}[shape]
    eta = np.full((k, 2), eta0) if eta is None or shape != "pseudo-voigt" else \
        np.clip(np.asarray(eta, float).reshape(k, 2), 0.0, 1.0)
    st = _State(np.repeat(centre[:, None, :], q_n, axis=1), fwhh.copy(), amp.copy(),
                eta.copy(), sign, list(groups), q_n)
    kw = dict(shape=shape, margin=margin, baseline=baseline, free_pos=free_positions,
              bound_sign=bound_sign)
    solve = dict(max_nfev=max_nfev, method=method)
    all_g = list(range(len(groups)))
    if groups:
        prob = st.problem(planes, all_g, **kw)
        prob.init_heights()
        prob.solve(**solve)
        st.take(prob, all_g)
    rounds = NEIGHBOUR_ROUNDS if refit_neighbours and len(groups) > 1 else 0
    own = prob.own(prob.full) if rounds else None
    before = 0.0
    for _ in range(rounds):
        # the other clusters' peaks reaching into each cluster's region, subtracted (their
        # fits were made with this cluster's signal in their regions: refitted in turn, where
        # that signal moved by 1 noise or more since the round before)
        model = _render(planes.shape[1:], st.cen, st.wid, st.amp, st.eta, range(k))
        others = model[prob.rq, prob.ry.astype(int), prob.rx.astype(int)] - own
        reach = np.bincount(prob.rg, np.abs(others - before) >= 1.0, minlength=len(groups)) > 0
        before = others
        which = [g for g in all_g if reach[g]]
        if not which:
            break
        p2 = st.problem(planes, which, **kw)
        for j, gi in enumerate(which):
            r0, r1 = prob.row_start[gi], prob.row_start[gi + 1]
            p2.target[p2.row_start[j]:p2.row_start[j + 1]] = prob.target[r0:r1] - others[r0:r1]
        p2.solve(**solve)
        st.take(p2, which)
        o2 = p2.own(p2.full)
        for j, gi in enumerate(which):
            own[prob.row_start[gi]:prob.row_start[gi + 1]] = o2[p2.row_start[j]:p2.row_start[j + 1]]
    if search_threshold is not None and q_n == 1 and groups:
        _residual_search(st, planes, search_threshold, kw, solve, noise_var)
        if split_blends:
            _split_blends(st, planes, kw, solve, noise_var, correlation, search_threshold)
    return _gather(st, correlation, noise, k, noise_var, absolute_sigma)


def _residual_search(st, planes, thr, kw, solve, noise_var=1.0):
    """One round: per cluster, a peak at the largest residual maximum above the level,
    kept when the cluster's BIC drops."""
    from scipy.ndimage import maximum_filter
    n1, n2 = planes.shape[1:]
    cand = []
    for gi in range(len(st.groups)):
        sl, prob = st.rows(gi)
        g = st.groups[gi]
        r = -prob.resid[sl]
        sgn = 1.0 if np.sum(st.amp[g]) >= 0 else -1.0
        cand.append((gi, sgn, sgn * r, prob.ry[sl].astype(int), prob.rx[sl].astype(int)))
    img = np.full((n1, n2), -np.inf)
    for gi, sgn, r, yy, xx in cand:
        img[yy, xx] = r
    mx = maximum_filter(img, size=3, mode="nearest")
    allk = np.concatenate(st.groups)
    near = {}
    for gi, sgn, r, yy, xx in cand:
        inside = ((st.cen[allk, 0, 0] >= yy.min() - 3 * st.wid[allk, 0])
                  & (st.cen[allk, 0, 0] <= yy.max() + 3 * st.wid[allk, 0])
                  & (st.cen[allk, 0, 1] >= xx.min() - 3 * st.wid[allk, 1])
                  & (st.cen[allk, 0, 1] <= xx.max() + 3 * st.wid[allk, 1]))
        near[gi] = np.union1d(allk[inside], st.groups[gi])
    new = []
    for gi, sgn, r, yy, xx in cand:
        spread = 1.4826 * np.median(np.abs(r - np.median(r)))
        level = max(thr, SEARCH_RESIDUAL_K * spread)
        ok = (r >= level) & (r >= mx[yy, xx])
        # misfit of a peak's own shape sits on it: a new peak must stand apart from every
        # peak (of this cluster or a neighbour's)
        g = near[gi]
        dist = np.min(((yy[:, None] - st.cen[g, 0, 0]) / st.wid[g, 0]) ** 2
                      + ((xx[:, None] - st.cen[g, 0, 1]) / st.wid[g, 1]) ** 2, axis=1)
        ok &= dist >= SEARCH_MIN_DISTANCE ** 2
        if not ok.any():
            continue
        i = int(np.argmax(np.where(ok, r, -np.inf)))
        g = st.groups[gi]
        eta0 = {"pseudo-voigt": 0.5, "gaussian": 0.0, "lorentzian": 1.0}[kw["shape"]]
        knew = st.append(np.array([[yy[i], xx[i]]], float), np.median(st.wid[g], axis=0),
                         np.array([sgn * r[i]]), np.array([eta0, eta0]), sgn)
        new.append((gi, np.r_[g, knew]))
    if not new:
        return
    which = [gi for gi, _ in new]
    old = {gi: st.owner[gi] for gi in which}
    trial = st.problem(planes, which, groups=[g for _, g in new], **kw)
    for j, gi in enumerate(which):
        prob, jo = old[gi]
        trial.target[trial.row_start[j]:trial.row_start[j + 1]] = \
            prob.target[prob.row_start[jo]:prob.row_start[jo + 1]]
    trial.solve(**solve)
    bic_new = trial.bic()
    hn = trial.full[trial.col["a"][:, 0]]
    covs = trial.covariances(np.ones(1), np.ones(1), noise_var=noise_var)
    for j, gi in enumerate(which):
        prob, jo = old[gi]
        knew = trial.groups[j][-1]
        # the new peak must be a peak (a height above its own noise level, a width off its
        # bounds) and lower the BIC; else the cluster keeps its fit without it
        w = trial.full[[trial.col["wy"][knew], trial.col["wx"][knew]]]
        wlo = trial.lo[[trial.col["wy"][knew], trial.col["wx"][knew]]]
        whi = trial.hi[[trial.col["wy"][knew], trial.col["wx"][knew]]]
        real = abs(hn[knew]) >= thr and np.all(w > wlo * 1.01) and np.all(w < whi * 0.99)
        g = trial.groups[j]
        if real and len(g) > 1:       # and where it ended up, still apart from the others
            cy, cx = trial.full[trial.col["cy"][g, 0]], trial.full[trial.col["cx"][g, 0]]
            wy, wx = trial.full[trial.col["wy"][g]], trial.full[trial.col["wx"][g]]
            d2 = ((cy[:-1] - cy[-1]) / ((wy[:-1] + wy[-1]) / 2)) ** 2 + \
                ((cx[:-1] - cx[-1]) / ((wx[:-1] + wx[-1]) / 2)) ** 2
            real = bool(np.all(d2 >= (2 * SEARCH_MIN_DISTANCE / 3) ** 2))
        if real:                      # and its height 3 standard errors or more
            cols, cov, _ = covs[j]
            ia = trial.col["a"][knew, 0] - cols[0]
            a_err = np.sqrt(max(cov[ia, ia], 0.0))
            real = abs(hn[knew]) >= FLAG_SIGMAS * a_err
        if real and bic_new[j] < prob.bic()[jo]:
            _take_one(st, trial, j, gi)


#: Peaks below this height (noise units) are never tried as a blend (:func:`_split_blends`).
SPLIT_MIN_SNR = 10.0
#: A peak is tried as two where the mean square of the residual within one FWHH of it exceeds
#: this many times the noise variance.
SPLIT_MISFIT = 2.0
#: Start separation of the two (FWHH, along the direction tried).
SPLIT_START = 0.5
#: Directions tried (y, x components in FWHH-normalised coordinates): along x, y and both diagonals.
SPLIT_DIRECTIONS = ((0.0, 1.0), (1.0, 0.0), (0.7071, 0.7071), (0.7071, -0.7071))
#: ... and where the linear split test (:func:`_split_test`) removes at least this many
#: residual variances.
SPLIT_Z2 = 3.0
#: The two must end at least this far apart (FWHH, normalised distance) ...
SPLIT_MIN_SEPARATION = 0.3
#: ... and lower the cluster's BIC, counted on its independent points, by at least this.
SPLIT_BIC_MARGIN = 10.0


def _split_blends(st, planes, kw, solve, noise_var=1.0, rho=(np.ones(1), np.ones(1)), thr=SEARCH_MIN_SNR):
    """Blends: per cluster, the peak whose shape misfits most (:data:`SPLIT_MISFIT`) is
    tested (:func:`_split_test`) and, where the test passes (:data:`SPLIT_Z2`), replaced by
    two, started :data:`SPLIT_START` FWHH apart along the direction the test picks (of
    :data:`SPLIT_DIRECTIONS`) with the widths along it narrowed (a pair at +-d of widths
    ``w0`` looks like one peak of ``w^2 = w0^2 + 8 ln2 d^2``), the cluster refitted (all
    candidates in one trial problem); the two are kept where the BIC on the independent points (``n / (V_y V_x)``,
    ``V = 1 + 2 sum(rho)``) drops by :data:`SPLIT_BIC_MARGIN` or more, both heights stand
    above the threshold and 3 of their errors, their widths off their bounds, and the two
    are at least :data:`SPLIT_MIN_SEPARATION` FWHH apart (their centres stay within the
    pick's bounds: :data:`CENTRE_REACH` of its FWHH of it)."""
    vy = 1.0 + 2.0 * float(np.sum(rho[0][1:]))
    vx = 1.0 + 2.0 * float(np.sum(rho[1][1:]))
    cands = []
    for gi in range(len(st.groups)):
        sl, prob = st.rows(gi)
        g = st.groups[gi]
        g = g[np.abs(st.amp[g, 0]) >= SPLIT_MIN_SNR]
        if not len(g):
            continue
        r = prob.resid[sl]
        yy, xx = prob.ry[sl], prob.rx[sl]
        d2 = ((yy[:, None] - st.cen[g, 0, 0]) / st.wid[g, 0]) ** 2 + \
            ((xx[:, None] - st.cen[g, 0, 1]) / st.wid[g, 1]) ** 2
        near = d2 <= 1.0
        cnt = near.sum(axis=0)
        mis = np.where(cnt > 0, (r * r) @ near / np.maximum(cnt, 1), 0.0) / noise_var
        i = int(np.argmax(mis))
        if mis[i] < SPLIT_MISFIT:
            continue
        k = int(g[i])
        z2, order = _split_test(st, k, yy, xx, -r, d2[:, i] <= 2.25, vy * vx)
        if z2[order[0]] >= SPLIT_Z2:
            cands.append((gi, k, order[0]))
    if not cands:
        return
    # all candidates in one trial problem, each split along its own best direction
    s = SPLIT_START
    best = {}
    which = [gi for gi, _, _ in cands]
    old = {gi: st.owner[gi] for gi in which}
    groups, saved = [], []
    for gi, k, di in cands:
        u = np.asarray(SPLIT_DIRECTIONS[di])
        c, w, a = st.cen[k].copy(), st.wid[k].copy(), st.amp[k].copy()
        off = 0.5 * s * u * w
        wn = w * np.sqrt(np.maximum(1.0 - 2.0 * np.log(2.0) * s * s * u * u, 0.25))
        knew = st.append(c + off, wn, a / 2, st.eta[k].copy(), st.sign[k])
        st.ref_cen[knew], st.ref_wid[knew] = st.ref_cen[k], st.ref_wid[k]
        saved.append((k, c, w, a))
        st.cen[k], st.wid[k], st.amp[k] = c - off, wn, a / 2
        groups.append(np.r_[st.groups[gi], knew])
    trial = st.problem(planes, which, groups=groups, **kw)
    for k, c, w, a in saved:
        st.cen[k], st.wid[k], st.amp[k] = c, w, a
    for j, gi in enumerate(which):
        prob, jo = old[gi]
        trial.target[trial.row_start[j]:trial.row_start[j + 1]] = \
            prob.target[prob.row_start[jo]:prob.row_start[jo + 1]]
    trial.init_heights()
    trial.solve(**solve)
    n_eff = np.maximum(trial.n / (vy * vx), 2.0)
    for j, gi in enumerate(which):
        prob, jo = old[gi]
        dbic = n_eff[j] * np.log(max(trial.rss[j], 1e-300) / max(prob.rss[jo], 1e-300)) + \
            (trial.p[j] - prob.p[jo]) * np.log(n_eff[j])
        pair = np.array([cands[j][1], groups[j][-1]])
        if dbic <= -SPLIT_BIC_MARGIN and _split_ok(trial, pair, thr):
            best[gi] = (dbic, trial, j, pair)
        else:
            _alternative(st, trial, pair, dbic)
    if not best:
        return
    # the heights' errors of the kept splits (the calibrated ones)
    by_trial = {}
    for gi, (dbic, trial, j, pair) in best.items():
        by_trial.setdefault(id(trial), (trial, []))[1].append((j, gi, pair))
    for trial, items in by_trial.values():
        covs = trial.covariances(*rho, which=[j for j, _, _ in items], noise_var=noise_var)
        for (j, gi, pair), (cols, cov, _) in zip(items, covs):
            ia = trial.col["a"][pair, 0] - cols[0]
            a = trial.full[trial.col["a"][pair, 0]]
            err = np.sqrt(np.maximum(np.diag(cov)[ia], 0.0))
            if np.all(np.abs(a) >= FLAG_SIGMAS * err):
                _take_one(st, trial, j, gi)
                st.split[pair] = True
            else:
                _alternative(st, trial, pair, dbic)


def _alternative(st, trial, pair, dbic):
    """A split tried and not kept: the pick stays one peak, but where two fit better (their
    BIC lower than the one's by ``-dbic``, :func:`_split_blends`) the data allow two with the
    weight ``1 / (1 + exp(dbic / 2))``; if two, the pick is the larger (by volume) of them.
    Its values there are kept for :func:`_gather`, which adds that weight times the square of
    each value's shift to its variance: the errors of a peak averaged over the two models (a
    blend's values are those of the sum; its members' differ by the shift). Where one fits
    better (``dbic >= 0``) nothing is kept: what the one misfits is in its errors already,
    which scale with its residual (averaged there too, the isolated peaks of the fit
    benchmark had their X centres within one error in 0.752 of cases: too wide)."""
    if not dbic < 0.0:
        return      # one peak fits better: its misfit is in its errors already (scaled by it)
    c, f = trial.col, trial.full
    vol = volume_integral(np.abs(f[c["a"][pair, 0]]), *(f[c[nm][pair]] for nm in ("wy", "wx", "ey", "ex")))
    m = pair[int(np.argmax(vol))]
    weight = float(1.0 / (1.0 + np.exp(dbic / 2.0)))
    st.alt[int(pair[0])] = (weight, dict(
        cy=f[c["cy"][m]], cx=f[c["cx"][m]], wy=f[c["wy"][m]], wx=f[c["wx"][m]],
        ey=f[c["ey"][m]], ex=f[c["ex"][m]], a=f[c["a"][m]]))


def _split_test(st, k, yy, xx, r, near, v):
    """Linear test of a split of peak ``k``: for each of :data:`SPLIT_DIRECTIONS`, the change
    of the model from the peak to the two of :func:`_split_blends`' start (the template), less
    what the peak's own parameters (height, centre, widths, Lorentzian fractions) and an offset
    absorb, fitted to the residual ``r`` (data - model) at the points ``near`` together with
    the difference of the two (unequal heights, what the centre does not absorb): the RSS they
    removes over the residual's mean square times ``v`` (the noise's correlation: fewer
    independent points), the mean square of what remains of the residual, where the first's coefficient is positive (the data flatter than
    one peak; else 0).

    Returns
    -------
    z2 : ndarray (directions,)
    order : ndarray of int, the directions by ``z2``, largest first
    """
    y, x, rr = yy[near], xx[near], r[near]
    c, w, e, a = st.cen[k, 0], st.wid[k], st.eta[k], float(st.amp[k, 0])
    dy, dx = y - c[0], x - c[1]
    py, ky, wy, ey = _prof1(dy, w[0], e[0])
    px, kx, wx, ex = _prof1(dx, w[1], e[1])
    jac = np.column_stack([py * px, ky * px, py * kx, wy * px, py * wx, ey * px, py * ex, np.ones(len(y))])
    q = np.linalg.qr(jac)[0]
    s = SPLIT_START
    f0 = a * py * px
    rss = float(rr @ rr)
    z2 = np.zeros(len(SPLIT_DIRECTIONS))
    for i, u in enumerate(SPLIT_DIRECTIONS):
        u = np.asarray(u)
        off = 0.5 * s * u * w
        wn = w * np.sqrt(np.maximum(1.0 - 2.0 * np.log(2.0) * s * s * u * u, 0.25))
        t = [0.5 * a * profile(y, c[0] + sg * off[0], wn[0], e[0]) * profile(x, c[1] + sg * off[1], wn[1], e[1])
             for sg in (1.0, -1.0)]
        t = np.column_stack([t[0] + t[1] - f0, t[0] - t[1]])      # equal heights; and their difference
        t = t - q @ (q.T @ t)
        beta, *_ = np.linalg.lstsq(t, rr, rcond=None)
        if beta[0] > 0:
            fit_ = t @ beta
            gain = float(fit_ @ fit_)
            z2[i] = gain / (max(rss - gain, 1e-300) / len(rr) * v)
    return z2, np.argsort(-z2)


def _split_ok(trial, pair, thr):
    """The two peaks of a split (``pair``): heights above ``thr``, widths off their bounds,
    apart by :data:`SPLIT_MIN_SEPARATION` FWHH or more."""
    c, f = trial.col, trial.full
    a = f[c["a"][pair, 0]]
    wc = np.stack([c["wy"][pair], c["wx"][pair]])
    w, wlo, whi = f[wc], trial.lo[wc], trial.hi[wc]
    if np.any(np.abs(a) < thr) or np.any(w <= wlo * 1.01) or np.any(w >= whi * 0.99):
        return False
    cy, cx = f[c["cy"][pair, 0]], f[c["cx"][pair, 0]]
    d2 = ((cy[0] - cy[1]) / w[0].mean()) ** 2 + ((cx[0] - cx[1]) / w[1].mean()) ** 2
    return bool(d2 >= SPLIT_MIN_SEPARATION ** 2)


def _take_one(st, prob, j, gi):
    c, f = prob.col, prob.full
    g = prob.groups[j]
    st.groups[gi] = g
    st.cen[g, :, 0] = f[c["cy"][g]]
    st.cen[g, :, 1] = f[c["cx"][g]]
    st.wid[g, 0], st.wid[g, 1] = f[c["wy"][g]], f[c["wx"][g]]
    st.eta[g, 0], st.eta[g, 1] = f[c["ey"][g]], f[c["ex"][g]]
    st.amp[g] = f[c["a"][g]]
    st.offset[gi] = f[prob.col_b[j]]
    st.owner[gi] = (prob, j)


def _plane_misfit_cov(cov, prob, j, acols, noise_cov, misfit_cov, rss, level, floored):
    """A series cluster's covariance with its heights' misfit part per plane and
    correlated between the planes as the residual's misfit is (several planes only).

    ``cov`` scales the noise's covariance (``noise_cov``, with the noise's correlation
    between points) by the cluster's RSS over the noise's expectation ``level`` (pooled
    over its planes), with the residual's own correlation between points where it
    misfits (:data:`MISFIT_CHI2`): misfit (a shape the model lacks, a
    neighbour's tail) spread evenly over the planes, and independent between them. It
    is neither: a lineshape's misfit grows with the plane's height (most in the
    strongest planes, none in the weakest) and is the same pattern in every plane, so
    it moves the heights together (by the same fraction: an error of ``I0``, not of a
    decay rate). Here the heights' block is the noise's covariance plus a misfit part
    ``D rho D``: ``D_q^2`` the excess of the plane's own RSS over its share of ``level``
    (``max(RSS_q / (level / Q) - 1, 0)``) times the noise's variance of the height where
    the shared parameters add least (the least of the planes': the height's share of a
    misfit pattern is the same in every plane, so ``D`` follows the misfit's size, as the
    heights do for a lineshape's misfit),
    ``rho`` the correlation between the planes of that excess, measured on the
    residual (``sum r_q r_q'`` over the cluster's points, noise being independent
    between planes), clipped to a valid correlation matrix. With a misfit-free residual
    this is the noise's covariance, as before; the other entries keep theirs."""
    q_n = prob.q_n
    r0, r1 = prob.row_start[j], prob.row_start[j + 1]
    res = prob.resid[r0:r1].reshape(q_n, -1)
    m = res @ res.T                                            # (Q, Q)
    if not (rss > 0 and level > 0):
        return cov
    share = level / q_n
    excess = np.maximum(np.diag(m) - share, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = m / np.sqrt(np.outer(excess, excess))
    corr = np.where(np.isfinite(corr), np.clip(corr, -1.0, 1.0), 0.0)
    np.fill_diagonal(corr, 1.0)
    w, v = np.linalg.eigh(corr)
    corr = (v * np.maximum(w, 0.0)) @ v.T
    dd = np.sqrt(np.maximum(np.diag(corr), 1e-300))
    corr = corr / np.outer(dd, dd)
    cov = cov.copy()
    noise_part = 1.0 if floored else min(rss / level, 1.0)
    for ai in acols:
        ix = np.ix_(ai, ai)
        cn = noise_cov[ix]
        d = np.sqrt(max(float(np.min(np.diag(misfit_cov[ix]))), 0.0) * excess / share)
        cov[ix] = cn * noise_part + d[:, None] * corr * d[None, :]
    return cov


def _average_errors(out, i, weight, two):
    """Peak ``i``'s errors in ``out`` (noise units) averaged over its one-peak fit and the
    two-peak one of :func:`_alternative`: each variance plus ``weight`` x the square of
    the shift of its value there."""
    def add(key, idx, v2):
        v1 = out[key][idx]
        out[key + "_err"][idx] = np.sqrt(out[key + "_err"][idx] ** 2 + weight * (v2 - v1) ** 2)
    add("centre", (i, slice(None), 0), two["cy"])
    add("centre", (i, slice(None), 1), two["cx"])
    add("fwhh", (i, 0), two["wy"])
    add("fwhh", (i, 1), two["wx"])
    add("eta", (i, 0), two["ey"])
    add("eta", (i, 1), two["ex"])
    add("height", (i,), two["a"])
    add("volume", (i,), volume_integral(two["a"], two["wy"], two["wx"], two["ey"], two["ex"]))


def _gather(st, rho, noise, k0, noise_var=1.0, absolute_sigma=False):
    """Per-peak values and errors (data units) from the problems that hold the clusters."""
    q_n = st.amp.shape[1]
    kept = np.concatenate(st.groups) if st.groups else np.zeros(0, int)
    kept = np.sort(kept)
    n = len(kept)
    pos = {p: i for i, p in enumerate(kept)}
    out = {name: np.full(shp, np.nan) for name, shp in (
        ("centre", (n, q_n, 2)), ("centre_err", (n, q_n, 2)), ("fwhh", (n, 2)), ("fwhh_err", (n, 2)),
        ("eta", (n, 2)), ("eta_err", (n, 2)), ("height", (n, q_n)), ("height_err", (n, q_n)),
        ("volume", (n, q_n)), ("volume_err", (n, q_n)), ("chi2_red", (n,)))}
    out["cluster"] = np.zeros(n, int)
    out["height_cov"] = np.full((n, q_n, q_n), np.nan)
    by_prob = {}
    for gi, (prob, j) in enumerate(st.owner):
        by_prob.setdefault(id(prob), (prob, []))[1].append((j, gi))
    # every cluster's parts first, for the floor pooled over all of them
    parts = {key: prob.cov_parts(*rho, which=[j for j, _ in items], noise_var=noise_var)
             for key, (prob, items) in by_prob.items()}
    s2_all = np.concatenate([pt["s2"] for v in parts.values() for _, pt in v] or [np.zeros(0)])
    dof_all = np.concatenate([pt["dof"] for v in parts.values() for _, pt in v] or [np.zeros(0)])
    h_all = np.concatenate([[np.max(np.abs(st.amp[by_prob[key][0].groups[j]])) for j in gis]
                            for key, v in parts.items() for gis, _ in v] or [np.zeros(0)])
    floor = _pooled_variance(s2_all, dof_all, noise_var, h_all)
    absolute = (noise_var if floor is None else floor) if absolute_sigma else None
    for key, (prob, items) in by_prob.items():
        covs = prob.covariances(*rho, which=[j for j, _ in items], noise_var=noise_var, floor=floor,
                                parts=parts[key], absolute=absolute)
        f = prob.full
        c = prob.col
        level = {}
        for gis, pt in (parts[key] if q_n > 1 and not absolute_sigma else ()):
            for i_, g_ in enumerate(gis):
                f_ = noise_var if floor is None else floor
                lv = pt["A0"][i_] + f_ * pt["dof0"][i_]
                level[g_] = (pt["base0"][i_] * lv, pt["base"][i_] * (pt["A"][i_] + f_ * pt["dof"][i_]),
                             pt["rss"][i_], lv, floor is not None)
        for (j, gi), (cols, cov, s2) in zip(items, covs):
            c0 = prob.col_start[j]
            if j in level:        # (filled for a series without absolute_sigma only)
                cov = _plane_misfit_cov(cov, prob, j, [c["a"][kk] - c0 for kk in prob.groups[j]], *level[j])
            sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
            for kk in prob.groups[j]:
                i = pos[kk]
                out["cluster"][i] = gi
                out["chi2_red"][i] = s2 / noise_var
                out["centre"][i, :, 0], out["centre"][i, :, 1] = f[c["cy"][kk]], f[c["cx"][kk]]
                out["centre_err"][i, :, 0] = sd[c["cy"][kk] - c0]
                out["centre_err"][i, :, 1] = sd[c["cx"][kk] - c0]
                for a, (wn, en) in enumerate((("wy", "ey"), ("wx", "ex"))):
                    out["fwhh"][i, a], out["fwhh_err"][i, a] = f[c[wn][kk]], sd[c[wn][kk] - c0]
                    out["eta"][i, a], out["eta_err"][i, a] = f[c[en][kk]], sd[c[en][kk] - c0]
                a_ = f[c["a"][kk]]
                out["height"][i], out["height_err"][i] = a_, sd[c["a"][kk] - c0]
                ai = c["a"][kk] - c0
                out["height_cov"][i] = cov[np.ix_(ai, ai)]
                wy, wx, ey, ex = (f[c[nm][kk]] for nm in ("wy", "wx", "ey", "ex"))
                iy = wy * (ey * _IL + (1 - ey) * _IG)
                ix = wx * (ex * _IL + (1 - ex) * _IG)
                vol = a_ * iy * ix
                out["volume"][i] = vol
                for q in range(q_n):
                    grad = np.zeros(len(cols))
                    grad[c["wy"][kk] - c0] = iy * ix * a_[q] / wy
                    grad[c["wx"][kk] - c0] = iy * ix * a_[q] / wx
                    grad[c["a"][kk, q] - c0] = iy * ix
                    grad[c["ey"][kk] - c0] = a_[q] * ix * wy * (_IL - _IG)
                    grad[c["ex"][kk] - c0] = a_[q] * iy * wx * (_IL - _IG)
                    out["volume_err"][i, q] = np.sqrt(max(grad @ cov @ grad, 0.0))
                if kk in st.alt and not absolute_sigma:
                    _average_errors(out, i, *st.alt[kk])
    for name in ("height", "height_err", "volume", "volume_err"):
        out[name] = out[name] * noise[None, :]
    out["height_cov"] = out["height_cov"] * noise[None, :, None] * noise[None, None, :]
    out["added"] = st.added[kept]
    out["split"] = st.split[kept]
    out["source"] = np.where(kept < k0, kept, -1)
    return out

# --------------------------------------------------------------------------- the fit

def fit_peaks(data, centre, fwhh, height=None, *, cluster=None, noise=None, shape="pseudo-voigt",
              margin=0.75, baseline=True, threshold=None, residual_search=True,
              correlation="auto", refit_neighbours=True, method="lm", max_nfev=100, split_blends=True,
              absolute_sigma=False):
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
        Cluster ids: peaks sharing one are fitted together, and so are peaks
        closer than :data:`JOIN_FWHH` mean FWHH and clusters that reach into each
        other's regions (:data:`JOIN_COUPLING`). Default: peaks whose half-height
        ellipses touch.
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
    split_blends : bool
        With the residual search, a peak whose shape misfits is tried as two (a blend of
        a pair the picker saw as one; kept when the BIC drops by a margin, see the module
        docstring); ``split`` marks both.
    absolute_sigma : bool
        False (default): the errors scale with the cluster's residual, ``max(1, chi2)`` as
        the module docstring says (scipy's ``curve_fit(absolute_sigma=False)``; a misfit
        widens them). True: from the measured noise alone (variance and correlation), as
        if the model were exact. Measured side by side in ``benchmarks/results/fit.md``:
        the noise alone covers the truth of isolated peaks too rarely where they misfit
        (t1 ridges, shapes), and close pairs far too rarely.
    correlation : 'auto', None or (rho_y, rho_x)
        Noise autocorrelation per axis for the errors; 'auto' measures it
        (:func:`noise_correlation`), None assumes white noise.
    refit_neighbours : bool
        Refit clusters into whose region other clusters' peaks reach, with
        those peaks' fitted signal subtracted (:data:`NEIGHBOUR_ROUNDS` rounds).
    method : {'lm', 'least_squares'}
        Solver (see the module docstring): the batched Levenberg-Marquardt, or
        ``scipy.optimize.least_squares`` cluster by cluster.
    max_nfev : int
        Most iterations (per cluster for 'least_squares').

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
    check_choice(method, "method", ("lm", "least_squares"))
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
    noise_var = 1.0
    if isinstance(correlation, str):
        check_choice(correlation, "correlation", ("auto",))
        *rho, var = _noise_stats(data, noise)
        rho = tuple(rho)
        noise_var = var / noise ** 2 if var > 0 else 1.0
    elif correlation is None:
        rho = (np.ones(1), np.ones(1))
    else:
        rho = tuple(np.asarray(r, float) for r in correlation)
    if k == 0:
        return _empty(noise, rho)
    if cluster is None:
        cid = _fit_clusters(centre, fwhh)
    else:
        cid = np.unique(np.asarray(cluster).reshape(-1), return_inverse=True)[1].reshape(-1)
        cid = _fit_clusters(centre, fwhh, JOIN_FWHH, given=cid)
    groups = [g for g in (np.nonzero(cid == c)[0] for c in range(cid.max() + 1)) if len(g)]
    r = fit_planes(data[None], centre, fwhh, height[:, None], groups=groups, noise=noise,
                   shape=shape, margin=margin, baseline=baseline,
                   search_threshold=thr if residual_search else None,
                   refit_neighbours=refit_neighbours, correlation=rho, noise_var=noise_var, method=method,
                   max_nfev=max_nfev, split_blends=split_blends, absolute_sigma=absolute_sigma)
    h, he = r["height"][:, 0], r["height_err"][:, 0]
    return FitResult(centre=r["centre"][:, 0], centre_err=r["centre_err"][:, 0], fwhh=r["fwhh"],
                     fwhh_err=r["fwhh_err"], height=h, height_err=he, volume=r["volume"][:, 0],
                     volume_err=r["volume_err"][:, 0], eta=r["eta"], eta_err=r["eta_err"],
                     cluster=r["cluster"], chi2_red=r["chi2_red"],
                     flagged=np.abs(h) < FLAG_SIGMAS * he, added=r["added"], source=r["source"],
                     noise=noise, correlation=rho, split=r["split"])


#: Columns of a pick table, in order (``nmrpick_ml.pick``'s table), before FIT_COLUMNS.
_PICK_COLUMNS = ("Y_AXIS", "X_AXIS", "cID", "Y_LW", "X_LW", "VOL", "Y_PPM", "X_PPM", "Y_LW_HZ",
                 "X_LW_HZ", "HEIGHT", "SCORE")


def fit_table(peaks, data, uc, *, shape="pseudo-voigt", as_frame=False, **options):
    """Fit a pick's peaks and give its table with the fitted values and :data:`FIT_COLUMNS`.

    Parameters
    ----------
    peaks : Peaks
        What the picker found (``centre, fwhh, height, cluster, score`` and the
        ``noise`` and ``pthres`` it used), in points.
    data : ndarray (N1, N2)
    uc : sequence of two nmrglue unit_conversion
    shape : {'pseudo-voigt', 'gaussian', 'lorentzian'}
    as_frame : bool
        A DataFrame instead of a record array.
    **options
        More :func:`fit_peaks` options.

    Returns
    -------
    numpy.recarray or pandas.DataFrame
        The pick table's columns (positions, widths, heights and volumes now the
        fitted ones; SCORE the pick's, 0 for added peaks) then :data:`FIT_COLUMNS`.
    """
    r = fit_peaks(data, peaks.centre, peaks.fwhh, peaks.height, cluster=peaks.cluster,
                  noise=getattr(peaks, "noise", None), threshold=getattr(peaks, "pthres", None),
                  shape=shape, **options)
    df = r.to_frame(uc, score=peaks.score)
    df = df[list(_PICK_COLUMNS) + list(FIT_COLUMNS)]
    if as_frame:
        return df
    rec = np.zeros(len(df), dtype=[(c, "i8" if c in ("cID", "FIT_FLAG", "FIT_ADDED", "FIT_SPLIT") else "f8")
                                   for c in df.columns]).view(np.recarray)
    for c in df.columns:
        rec[c] = df[c].to_numpy()
    return rec


def _empty(noise, rho):
    z2, z1 = np.zeros((0, 2)), np.zeros(0)
    return FitResult(z2, z2, z2, z2, z1, z1, z1, z1, z2, z2, np.zeros(0, int), z1,
                     np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int), noise, rho)
