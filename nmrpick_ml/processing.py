"""Acquisition and processing of 2D NMR signals, simulated per axis.

The ``processed`` synthetic recipe (:data:`nmrpick_ml.synth.PROCESSED`) builds
spectra the way a spectrometer and NMRPipe/TopSpin make them: each peak is a
damped complex exponential per axis, acquired for a finite time, multiplied by
a window, first-point scaled, zero-filled, Fourier transformed, phased (with a
small residual error) and its real part kept. Noise is added in the time domain
and processed with the signal, so its correlation comes from the window and the
zero-filling. Lineshapes, truncation sidelobes and linewidths in points follow.

Everything here is closed form. A window is written as a sum of complex
exponentials, ``w[n] = sum_m a_m q_m**n`` (sine bells exactly; the Gaussian
factor of a Lorentz-to-Gauss window by 20-node Gauss-Hermite quadrature while
it decays by at most e^4 over the acquisition, else by the Fourier series of
its periodic sum, both exact to ~1e-12 of the window's maximum), so the
discrete-time Fourier transform of ``w[n] z**n`` over the ``N`` acquired points
is a sum of geometric series and can be evaluated at any (fractional)
frequency offset without an FFT of the zero-filled length. The terms are
computed once per :class:`Axis`; a peak's processed profile on a tile is two
such 1D evaluations (the peak is their separable product), and its apex and
half-height crossings (:func:`apex_and_half_widths`) two more, for all peaks
at once.

Conventions: frequencies and offsets are in points of the processed
(zero-filled) axis of ``size`` points; a signal at frequency ``nu`` peaks at
point ``nu``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Axis", "Window", "window_terms", "window_array", "dtft", "line_profile",
           "apex", "half_widths", "apex_and_half_widths", "processed_noise", "noise_autocorrelation",
           "ridge_profiles", "WINDOWS"]

#: Window kinds: NMRPipe ``SP`` (shifted sine bell, ``pow`` 1 or 2), ``EM``
#: (exponential, ``lb`` Hz), ``GM`` (Lorentz-to-Gauss: ``exp(pi g1 t - (pi g2 t)^2 / (4 ln 2))``)
#: and ``none``.
WINDOWS = ("sp", "em", "gm", "none")

_HERMITE = np.polynomial.hermite.hermgauss(20)


@dataclass(frozen=True)
class Window:
    """An apodisation window.

    Attributes
    ----------
    kind : str
        One of :data:`WINDOWS`.
    off, end, power : float
        ``SP``: ``sin(pi off + pi (end - off) n / (N - 1)) ** power``.
    lb : float
        ``EM``: line broadening in Hz (``exp(-pi lb t)``); ``GM``: the
        inverse-exponential part ``g1`` in Hz.
    gb : float
        ``GM``: the Gaussian width ``g2`` in Hz.
    """

    kind: str = "none"
    off: float = 0.5
    end: float = 1.0
    power: float = 2.0
    lb: float = 0.0
    gb: float = 0.0


@dataclass(frozen=True)
class Axis:
    """One axis of an experiment: acquisition and processing.

    Attributes
    ----------
    n_acq : int
        Acquired complex points (direct) or complex increments (indirect).
    sw : float
        Spectral width, Hz (the dwell time is ``1 / sw``).
    size : int
        Processed size after zero-filling (points over ``sw``).
    window : Window
    c0 : float
        First-point scale (0.5 is correct for a first point at t = 0).
    phase : float
        Residual zero-order phase error, radians.
    """

    n_acq: int
    sw: float
    size: int
    window: Window = Window()
    c0: float = 0.5
    phase: float = 0.0

    @property
    def dt(self):
        return 1.0 / self.sw

    @property
    def aq(self):
        """Acquisition time, s."""
        return self.n_acq / self.sw

    @property
    def hz_per_point(self):
        return self.sw / self.size

    @functools.cached_property
    def terms(self):
        """The window's exponential terms and the constants of :func:`dtft`, computed once per axis.

        ``(a, q, n_eff, q**n_eff, |q|, (1 - c0) * sum(a))`` with ``w[n] = sum_m a_m q_m**n``
        for ``n < n_eff`` and negligible after (see :func:`window_terms`).
        """
        a, q, n_eff = window_terms(self, span=True)
        return a, q, n_eff, q ** n_eff, np.abs(q), (1.0 - self.c0) * np.sum(a).real


def window_terms(ax, span=False):
    """``(a, q)`` with ``w[n] = sum_m a_m q_m**n`` for ``n = 0..n_acq-1``.

    With ``span``, ``(a, q, n_eff)``: the terms hold for ``n < n_eff`` and the
    window is negligible (below 2e-12 of its maximum) from ``n_eff`` on; only
    a strongly decaying GM window has ``n_eff < n_acq``.
    """
    if span and ax.window.kind != "gm":
        return window_terms(ax) + (ax.n_acq,)
    w, n = ax.window, ax.n_acq
    if w.kind == "none":
        return np.ones(1, complex), np.ones(1, complex)
    if w.kind == "em":
        return np.ones(1, complex), np.array([np.exp(-np.pi * w.lb * ax.dt)], complex)
    if w.kind == "sp":
        th0 = np.pi * w.off
        dth = np.pi * (w.end - w.off) / max(n - 1, 1)
        if round(w.power) == 1:
            a = np.array([np.exp(1j * th0), -np.exp(-1j * th0)]) / 2j
            q = np.exp(np.array([1j, -1j]) * dth)
        else:
            a = np.array([0.5, -np.exp(2j * th0) / 4, -np.exp(-2j * th0) / 4])
            q = np.exp(np.array([0, 2j, -2j]) * dth)
        return a.astype(complex), q.astype(complex)
    if w.kind == "gm":
        return _gm_terms(np.pi * w.lb * ax.dt, (np.pi * w.gb * ax.dt) ** 2 / (4 * np.log(2)), n, span)
    raise ValueError(f"unknown window kind {w.kind!r}")


#: Largest ``b n_acq**2`` (the Gaussian's decay over the acquisition, in e-folds)
#: for which 20-node Gauss-Hermite quadrature represents ``exp(-b n^2)`` to 1e-12.
_GH_MAX_DECAY = 4.0
#: Accuracy of the Fourier-series GM terms, in e-folds (e^-27 = 2e-12 of the window's maximum).
_GM_EFOLDS = 27.0


def _gm_terms(alpha, b, n_acq, span=False):
    """Terms of ``exp(alpha n - b n^2)``, ``n = 0..n_acq-1`` (a GM window, ``n`` in samples).

    A Gaussian that decays little over the acquisition (``b n_acq^2 <= 4``) is
    a 20-node Gauss-Hermite quadrature of its Fourier integral,
    ``exp(-b n^2) = sum_m w_m / sqrt(pi) exp(2 i sqrt(b) x_m n)``. One that
    decays more (the quadrature would need ~``2 b n_acq^2`` nodes) is the
    Fourier series of its periodic sum (Poisson summation): with
    ``n0 = alpha / (2 b)`` the window is ``exp(b n0^2) exp(-b (n - n0)^2)`` and
    ``sum_j exp(-b (u - j P)^2) = sum_m c_m exp(2 pi i m u / P)``,
    ``c_m = sqrt(pi / b) / P exp(-pi^2 m^2 / (b P^2))``; the period ``P``
    keeps the neighbouring copies 27 e-folds (2e-12) below the window's
    maximum, and terms below that are dropped (about 25-35 terms).

    With ``span`` the terms need only hold on ``n < n_eff``, the samples
    before the window has fallen 27 e-folds below its maximum (it is below
    that from there on), and ``n_eff`` is returned too: a strongly decaying
    window needs fewer terms.
    """
    if b * n_acq ** 2 <= _GH_MAX_DECAY:
        x, wt = _HERMITE
        a, q = (wt / np.sqrt(np.pi)).astype(complex), np.exp(alpha + 2j * np.sqrt(b) * x)
        return (a, q, n_acq) if span else (a, q)
    e = _GM_EFOLDS
    n0 = alpha / (2 * b)
    if b * n0 * n0 > 30.0:
        raise ValueError("GM window: the Gaussian's centre lies too far outside the acquisition "
                         f"(g1/g2 too large: b*n0^2 = {b * n0 * n0:.3g} > 30)")
    d = 0.0 if 0 <= n0 <= n_acq - 1 else min(abs(n0), abs(n0 - (n_acq - 1)))
    n_eff = n_acq
    if span:
        n_eff = int(min(n_acq, max(2, np.ceil(n0 + np.sqrt(n0 * n0 + e / b)) + 1)))
    u_max = max(abs(n0), abs(n_eff - 1 - n0))
    period = u_max + np.sqrt(d * d + e / b)
    m = np.arange(-int(np.ceil(period * np.sqrt(b * (e + b * d * d)) / np.pi)), 0)
    m = np.concatenate([m, [0], -m[::-1]])
    c = np.sqrt(np.pi / b) / period * np.exp(-(np.pi * m / period) ** 2 / b)
    a = (np.exp(b * n0 * n0) * c * np.exp(-2j * np.pi * m * n0 / period)).astype(complex)
    q = np.exp(2j * np.pi * m / period)
    return (a, q, n_eff) if span else (a, q)


def _window_at(ax, n):
    """The window at (possibly fractional) acquisition sample indices ``n``."""
    w, n = ax.window, np.asarray(n, dtype=float)
    if w.kind == "none":
        return np.ones_like(n)
    if w.kind == "em":
        return np.exp(-np.pi * w.lb * n * ax.dt)
    if w.kind == "sp":
        return np.sin(np.pi * w.off + np.pi * (w.end - w.off) * n / max(ax.n_acq - 1, 1)) ** w.power
    if w.kind == "gm":
        t = n * ax.dt
        return np.exp(np.pi * w.lb * t - (np.pi * w.gb * t) ** 2 / (4 * np.log(2)))
    raise ValueError(f"unknown window kind {w.kind!r}")


def window_array(ax):
    """The window's values at the acquired points (real, ``n_acq``)."""
    return _window_at(ax, np.arange(ax.n_acq))


def dtft(ax, offset, r2):
    """Processed (complex, before phasing) spectrum of ``exp(-r2 t)`` at frequency offsets.

    ``sum_n c_n w[n] exp(-r2 n dt) exp(-2 pi i offset n / size)``, with
    ``c_0 = ax.c0`` and ``c_n = 1`` otherwise.

    Parameters
    ----------
    ax : Axis
    offset : ndarray
        Grid point minus the line's frequency, points (any shape).
    r2 : ndarray
        Decay rate, 1/s, broadcast against ``offset``.

    Returns
    -------
    ndarray of complex
    """
    a, q, n, qn, q_abs, const = ax.terms          # n: the window's span (n_acq but for a decayed GM)
    r2 = np.asarray(r2, float)
    log_rho = -r2 * ax.dt - 2j * np.pi * np.asarray(offset, float) / ax.size
    rho = np.exp(log_rho)
    rho_n = np.exp(n * log_rho)                 # rho**n without a complex power per term
    out = np.zeros(rho.shape, complex)
    if _denominators_safe(q_abs, r2, ax.dt):
        # all terms at once: (terms, ...) arrays, summed over the terms in order
        sh = (len(a),) + (1,) * rho.ndim
        s = (1.0 - qn.reshape(sh) * rho_n) / (1.0 - q.reshape(sh) * rho)
        out += np.add.reduce(a.reshape(sh) * s, axis=0, initial=0.0) if len(a) > 1 else a[0] * s[0]
        return out - const
    for am, qm, qnm in zip(a, q, qn):
        den = 1.0 - qm * rho
        small = np.abs(den) < 1e-12
        if small.any():
            s = np.where(small, n, (1.0 - qnm * rho_n) / np.where(small, 1.0, den))
        else:
            s = (1.0 - qnm * rho_n) / den
        out += am * s
    return out - const


def _denominators_safe(q_abs, r2, dt):
    """Whether no ``1 - q_m rho`` of :func:`dtft` can vanish.

    ``|1 - q rho| >= |1 - |q| exp(-r2 dt)|``, which over the range of ``r2`` is
    smallest at its ends, or zero where ``|q| exp(-r2 dt)`` crosses 1 (a line
    on resonance with an undamped term).
    """
    if r2.size == 0:
        return True
    e_lo, e_hi = math.exp(-float(r2.max()) * dt), math.exp(-float(r2.min()) * dt)
    q_lo, q_hi = q_abs[[0, -1]] if len(q_abs) == 1 else (float(q_abs.min()), float(q_abs.max()))
    if q_hi * e_hi < 1.0 - 1e-9 or q_lo * e_lo > 1.0 + 1e-9:   # all terms on one side of 1
        return True
    lo, hi = q_abs * e_lo, q_abs * e_hi
    bound = np.where((lo <= 1.0) & (hi >= 1.0), 0.0, np.minimum(np.abs(1.0 - lo), np.abs(1.0 - hi)))
    return bool(bound.min() > 1e-9)


def line_profile(ax, offset, r2):
    """Real, phased processed lineshape at ``offset`` (points); not normalised."""
    return (np.exp(1j * ax.phase) * dtft(ax, offset, r2)).real


def apex(ax, r2, n=21):
    """Height of the line's maximum (searched within +-0.5 point), per ``r2``."""
    r2 = np.atleast_1d(np.asarray(r2, float))
    d = _APEX_D if n == len(_APEX_D) else np.linspace(-0.5, 0.5, n)
    return _apex_of(line_profile(ax, d[None, :], r2[:, None]))


def _apex_of(v):
    """:func:`apex` from the samples ``v`` (lines, n) at ``linspace(-0.5, 0.5, n)``."""
    n = v.shape[1]
    i = np.argmax(v, axis=1)
    # refine by a parabola through the best sample and its neighbours
    i = np.minimum(np.maximum(i, 1), n - 2)
    rows = np.arange(len(v))
    ym, y0, yp = v[rows, i - 1], v[rows, i], v[rows, i + 1]
    den = ym - 2 * y0 + yp
    h = np.where(den < 0, y0 - 0.125 * (yp - ym) ** 2 / np.where(den < 0, den, -1.0), y0)
    return np.maximum(h, y0)


_APEX_D = np.linspace(-0.5, 0.5, 21)
#: Outward scan of :func:`half_widths`: 0.02 .. 164 points, steps x2.
_SCAN = 0.02 * 2.0 ** np.arange(14)
_FINE = np.linspace(0.0, 1.0, 26)


def apex_and_half_widths(ax, r2):
    """:func:`apex` and :func:`half_widths` of lines of decay rates ``r2``, together.

    The apex samples and the outward scan are one evaluation of the closed
    form, the refinement a second one.

    Returns
    -------
    height, left, right : ndarray (k,)
    """
    r2 = np.atleast_1d(np.asarray(r2, float))
    k, na, ns = len(r2), len(_APEX_D), len(_SCAN)
    d = np.concatenate([_APEX_D, -_SCAN, _SCAN])
    v = line_profile(ax, d[None, :], r2[:, None])
    h = _apex_of(v[:, :na])
    left, right = _crossings(ax, r2, h, v[:, na:].reshape(k, 2, ns))
    return h, left, right


def half_widths(ax, r2, height=None):
    """Distances (points) from the line's frequency to its half-height crossings.

    A geometric scan outwards (0.02 to 164 points, steps x2) brackets the
    first point below half height on each side; 24 evenly spaced evaluations
    inside the bracket narrow it 25-fold, and inverse quadratic interpolation
    through three of them gives the crossing (to ~1e-5 of the half width,
    checked against a brute-force 1e-5 grid). All lines and both sides are
    evaluated together.

    Parameters
    ----------
    ax : Axis
    r2 : array_like (k,)
        Decay rates, 1/s.
    height : array_like (k,), optional
        The lines' apex heights (:func:`apex`), if already known.

    Returns
    -------
    left, right : ndarray
        ``left`` is the distance below the frequency, ``right`` above; their
        sum is the FWHH in points.
    """
    r2 = np.atleast_1d(np.asarray(r2, float))
    h = apex(ax, r2) if height is None else np.atleast_1d(np.asarray(height, float))
    side = np.array([-1.0, 1.0])[None, :, None]
    v = line_profile(ax, side * _SCAN[None, None, :], r2[:, None, None])
    return _crossings(ax, r2, h, v)


def _crossings(ax, r2, h, v):
    """Half-height crossings from the scan ``v`` (k, 2 sides, len(_SCAN)), unnormalised."""
    k, ns = len(r2), len(_SCAN)
    below = v < 0.5 * h[:, None, None]
    first = np.where(below.any(axis=2), np.argmax(below, axis=2), ns - 1).ravel()   # (2k,)
    lo = np.where(first > 0, _SCAN[np.maximum(first - 1, 0)], 0.0)
    hi = _SCAN[first]
    dd = lo[:, None] + (hi - lo)[:, None] * _FINE                        # (2k, n), ends included
    side = np.tile([-1.0, 1.0], k)[:, None]
    vv = line_profile(ax, side * dd, np.repeat(r2, 2)[:, None]) / np.repeat(h, 2)[:, None]
    below = vv < 0.5
    nf = len(_FINE)
    jb = np.where(below[:, 1:].any(axis=1), np.argmax(below[:, 1:], axis=1) + 1, nf - 1)
    rows = np.arange(2 * k)
    x0, x1, v0, v1 = dd[rows, jb - 1], dd[rows, jb], vv[rows, jb - 1], vv[rows, jb]
    t = np.clip((v0 - 0.5) / np.where(v0 - v1 > 0, v0 - v1, 1.0), 0.0, 1.0)
    x = x0 + (x1 - x0) * t
    # inverse quadratic interpolation through a third neighbour, where the three
    # values fall monotonically (the bracket's curvature: error ~1e-7 point)
    j2 = np.where(jb + 1 < nf, jb + 1, jb - 2)
    x2, v2 = dd[rows, j2], vv[rows, j2]
    mono = np.where(j2 > jb, v1 > v2, v2 > v0) & (v0 > v1)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (x0 * (0.5 - v1) * (0.5 - v2) / ((v0 - v1) * (v0 - v2))
             + x1 * (0.5 - v0) * (0.5 - v2) / ((v1 - v0) * (v1 - v2))
             + x2 * (0.5 - v0) * (0.5 - v1) / ((v2 - v0) * (v2 - v1)))
    x = np.where(mono & (q >= x0) & (q <= x1), q, x).reshape(k, 2)
    return x[:, 0], x[:, 1]


def noise_autocorrelation(ax, lag):
    """Correlation of processed noise between points ``lag`` apart (real part).

    For white time-domain noise multiplied by the window, zero-filled and
    transformed, the covariance at lag ``k`` is ``Re sum_n (c_n w_n)^2 e^{2 pi i k n / size}``.
    """
    w = window_array(ax)
    w[0] *= ax.c0
    n = np.arange(ax.n_acq)
    lag = np.atleast_1d(lag)
    c = (w[None, :] ** 2 * np.cos(2 * np.pi * lag[:, None] * n[None, :] / ax.size)).sum(1)
    return c / np.sum(w ** 2)


def _mini_window(ax, m):
    """The window on the acquisition that a processed axis of ``m`` points (same
    zero-filling ratio) would have: the noise correlation is unchanged."""
    zf = ax.size / ax.n_acq
    n = int(max(2, min(m, round(m / zf))))
    v = _window_at(ax, np.arange(n) / max(n - 1, 1) * (ax.n_acq - 1))   # acquisition sample index
    v[0] *= ax.c0
    return v


def processed_noise(rng, shape, axes):
    """Unit-variance processed noise on a region of ``shape`` points.

    White time-domain noise of a States (hypercomplex) acquisition on a
    scaled-down acquisition grid with the same zero-filling ratio as ``axes``,
    windowed per axis, transformed along the direct axis (two independent
    complex FIDs per increment, the States pair), then along the indirect
    axis, and the RR part cropped to ``shape``. Its correlation is the one the
    windows and zero-filling predict (:func:`noise_autocorrelation`) and is
    separable across the axes, as in real 2D spectra.
    """
    import scipy.fft as sfft
    m = [sfft.next_fast_len(int(s + 16)) for s in shape]
    w0 = _mini_window(axes[0], m[0])
    w1 = _mini_window(axes[1], m[1])
    e = rng.standard_normal((2, len(w0), len(w1), 2)).view(complex)[..., 0]
    e *= w1[None, None, :]
    f = sfft.fft(e, n=m[1], axis=2, workers=1)[:, :, : shape[1]].real      # (2, n_inc, n1)
    g = (f[0] + 1j * f[1]) * w0[:, None]
    rr = sfft.fft(g, n=m[0], axis=0, workers=1)[: shape[0]].real
    return rr / np.sqrt(np.sum(w0 ** 2) * np.sum(w1 ** 2))


def ridge_profiles(rng_jitter, ax, freq, r2, height):
    """t1-noise part of the indirect profiles of strong peaks.

    Each increment ``n`` is multiplied by ``(1 + j[n])``, ``j`` complex and the
    same for every peak; this returns the processed ``j`` part of each peak's
    indirect profile on the ``ax.size`` grid (real, phased), divided by
    ``height`` (the peak's apex), so that it adds to the normalised profile.

    Parameters
    ----------
    rng_jitter : ndarray of complex, (n_acq,)
        The per-increment jitter ``j``.
    ax : Axis
    freq, r2, height : ndarray (k,)
    """
    import scipy.fft as sfft
    n = np.arange(ax.n_acq)
    w = window_array(ax).copy()
    w[0] *= ax.c0
    sig = np.exp((-np.asarray(r2)[:, None] * ax.dt + 2j * np.pi * np.asarray(freq)[:, None] / ax.size) * n)
    sig *= (w * rng_jitter)[None, :]
    f = sfft.fft(sig, n=ax.size, axis=1, workers=1)
    return (np.exp(1j * ax.phase) * f).real / np.asarray(height)[:, None]
