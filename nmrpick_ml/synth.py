"""Synthetic 2D NMR spectra with exact full-width-at-half-height (FWHH) masks.

Every peak is separable, ``amp * f_y(y) * f_x(x)``, with each 1D profile equal
to 1 at the peak centre and below 1 elsewhere, so the peak's half-height region
(its *mask*, as in Alghamdi et al. 2023) is exactly ``f_y(y) f_x(x) >= 1/2``,
evaluated on the grid. Masks of overlapping peaks are kept per peak and may
overlap. Everything is deterministic from a seed and vectorised with numpy.

Two recipes:

``paper``
    The paper's data: 128x128, k uniform in 1..4, Gaussian x Gaussian or
    Gaussian x Lorentzian, maximum amplitude 1, no noise, non-overlapping masks.
``realistic``
    The data the shipped model trains on (see :class:`Recipe` for every knob
    and the range it takes, checked against real spectra by
    ``nmrpick-ml bench --realism``).

Peak *targets* (what a picker should find) are the positive peaks whose centre
lies inside the array and whose height is at least ``Recipe.target_snr`` times
the noise; weaker peaks and negative peaks are in the data but not targets
(negative peaks are found by running the picker on the negated data).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Recipe", "PAPER", "REALISTIC", "ProcessedRecipe", "PROCESSED", "Synthetic", "make_spectrum", "make_tile",
           "make_tiles", "simulate", "write_spectrum", "lineshape", "GAUSS", "LORENTZ", "VOIGT"]

GAUSS, LORENTZ, VOIGT = 0, 1, 2
SHAPE_NAMES = ("gaussian", "lorentzian", "pseudo-voigt")
_4LN2 = 4.0 * np.log(2.0)


def lineshape(x, centre, fwhh, kind, eta=0.5):
    """1D lineshape of FWHH ``fwhh`` (points), 1 at ``centre``.

    Parameters
    ----------
    x : ndarray
        Grid (points).
    centre, fwhh : float or ndarray
        Broadcast against ``x``.
    kind : int or ndarray
        ``GAUSS`` (0): ``exp(-4 ln2 d^2 / w^2)``, i.e. sigma = w / (2 sqrt(2 ln 2));
        ``LORENTZ`` (1): ``1 / (1 + 4 d^2 / w^2)``, i.e. gamma = w / 2;
        ``VOIGT`` (2): pseudo-Voigt ``eta L + (1 - eta) G`` with the same FWHH.
    eta : float or ndarray, optional
        Lorentzian fraction of the pseudo-Voigt.

    Returns
    -------
    ndarray
        Profile values, equal to 1 at ``centre``.

    Examples
    --------
    >>> float(lineshape(np.array(2.0), 0.0, 4.0, GAUSS))
    0.5
    >>> float(lineshape(np.array(2.0), 0.0, 4.0, LORENTZ))
    0.5
    """
    u = (x - centre) / fwhh
    g = np.exp(-_4LN2 * u * u)
    lor = 1.0 / (1.0 + 4.0 * u * u)
    kind = np.asarray(kind)
    eta = np.where(kind == GAUSS, 0.0, np.where(kind == LORENTZ, 1.0, eta))
    return eta * lor + (1.0 - eta) * g


@dataclass(frozen=True)
class Recipe:
    """Parameters of the synthetic data. Ranges are (low, high).

    The realistic defaults come from the real spectra in ``shared/realdata``
    (see ``benchmarks/results/realism.md``): linewidths of 1-10 points there,
    so 1.5-20 here to cover zero-filled data; SNR of the strongest peak from
    ~100 to ~3000; t1 ridges up to a few per cent of the peak that causes them.

    Attributes
    ----------
    n_peaks : (int, int)
        Number of peaks per 128x128 area (scaled with the area), log-uniform.
    p_empty : float
        Probability of a tile with no peak at all.
    fwhh : (float, float)
        FWHH range in points for each axis (a typical width is drawn per
        spectrum, then each peak varies around it by ``fwhh_spread``).
    fwhh_spread : float
        Log-normal sigma of the per-peak width around the typical width.
    shapes : tuple of float
        Probabilities of Gaussian, Lorentzian, pseudo-Voigt per axis.
    snr : (float, float)
        Peak height / noise, log-uniform (at least 3 decades).
    target_snr : float
        Peaks at or above this SNR are targets (see module docstring).
    p_noise_free : float
        Probability of a noise-free spectrum (noise 0).
    p_cluster : float
        Probability that a peak is placed near an earlier one (overlap, shoulders).
    cluster_distance : (float, float)
        Distance to that neighbour in units of its FWHH.
    p_negative_spectrum, p_negative_peak : float
        Probability that a spectrum has negative peaks (multiplicity-edited
        HSQC), and the fraction of its peaks that are negative.
    p_ridge, ridge_strength : float, (float, float)
        Probability of t1-noise ridges, and their rms relative to the peak
        height, log-uniform; only peaks above 20x noise make visible ridges.
    p_baseline, baseline : float, (float, float)
        Probability of a baseline offset/roll and its amplitude in noise units.
    noise_corr : (float, float)
        Lag-1 correlation of the noise between neighbouring points, drawn per
        axis (real spectra: 0.2-0.9 from zero-filling and apodisation).
    p_wiggle, wiggle : float, (float, float)
        Probability of truncation (sinc) wiggles along the indirect axis and
        their relative amplitude.
    scale_decades : (float, float)
        Overall scale 10**U(a, b) (real files range over 10 orders of magnitude).
    border : float
        Centres are drawn up to this many points outside the array, so peaks
        are cut by the border.
    paper : bool
        Use the paper's protocol (overrides the rest).
    """

    n_peaks: tuple = (1, 40)
    p_empty: float = 0.06
    fwhh: tuple = (1.5, 16.0)
    fwhh_spread: float = 0.25
    shapes: tuple = (0.35, 0.25, 0.40)
    snr: tuple = (2.0, 5000.0)
    target_snr: float = 3.5
    p_noise_free: float = 0.05
    p_cluster: float = 0.35
    cluster_distance: tuple = (0.6, 2.5)
    p_negative_spectrum: float = 0.3
    p_negative_peak: float = 0.35
    p_ridge: float = 0.5
    ridge_strength: tuple = (0.002, 0.03)
    p_baseline: float = 0.5
    baseline: tuple = (0.2, 3.0)
    p_wiggle: float = 0.3
    noise_corr: tuple = (0.0, 0.92)
    wiggle: tuple = (0.03, 0.15)
    scale_decades: tuple = (-5.0, 7.0)
    border: float = 6.0
    paper: bool = False


PAPER = Recipe(paper=True)
REALISTIC = Recipe()


@dataclass
class Synthetic:
    """A synthetic spectrum and its true peaks (all positions in points).

    Attributes
    ----------
    data : ndarray of shape (N1, N2), float32
    noise : float
        Noise standard deviation in data units (0 for noise-free data).
    centre : ndarray (k, 2)
        Sub-point centres (axis 0, axis 1), 0-based.
    fwhh : ndarray (k, 2)
        FWHH per axis in points.
    amp : ndarray (k,)
        Signed heights in data units.
    shape : ndarray (k, 2) of int
        Lineshape per axis (GAUSS, LORENTZ, VOIGT).
    box : ndarray (k, 4)
        ``(y0, x0, y1, x1)``: pixel extent of the mask, end exclusive
        (rows y0..y1-1); zeros where the mask is empty.
    target : ndarray (k,) of bool
        Positive, centre inside, SNR >= recipe.target_snr, non-empty mask.
    snr : ndarray (k,)
        |amp| / noise (inf where noise is 0).
    masks : ndarray (k, N1, N2) of bool, or None
        Half-height region of each peak alone.
    """

    data: np.ndarray
    noise: float
    centre: np.ndarray
    fwhh: np.ndarray
    amp: np.ndarray
    shape: np.ndarray
    box: np.ndarray
    target: np.ndarray
    snr: np.ndarray
    masks: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    eta: np.ndarray | None = None

    def nn_distance(self):
        """Distance of each peak to its nearest neighbour, in FWHH units.

        ``sqrt((dy / wy)^2 + (dx / wx)^2)`` with w the mean FWHH of the pair;
        inf for a lone peak.
        """
        k = len(self.amp)
        if k < 2:
            return np.full(k, np.inf)
        d = self.centre[:, None, :] - self.centre[None, :, :]
        w = (self.fwhh[:, None, :] + self.fwhh[None, :, :]) / 2
        r = np.sqrt(np.sum((d / w) ** 2, axis=2))
        np.fill_diagonal(r, np.inf)
        return r.min(axis=1)

    def resolved(self, min_distance=1.0):
        """Peaks a picker can be asked to find separately.

        A peak is resolved when its nearest neighbour is at least
        ``min_distance`` FWHH away and its own height at its centre is larger
        than the sum of all other peaks' signal there (so it is not a mere
        shoulder on a stronger neighbour).
        """
        k = len(self.amp)
        if k == 0:
            return np.zeros(0, bool)
        if "resolved_own" in self.meta:      # processed recipe: measured on its own profiles
            return (self.nn_distance() >= min_distance) & self.meta["resolved_own"]
        eta = self.eta if self.eta is not None else np.full(k, 0.5)
        fy = lineshape(self.centre[:, 0][:, None], self.centre[:, 0][None, :],
                       self.fwhh[:, 0][None, :], self.shape[:, 0][None, :], eta[None, :])
        fx = lineshape(self.centre[:, 1][:, None], self.centre[:, 1][None, :],
                       self.fwhh[:, 1][None, :], self.shape[:, 1][None, :], eta[None, :])
        contrib = fy * fx * np.abs(self.amp)[None, :]   # [i, j]: peak j at centre of i
        own = np.diag(contrib).copy()
        np.fill_diagonal(contrib, 0.0)
        return (self.nn_distance() >= min_distance) & (own > contrib.sum(axis=1))

    def truth_table(self):
        """True peaks as a pandas DataFrame (0-based points, FWHH in points).

        For the processed recipe the shapes are the processed ones (no
        Gaussian/Lorentzian name) and the table adds ``KIND`` (peak or
        solvent), ``MULTIPLET`` (s, d, t, q, dd on the direct axis), ``N_LINES``,
        ``J1_HZ``/``J2_HZ`` (0 for a singlet), ``X_LINE_LW`` (FWHH of one line;
        ``X_LW`` is the extent of a multiplet's lines' half-height regions) and
        ``RESOLVED``.
        """
        import pandas as pd
        cols = {
            "Y_AXIS": self.centre[:, 0], "X_AXIS": self.centre[:, 1],
            "Y_LW": self.fwhh[:, 0], "X_LW": self.fwhh[:, 1],
            "HEIGHT": self.amp, "SNR": self.snr,
        }
        m = self.meta
        if "kind" in m:
            mult = np.asarray(m["multiplet"], dtype=object)
            j = np.asarray(m["j_hz"], float).reshape(-1, 2)
            cols.update({
                "KIND": m["kind"], "MULTIPLET": mult, "N_LINES": m["n_lines"],
                "J1_HZ": np.where(mult == "s", 0.0, j[:, 0]),
                "J2_HZ": np.where(mult == "dd", j[:, 1], 0.0),
                "X_LINE_LW": np.asarray(m["line_fwhh"]).reshape(-1, 2)[:, 1],
                "RESOLVED": self.resolved(),
            })
        else:
            cols.update({"Y_SHAPE": [SHAPE_NAMES[s] for s in self.shape[:, 0]],
                         "X_SHAPE": [SHAPE_NAMES[s] for s in self.shape[:, 1]]})
        cols["TARGET"] = self.target
        return pd.DataFrame(cols)

    def processing(self):
        """How a processed-recipe spectrum was acquired and processed (a JSON-able dict),
        or None for the other recipes."""
        m = self.meta
        if "axes" not in m:
            return None
        return dict(recipe="processed", experiment=m["experiment"], obs_1h_mhz=m["obs_1h"],
                    axes=m["axes"], t1_noise=m["t1_jitter"], indirect_first_point_unscaled=m["wrong_c0"],
                    artefacts=m["artefacts"], noise=self.noise)


def _loguniform(rng, lo, hi, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def _paper_peaks(rng, shape):
    """The paper's protocol: 1-4 peaks, G x G or G x L, non-overlapping masks."""
    k = int(rng.integers(1, 5))
    cen, wid, shp = [], [], []
    tries = 0
    while len(cen) < k and tries < 200:
        tries += 1
        w = rng.uniform(2.0, 12.0, 2)
        c = rng.uniform(w / 2, np.array(shape) - 1 - w / 2)
        # the FWHH regions are ellipses of semi-axes w/2; keep them apart
        if any(np.sum(((c - c2) / ((w + w2) / 2)) ** 2) < 1.2 for c2, w2 in zip(cen, wid)):
            continue
        s = [GAUSS, GAUSS] if rng.random() < 0.5 else [GAUSS, LORENTZ]
        if rng.random() < 0.5:
            s = s[::-1]
        cen.append(c), wid.append(w), shp.append(s)
    n = len(cen)
    return (np.array(cen).reshape(n, 2), np.array(wid).reshape(n, 2),
            np.ones(n), np.array(shp, dtype=int).reshape(n, 2))


def _realistic_peaks(rng, shape, r, area_scale):
    if rng.random() < r.p_empty:
        k = 0
    else:
        k = int(np.floor(_loguniform(rng, r.n_peaks[0], r.n_peaks[1] + 1) * area_scale))
        k = max(k, 1)
    typical = _loguniform(rng, r.fwhh[0], r.fwhh[1], 2)
    wid = typical * np.exp(rng.normal(0, r.fwhh_spread, (k, 2)))
    wid = np.clip(wid, r.fwhh[0] * 0.9, r.fwhh[1] * 1.25)
    lo = -r.border
    hi = np.array(shape, float) - 1 + r.border
    cen = rng.uniform(lo, hi, (k, 2))
    # clusters: move some peaks next to an earlier one (overlaps, shoulders)
    near = rng.random(k) < r.p_cluster
    near[0:1] = False
    for i in np.nonzero(near)[0]:
        j = int(rng.integers(0, i))
        d = rng.uniform(*r.cluster_distance)
        ang = rng.uniform(0, 2 * np.pi)
        cen[i] = cen[j] + d * (wid[i] + wid[j]) / 2 * np.array([np.sin(ang), np.cos(ang)])
    shp = rng.choice(3, size=(k, 2), p=np.array(r.shapes) / np.sum(r.shapes))
    snr = _loguniform(rng, r.snr[0], r.snr[1], k)
    return cen, wid, snr, shp


def correlated_noise(rng, shape, rho):
    """Unit-variance Gaussian noise with lag-1 correlation ``rho`` per axis.

    White noise smoothed by a Gaussian kernel of width s per axis, for which the
    lag-1 correlation is exp(-1 / (4 s^2)), then rescaled to unit variance.
    """
    from scipy.ndimage import gaussian_filter1d
    z = rng.normal(0.0, 1.0, shape)
    var = 1.0
    for ax, r in enumerate(np.atleast_1d(rho)[:2]):
        if r < 0.05:
            continue
        s = np.sqrt(-1.0 / (4.0 * np.log(min(r, 0.98))))
        z = gaussian_filter1d(z, s, axis=ax, mode="wrap", truncate=4.0)
        x = np.arange(-int(4 * s + 0.5), int(4 * s + 0.5) + 1)
        k = np.exp(-x ** 2 / (2 * s * s))
        k /= k.sum()
        var *= float(np.sum(k * k))
    return z / np.sqrt(var)


def _profiles(n, cen, wid, shp, eta):
    x = np.arange(n, dtype=np.float64)[None, :]
    return lineshape(x, cen[:, None], wid[:, None], shp[:, None], eta[:, None])


def _draw(shape, r, rng, n_peaks=None):
    """Draw the peaks and the artefact settings of one spectrum (no rendering)."""
    n0, n1 = shape
    if r.paper:
        cen, wid, amp, shp = _paper_peaks(rng, shape)
        return dict(cen=cen, wid=wid, amp=amp, shp=shp, eta=np.full(len(amp), 0.5),
                    snr=np.full(len(amp), np.inf), noise=0.0)
    if n_peaks is not None:
        r = dataclasses.replace(r, p_empty=0.0, n_peaks=(n_peaks, n_peaks))
        area = 1.0
    else:
        area = n0 * n1 / (128.0 * 128.0)
    cen, wid, snr, shp = _realistic_peaks(rng, shape, r, area)
    if n_peaks is not None:
        cen, wid, snr, shp = cen[:n_peaks], wid[:n_peaks], snr[:n_peaks], shp[:n_peaks]
    k = len(snr)
    eta = rng.uniform(0.2, 0.8, k)
    sign = np.ones(k)
    if rng.random() < r.p_negative_spectrum:
        sign[rng.random(k) < r.p_negative_peak] = -1.0
    noise = 0.0 if rng.random() < r.p_noise_free else 1.0
    amp = sign * snr
    if noise == 0.0:
        snr = np.full(k, np.inf)
    return dict(cen=cen, wid=wid, amp=amp, shp=shp, eta=eta, snr=snr, noise=noise)


def _render(shape, p, r, rng, masks=True):
    """Render drawn peaks (``_draw``) plus noise and artefacts into a Synthetic."""
    n0, n1 = shape
    cen, wid, amp, shp, eta, snr, noise = (p[k] for k in ("cen", "wid", "amp", "shp", "eta", "snr", "noise"))
    k = len(amp)
    py = _profiles(n0, cen[:, 0], wid[:, 0], shp[:, 0], eta)
    px = _profiles(n1, cen[:, 1], wid[:, 1], shp[:, 1], eta)
    # the half-height region of peak i is py(y) px(x) >= 1/2 (both profiles peak at 1)
    mask_arr = (py[:, :, None] * px[:, None, :]) >= 0.5 if (masks and k) else None
    box = np.zeros((k, 4))
    ok = np.zeros(k, bool)
    for i in range(k):
        ys = np.nonzero(py[i] * px[i].max() >= 0.5)[0]
        xs = np.nonzero(px[i] * py[i].max() >= 0.5)[0]
        if len(ys) and len(xs):
            box[i] = (ys[0], xs[0], ys[-1] + 1, xs[-1] + 1)
            ok[i] = True
    if not r.paper and k and rng.random() < r.p_wiggle:
        # truncation wiggles along the indirect axis: sinc side lobes outside the
        # central lobe (|d| >= period), so the half-height region is unchanged
        per = np.maximum(wid[:, 0] * rng.uniform(1.0, 1.6), 2.0)[:, None]
        d = np.arange(n0)[None, :] - cen[:, 0:1]
        lobes = np.sinc(d / per) * (np.abs(d) >= per)
        py = py + rng.uniform(*r.wiggle) / 0.217 * lobes * np.exp(-np.abs(d) / (8 * per))
    data = (py * amp[:, None]).T @ px
    if not r.paper:
        noise_seen = 0.0
        if noise > 0:
            field_ = correlated_noise(rng, shape, rng.uniform(*r.noise_corr, 2))
            data += noise * field_
            # what the robust estimator reports for this noise alone (correlated
            # noise reads lower than its true sigma): the scale a picker sees
            from ._noise import estimate_noise
            noise_seen = noise * estimate_noise(field_, floor=0.0)
        strong = np.nonzero(np.abs(amp) >= 20.0 * max(noise, 1e-3 * np.max(np.abs(amp), initial=1.0)))[0]
        if len(strong) and rng.random() < r.p_ridge:
            # t1-noise ridges: correlated noise along the indirect axis in the
            # columns of strong peaks, proportional to their height
            rel = _loguniform(rng, *r.ridge_strength)
            ridge = rng.normal(0, 1, (len(strong), n0 + 1))
            ridge = (ridge[:, 1:] + ridge[:, :-1]) / np.sqrt(2)
            data += (ridge * (rel * np.abs(amp[strong]))[:, None]).T @ px[strong]
        if rng.random() < r.p_baseline:
            a = rng.uniform(*r.baseline) * max(noise, 1e-3 * np.max(np.abs(amp), initial=1.0))
            yy = np.linspace(-1, 1, n0)[:, None]
            xx = np.linspace(-1, 1, n1)[None, :]
            ph = rng.uniform(0, 2 * np.pi, 2)
            fr = rng.uniform(0.2, 1.5, 2)
            data += a * (rng.uniform(-1, 1) + 0.5 * np.sin(np.pi * fr[0] * xx + ph[0])
                         + 0.5 * np.sin(np.pi * fr[1] * yy + ph[1]))
        scale = 10.0 ** rng.uniform(*r.scale_decades)
        data *= scale
        amp = amp * scale
        noise = noise * scale
        noise_seen *= scale
    else:
        noise_seen = 0.0
    inside = np.all((cen >= -0.5) & (cen < np.array(shape) - 0.5), axis=1)
    target = inside & ok & (amp > 0)
    if not r.paper:
        target &= snr >= r.target_snr
    if masks and mask_arr is None:
        mask_arr = np.zeros((0, n0, n1), bool)
    return Synthetic(data=data.astype(np.float32), noise=float(noise), centre=cen, fwhh=wid,
                     amp=amp, shape=shp, box=box, target=target, snr=snr, masks=mask_arr,
                     eta=eta, meta={"noise_estimate": float(noise_seen)})


def make_spectrum(shape=(128, 128), recipe=REALISTIC, seed=None, rng=None, masks=True,
                  n_peaks=None):
    """Make one synthetic spectrum (a tile or a whole spectrum).

    Parameters
    ----------
    shape : (int, int)
        Array shape (indirect, direct).
    recipe : Recipe
        ``PAPER`` or ``REALISTIC`` (or your own).
    seed : int or sequence of int, optional
        Seed of ``numpy.random.default_rng`` (ignored when ``rng`` is given).
    rng : numpy.random.Generator, optional
    masks : bool
        Return the (k, N1, N2) masks (set False for large spectra).
    n_peaks : int, optional
        Exact number of peaks (realistic recipe); default: drawn from the recipe.

    Returns
    -------
    Synthetic

    Examples
    --------
    >>> s = make_spectrum((128, 128), PAPER, seed=0)
    >>> s.data.shape, 1 <= len(s.amp) <= 4, float(abs(s.data).max()) <= 1.0
    ((128, 128), True, True)
    """
    rng = np.random.default_rng(seed) if rng is None else rng
    if isinstance(recipe, ProcessedRecipe):
        return _processed_render(tuple(shape), recipe, rng, masks=masks, n_peaks=n_peaks)
    return _render(shape, _draw(shape, recipe, rng, n_peaks), recipe, rng, masks)


def make_tile(seed, recipe=REALISTIC, size=128):
    """One ``size`` x ``size`` training tile (see :func:`make_spectrum`)."""
    return make_spectrum((size, size), recipe, seed=seed)


def make_tiles(n, seed=0, recipe=REALISTIC, size=128, masks=True):
    """``n`` tiles from one seed (tile i uses seed ``[seed, i]``).

    Examples
    --------
    >>> tiles = make_tiles(3, seed=1)
    >>> [t.data.shape for t in tiles]
    [(128, 128), (128, 128), (128, 128)]
    """
    return [make_spectrum((size, size), recipe, seed=[seed, i], masks=masks) for i in range(n)]


def checksum(spectra):
    """SHA-256 of the data and the true peaks of a list of Synthetic (reproducibility)."""
    h = hashlib.sha256()
    for s in spectra:
        for a in (s.data, s.centre, s.fwhh, s.amp, s.box, s.target):
            h.update(np.ascontiguousarray(a).tobytes())
        if s.masks is not None:
            h.update(np.packbits(s.masks).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- whole spectra

#: Axis set-up of simulated spectra: a 1H-15N HSQC at 600 MHz (axis 0 = 15N).
HSQC_AXES = (
    dict(label="15N", obs=60.81, centre_ppm=118.0, sw_ppm=36.0),
    dict(label="1H", obs=600.13, centre_ppm=8.25, sw_ppm=5.0),
)


def simulate(shape=(512, 1024), n_peaks=200, seed=0, recipe=REALISTIC, crowded=True,
             negative=False, noise=True):
    """A realistic whole synthetic 2D spectrum with its true peaks.

    Peaks are spread over the spectrum with crowded regions (half of them in a
    few dense clusters when ``crowded``), widths typical of one spectrum, heights
    over three decades, t1 ridges, baseline and noise as in the ``realistic`` recipe.

    Parameters
    ----------
    shape : (int, int)
    n_peaks : int
    seed : int
    recipe : Recipe
    crowded : bool
        Put about half of the peaks in dense regions.
    negative : bool
        Make about a third of the peaks negative (multiplicity-edited HSQC).
    noise : bool
        False: no noise (exactness tests).

    Returns
    -------
    Synthetic
        ``meta`` holds ``udic`` (nmrglue universal dictionary of an HSQC).

    Examples
    --------
    >>> s = simulate(shape=(64, 64), n_peaks=5, seed=0)
    >>> s.data.shape, len(s.amp)
    ((64, 64), 5)
    """
    rng = np.random.default_rng(seed)
    if isinstance(recipe, ProcessedRecipe):
        r = dataclasses.replace(recipe, p_empty=0.0, p_noise_free=0.0 if noise else 1.0,
                                scale_decades=(3.0, 6.0))
        s = _processed_render(tuple(shape), r, rng, masks=False, n_peaks=n_peaks, crowded=crowded,
                              negative=negative, whole=True)
        s.meta["udic"] = _udic_processed(shape, s.meta)
        return s
    r = dataclasses.replace(
        recipe, p_empty=0.0, p_noise_free=0.0 if noise else 1.0, fwhh=(2.0, 8.0), fwhh_spread=0.15,
        p_negative_spectrum=1.0 if negative else 0.0, snr=(3.0, 3000.0),
        border=0.0, p_ridge=1.0, ridge_strength=(0.0005, 0.004), p_wiggle=0.0,
        p_baseline=1.0, baseline=(0.1, 0.5),
        scale_decades=(3.0, 6.0))
    p = _draw(shape, r, rng, n_peaks)
    k = len(p["amp"])
    if crowded and k >= 4:
        # move about half of the peaks into a few dense regions
        n_reg = max(2, k // 15)
        lo = np.array(shape) * 0.1
        regs = rng.uniform(lo, np.array(shape) * 0.9, (n_reg, 2))
        move = rng.random(k) < 0.5
        spread = 5.0 * np.median(p["wid"], axis=0)
        p["cen"][move] = regs[rng.integers(0, n_reg, move.sum())] + rng.normal(0, 1, (move.sum(), 2)) * spread
        p["cen"] = np.clip(p["cen"], 0, np.array(shape) - 1)
    s = _render(shape, p, r, rng, masks=False)
    s.meta["udic"] = _udic(shape)
    return s


def _udic_processed(shape, meta):
    """Universal dictionary of a processed-recipe spectrum: its own nuclei, fields and widths
    (the region is the spectrum's window of ``shape`` points around the carrier)."""
    import nmrglue as ng
    udic = ng.fileiobase.create_blank_udic(2)
    centre = {"1H": 8.0 if "15N" in meta["experiment"] else 4.5, "15N": 118.0, "13C": 80.0}
    for i, ax in enumerate(meta["axes"]):
        n = shape[i]
        sw_region = ax["sw_hz"] * n / ax["size"]
        udic[i].update(size=n, complex=False, encoding="states" if i == 0 else "direct",
                       sw=sw_region, obs=ax["obs_mhz"], car=centre[ax["nucleus"]] * ax["obs_mhz"],
                       label=ax["nucleus"], time=False, freq=True)
    return udic


def _udic(shape):
    import nmrglue as ng
    udic = ng.fileiobase.create_blank_udic(2)
    for i, ax in enumerate(HSQC_AXES):
        n = shape[i]
        sw_hz = ax["sw_ppm"] * ax["obs"]
        udic[i].update(size=n, complex=False, encoding="states" if i == 0 else "direct",
                       sw=sw_hz, obs=ax["obs"], car=ax["centre_ppm"] * ax["obs"],
                       label=ax["label"], time=False, freq=True)
    return udic


def write_spectrum(path, sim, truth=True):
    """Write a synthetic spectrum as a real NMRPipe (``.ft2``/``.ft``) or UCSF file.

    ppm referencing comes from ``sim.meta["udic"]`` (an HSQC by default) through
    nmrglue's ``create_dic``/``write``. The true peaks go to ``<stem>_peaks.csv``
    beside it, with ppm columns. Both files are written atomically.

    Parameters
    ----------
    path : str or Path
        ``.ft2``, ``.ft``, ``.fid``-less NMRPipe name, or ``.ucsf``.
    sim : Synthetic
    truth : bool
        Also write the truth table.

    Returns
    -------
    list of str
        The paths written.
    """
    import nmrglue as ng
    from .files import atomic_write, atomic_write_text, transaction
    path = os.fspath(path)
    udic = sim.meta.get("udic") or _udic(sim.data.shape)
    ext = os.path.splitext(path)[1].lower()
    fmt = ng.sparky if ext == ".ucsf" else ng.pipe
    dic = fmt.create_dic(udic)
    uc = [fmt.make_uc(dic, sim.data, dim=i) for i in range(2)]
    out = [path]
    with transaction():                    # all files, or none
        atomic_write(path, lambda tmp: fmt.write(tmp, dic, sim.data, overwrite=True))
        if truth:
            t = sim.truth_table()
            t.insert(2, "Y_PPM", [uc[0].ppm(v) for v in sim.centre[:, 0]])
            t.insert(3, "X_PPM", [uc[1].ppm(v) for v in sim.centre[:, 1]])
            csv = os.path.splitext(path)[0] + "_peaks.csv"
            atomic_write(csv, lambda tmp: t.to_csv(tmp, index=False, float_format="%.10g"))
            out.append(csv)
            proc = sim.processing()
            if proc is not None:
                import json
                js = os.path.splitext(path)[0] + "_processing.json"
                atomic_write_text(js, json.dumps(proc, indent=1, default=float))
                out.append(js)
    return out


# --------------------------------------------------------------------------- processed recipe

@dataclass(frozen=True)
class ProcessedRecipe:
    """Spectra simulated through acquisition and processing (:mod:`nmrpick_ml.processing`).

    Each spectrum is one experiment, drawn per spectrum: a protein-like
    1H-15N HSQC or a small-molecule 1H-13C HSQC (``p_small``), with its
    spectrometer frequency, spectral widths, acquired points, windows,
    zero-filling, first-point scaling and residual phase. Each peak is a damped
    complex exponential per axis (a J-multiplet on the direct 1H axis with
    ``p_multiplet``), processed as NMRPipe would; noise is added in the time
    domain and processed with the signal; t1 noise is a per-increment complex
    jitter shared by all peaks. Ranges are (low, high).

    Attributes
    ----------
    n_peaks : (int, int)
        Peaks per 128x128 area (scaled with the area), log-uniform.
    p_empty : float
        Probability of a tile without peaks.
    p_small : float
        Probability of a small-molecule 1H-13C experiment (else protein 1H-15N).
    snr : (float, float)
        Peak height / processed noise, log-uniform.
    snr_ceiling : (float, float)
        Per spectrum, the upper end of ``snr`` is drawn log-uniform in this
        range (real spectra have their strongest peak at 200-3000x noise).
    target_snr : float
        Peaks at or above this SNR are targets.
    p_strong, strong_snr : float, (float, float)
        Probability of one extra very strong line (solvent or reference:
        CDCl3, TMS, a methyl), a target, and its SNR.
    p_cluster, cluster_distance : float, (float, float)
        Peaks placed next to an earlier one, at this distance in FWHH.
    p_multiplet : float
        Small molecules: probability that a peak's 1H is a d, t, q or dd.
    j_hz : (float, float)
        J coupling range (Hz).
    p_negative_spectrum, p_negative_peak : float
        Multiplicity-edited spectra and their fraction of negative peaks.
    t1_jitter : (float, float)
        rms of the per-increment amplitude/phase jitter (fraction), log-uniform.
    p_t1 : float
        Probability of t1 noise.
    p_sidebands, sideband : float, (float, float)
        Decoupling sidebands: probability, relative height (log-uniform).
    p_water, water : float, (float, float)
        Protein: a residual water column (no peak, t1 noise only) and its rms in noise units.
    p_baseline, baseline : float, (float, float)
        Baseline offset/roll and its amplitude in noise units.
    p_wrong_c0 : float
        Probability that the indirect first point is not scaled (c0 = 1):
        a baseline offset along the indirect axis under every peak.
    phase_deg : float
        Residual zero-order phase error, uniform in +-phase_deg, per axis.
    p_noise_free : float
    scale_decades : (float, float)
    border : float
        Centres drawn up to this many points outside the array.
    """

    n_peaks: tuple = (1, 30)
    p_empty: float = 0.05
    p_small: float = 0.5
    snr: tuple = (2.0, 20000.0)
    snr_ceiling: tuple = (100.0, 20000.0)
    target_snr: float = 3.5
    p_strong: float = 0.25
    strong_snr: tuple = (1000.0, 100000.0)
    p_cluster: float = 0.3
    cluster_distance: tuple = (0.6, 2.5)
    p_multiplet: float = 0.6
    j_hz: tuple = (2.0, 18.0)
    p_negative_spectrum: float = 0.3
    p_negative_peak: float = 0.35
    p_t1: float = 0.6
    t1_jitter: tuple = (0.002, 0.08)
    p_sidebands: float = 0.3
    sideband: tuple = (0.001, 0.02)
    p_water: float = 0.25
    water: tuple = (3.0, 200.0)
    p_baseline: float = 0.3
    baseline: tuple = (0.1, 2.0)
    p_wrong_c0: float = 0.15
    phase_deg: float = 4.0
    p_noise_free: float = 0.03
    scale_decades: tuple = (-5.0, 7.0)
    border: float = 6.0


PROCESSED = ProcessedRecipe()

#: Multiplets of the direct 1H axis: name -> (offsets in units of J, intensities).
MULTIPLETS = {
    "s": ((0.0,), (1.0,)),
    "d": ((-0.5, 0.5), (1.0, 1.0)),
    "t": ((-1.0, 0.0, 1.0), (0.5, 1.0, 0.5)),
    "q": ((-1.5, -0.5, 0.5, 1.5), (1 / 3, 1.0, 1.0, 1 / 3)),
    "dd": (None, (1.0, 1.0, 1.0, 1.0)),
}
_MULT_NAMES = ("s", "d", "t", "q", "dd")


def _draw_axis(rng, nucleus, obs_1h, small, min_size):
    """Acquisition and processing of one axis (real ranges, ``shared/processing.md``)."""
    from .processing import Axis, Window
    ratio = {"1H": 1.0, "15N": 0.10133, "13C": 0.25145}[nucleus]
    obs = obs_1h * ratio
    if nucleus == "1H":
        sw_ppm = rng.uniform(8.0, 20.0) if small else rng.uniform(12.0, 16.0)
        n_acq = int(_loguniform(rng, 512, 2048))
        fwhh_hz = _loguniform(rng, 0.8, 5.0) if small else _loguniform(rng, 12.0, 35.0)
    elif nucleus == "15N":
        sw_ppm = rng.uniform(25.0, 40.0)
        n_acq = int(_loguniform(rng, 64, 256))
        fwhh_hz = _loguniform(rng, 4.0, 15.0)
    else:
        sw_ppm = rng.uniform(140.0, 220.0)
        n_acq = int(_loguniform(rng, 128, 512))
        fwhh_hz = _loguniform(rng, 5.0, 40.0)
    sw = sw_ppm * obs
    zfs = (1, 1, 1, 2, 2, 4, 8) if (small and nucleus == "1H") else (1, 1, 2, 2, 4, 8)
    zf = zfs[rng.integers(len(zfs))]           # rng.choice's draw, without its overhead
    if rng.random() < 0.2:
        # NMRPipe ZF -size N: any size (or an extracted region of a zero-filled axis)
        size = int(2 * np.ceil(max(n_acq * rng.uniform(1.0, 4.0), min_size) / 2))
    else:
        size = int(2 ** np.ceil(np.log2(max(n_acq * zf, min_size))))
    direct = nucleus == "1H"
    u = rng.random()
    if direct and small:
        kind = "sp" if u < 0.45 else "em" if u < 0.75 else "gm" if u < 0.9 else "none"
    elif direct:
        kind = "sp" if u < 0.6 else "em" if u < 0.85 else "gm" if u < 0.95 else "none"
    else:
        kind = "sp" if u < 0.5 else "em" if u < 0.8 else "gm" if u < 0.9 else "none"
    if kind == "sp":
        # TopSpin QSINE/SINE SSB 2 (off 0.5), 3-4 (0.25-0.33), 0-1 (a plain sine, off ~0)
        v = rng.random()
        off = 0.5 if v < 0.35 else rng.uniform(0.25, 0.5) if v < 0.65 else rng.uniform(0.0, 0.15)
        win = Window("sp", off=off, end=rng.uniform(0.98, 1.0), power=(1.0, 2.0)[rng.integers(2)])
    elif kind == "em":
        win = Window("em", lb=_loguniform(rng, 0.3, 5.0) if direct else _loguniform(rng, 2.0, 30.0))
    elif kind == "gm":
        g1 = rng.uniform(0.3, 1.0) * fwhh_hz
        win = Window("gm", lb=g1, gb=_loguniform(rng, 1.0, 3.0) * max(g1, 1.0 / (n_acq / sw)))
    else:
        win = Window("none")
    c0 = 0.5
    ax = Axis(n_acq=n_acq, sw=float(sw), size=size, window=win, c0=c0,
              phase=float(np.deg2rad(rng.uniform(-1, 1))))
    return ax, dict(nucleus=nucleus, obs=float(obs), sw_ppm=float(sw_ppm), fwhh_hz=float(fwhh_hz),
                    zf=round(size / n_acq, 3))


def _processed_render(shape, r, rng, masks=True, n_peaks=None, crowded=False, negative=None,
                      whole=False):
    """Draw and render one spectrum of the processed recipe (see :class:`ProcessedRecipe`)."""
    from .processing import apex_and_half_widths, line_profile, processed_noise, ridge_profiles, window_array
    n0, n1 = shape
    small = rng.random() < r.p_small
    obs_1h = rng.uniform(400.0, 800.0) if small else rng.uniform(600.0, 950.0)
    ax1, m1 = _draw_axis(rng, "1H", obs_1h, small, n1)
    ax0, m0 = _draw_axis(rng, "13C" if small else "15N", obs_1h, small, n0)
    phase = np.deg2rad(rng.uniform(-r.phase_deg, r.phase_deg, 2))
    wrong_c0 = rng.random() < r.p_wrong_c0
    ax0 = dataclasses.replace(ax0, phase=float(phase[0]), c0=1.0 if wrong_c0 else 0.5)
    ax1 = dataclasses.replace(ax1, phase=float(phase[1]))
    axes = (ax0, ax1)

    # ---- peaks: number, positions (points), widths (R2), multiplets, heights
    if n_peaks is not None:
        k = int(n_peaks)
    elif rng.random() < r.p_empty:
        k = 0
    else:
        area = n0 * n1 / (128.0 * 128.0)
        k = max(1, int(np.floor(_loguniform(rng, r.n_peaks[0], r.n_peaks[1] + 1) * area)))
    r2 = np.empty((k, 2))
    for a, m in enumerate((m0, m1)):
        r2[:, a] = np.pi * m["fwhh_hz"] * np.exp(rng.normal(0.0, 0.2, k))
    border = 0.0 if whole else r.border
    cen = rng.uniform(-border, np.array(shape, float) - 1 + border, (k, 2))
    # approximate FWHH in points (for clustering): natural width or 1/AQ, whichever larger
    approx = np.column_stack([
        np.maximum(r2[:, a] / np.pi, 1.0 / ax.aq) / ax.hz_per_point for a, ax in enumerate(axes)])
    near = rng.random(k) < r.p_cluster
    near[:1] = False
    for i in np.nonzero(near)[0]:
        j = int(rng.integers(0, i))
        d = rng.uniform(*r.cluster_distance)
        ang = rng.uniform(0, 2 * np.pi)
        cen[i] = cen[j] + d * (approx[i] + approx[j]) / 2 * np.array([np.sin(ang), np.cos(ang)])
    if crowded and k >= 4:
        n_reg = max(2, k // 15)
        regs = rng.uniform(np.array(shape) * 0.1, np.array(shape) * 0.9, (n_reg, 2))
        move = rng.random(k) < 0.5
        spread = 5.0 * np.median(approx, axis=0)
        cen[move] = regs[rng.integers(0, n_reg, move.sum())] + rng.normal(0, 1, (move.sum(), 2)) * spread
    if whole:
        cen = np.clip(cen, 0, np.array(shape) - 1)
    hi = min(r.snr[1], _loguniform(rng, *r.snr_ceiling))
    snr = _loguniform(rng, r.snr[0], max(hi, r.snr[0] * 1.01), k) if k else np.zeros(0)
    kind = np.array(["peak"] * k, dtype=object)
    if k and rng.random() < r.p_strong:
        i = int(rng.integers(0, k))
        snr[i] = _loguniform(rng, *r.strong_snr)
        kind[i] = "solvent"
    sign = np.ones(k)
    neg_spec = (rng.random() < r.p_negative_spectrum) if negative is None else bool(negative)
    if neg_spec:
        sign[rng.random(k) < r.p_negative_peak] = -1.0
    # multiplets on the direct 1H axis (small molecules)
    mult = np.array(["s"] * k, dtype=object)
    jhz = np.zeros((k, 2))
    if small:
        has = rng.random(k) < r.p_multiplet
        mult[has] = rng.choice(_MULT_NAMES[1:], size=int(has.sum()), p=[0.45, 0.2, 0.1, 0.25])
        jhz[:, 0] = rng.uniform(*r.j_hz, k)
        jhz[:, 1] = rng.uniform(r.j_hz[0], np.maximum(jhz[:, 0], r.j_hz[0] + 0.1), k)
    mult[kind == "solvent"] = "s"

    # lines of the direct axis: (peak, offset in points, intensity)
    lp, lo, li = [], [], []
    hzpt = ax1.hz_per_point
    for i in range(k):
        if mult[i] == "dd":
            j1, j2 = jhz[i]
            offs = np.array([-j1 - j2, -j1 + j2, j1 - j2, j1 + j2]) / 2
            ints = MULTIPLETS["dd"][1]
        else:
            o, ints = MULTIPLETS[mult[i]]
            offs = np.array(o) * jhz[i, 0]
        lp.extend([i] * len(offs))
        lo.extend(list(offs / hzpt))
        li.extend(ints)
    lp, lo, li = np.array(lp, int), np.array(lo, float), np.array(li, float)

    # ---- profiles (normalised to a singlet apex of 1) and truth widths
    y = np.arange(n0, dtype=float)
    x = np.arange(n1, dtype=float)
    a0, hl0, hr0 = apex_and_half_widths(ax0, r2[:, 0])
    a1, hl1, hr1 = apex_and_half_widths(ax1, r2[:, 1])
    py = line_profile(ax0, y[None, :] - cen[:, :1], r2[:, :1]) / a0[:, None] if k else np.zeros((0, n0))
    lines = (line_profile(ax1, x[None, :] - (cen[lp, 1] + lo)[:, None], r2[lp, 1:2]) / a1[lp][:, None]
             if len(lp) else np.zeros((0, n1)))
    px = np.zeros((k, n1))
    np.add.at(px, lp, lines * li[:, None])

    # ---- noise level and heights
    noise = 0.0 if rng.random() < r.p_noise_free else 1.0
    amp = sign * snr * (noise if noise > 0 else 1.0)
    if noise == 0.0:
        snr = np.full(k, np.inf)
    # ---- masks: union of each line's own half-height region; boxes; targets
    box = np.zeros((k, 4))
    ok = np.zeros(k, bool)
    mask_arr = np.zeros((k, n0, n1), bool) if masks else None
    if k:
        starts = np.searchsorted(lp, np.arange(k))            # lines are grouped by peak
        lmax = lines.max(axis=1)
        rl = py[lp] * lmax[:, None] >= 0.5                      # each line's rows and columns
        cl = lines * py.max(axis=1)[lp][:, None] >= 0.5
        rows = np.logical_or.reduceat(rl, starts, axis=0)
        cols = np.logical_or.reduceat(cl, starts, axis=0)
        ok = rows.any(axis=1) & cols.any(axis=1)
        r0, r1 = np.argmax(rows, axis=1), n0 - np.argmax(rows[:, ::-1], axis=1)
        c0_, c1_ = np.argmax(cols, axis=1), n1 - np.argmax(cols[:, ::-1], axis=1)
        box = np.where(ok[:, None], np.column_stack([r0, c0_, r1, c1_]), 0).astype(float)
        if masks:
            # each line's region lies inside its own box: fill it there only
            for l_ in np.nonzero(rl.any(axis=1) & cl.any(axis=1))[0]:
                ys = np.nonzero(rl[l_])[0]
                xs = np.nonzero(cl[l_])[0]
                a_, b_, c_, d_ = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
                mask_arr[lp[l_], a_:b_, c_:d_] |= py[lp[l_], a_:b_, None] * lines[l_, None, c_:d_] >= 0.5
    fw = np.column_stack([hl0 + hr0, hl1 + hr1]) if k else np.zeros((0, 2))
    line_fw = fw.copy()
    if k:
        ext = np.maximum.reduceat(lo, starts) - np.minimum.reduceat(lo, starts)
        fw[:, 1] = fw[:, 1] + ext         # a multiplet's width: the extent of its lines' regions

    # ---- data: peaks, t1 noise, sidebands, water, baseline, noise
    py_data = py.copy()
    jitter = None
    if k and rng.random() < r.p_t1:
        rel = _loguniform(rng, *r.t1_jitter)
        jitter = rel * (rng.standard_normal(ax0.n_acq) + 1j * rng.standard_normal(ax0.n_acq)) / np.sqrt(2)
        strong = np.nonzero(np.abs(snr) * rel >= 0.5)[0] if noise > 0 else np.arange(k)
        if len(strong):
            rp = ridge_profiles(jitter, ax0, cen[strong, 0], r2[strong, 0], a0[strong])
            idx = np.arange(n0)
            py_data[strong] += rp[:, idx % ax0.size]
    data = (py_data * amp[:, None]).T @ px
    artefacts = dict(sidebands=0, water=False)
    if k and rng.random() < r.p_sidebands:
        # weak copies of strong peaks at a fixed offset along the direct axis
        rel = _loguniform(rng, *r.sideband)
        off = rng.uniform(30.0, 300.0) / hzpt * rng.choice([-1, 1])
        strong = np.nonzero(np.abs(snr) * rel >= 1.0)[0] if noise > 0 else np.arange(k)
        if len(strong):
            # all lines of all strong peaks, both offsets, in one evaluation:
            # rows grouped by (peak, offset), each group summed over its lines
            sel = [np.nonzero(lp == i)[0] for i in strong]
            rows = np.concatenate([np.concatenate([q, q]) for q in sel])
            shift = np.concatenate([np.repeat([-off, off], len(q)) for q in sel])
            prof = (line_profile(ax1, x[None, :] - (cen[lp[rows], 1] + lo[rows] + shift)[:, None],
                                 r2[lp[rows], 1][:, None]) / a1[lp[rows]][:, None] * li[rows][:, None])
            group = np.cumsum([0] + [len(q) for q in sel for _ in range(2)])[:-1]
            per = np.add.reduceat(prof, group, axis=0).reshape(len(strong), 2, n1)
            sb = np.zeros((len(strong), n1))
            sb += per[:, 0]
            sb += per[:, 1]
            data += (py[strong] * (rel * amp[strong])[:, None]).T @ sb
            artefacts["sidebands"] = int(len(strong))
    if not small and noise > 0 and rng.random() < r.p_water:
        # residual water: t1 noise only, a column without a peak
        xw = rng.uniform(-border, n1 - 1 + border)
        col = line_profile(ax1, x - xw, np.pi * _loguniform(rng, 20.0, 80.0))
        col = col / max(float(np.max(col)), 1e-12)
        w0 = window_array(ax0)
        e = (rng.standard_normal(ax0.n_acq) + 1j * rng.standard_normal(ax0.n_acq)) * w0
        prof = np.fft.fft(e, n=ax0.size).real[np.arange(n0) % ax0.size]
        prof /= max(float(np.std(prof)), 1e-12)
        data += _loguniform(rng, *r.water) * noise * np.outer(prof, col)
        artefacts["water"] = True
    if rng.random() < r.p_baseline:
        # in noise units (noise-free: relative to the strongest peak)
        a = rng.uniform(*r.baseline) * (noise if noise > 0 else 1e-3 * np.max(np.abs(amp), initial=1.0))
        yy = np.linspace(-1, 1, n0)[:, None]
        xx = np.linspace(-1, 1, n1)[None, :]
        ph = rng.uniform(0, 2 * np.pi, 2)
        fr = rng.uniform(0.2, 1.5, 2)
        data += a * (rng.uniform(-1, 1) + 0.5 * np.sin(np.pi * fr[0] * xx + ph[0])
                     + 0.5 * np.sin(np.pi * fr[1] * yy + ph[1]))
    noise_seen = 0.0
    if noise > 0:
        field_ = processed_noise(rng, shape, axes)
        data += noise * field_
        from ._noise import estimate_noise
        noise_seen = noise * estimate_noise(field_, floor=0.0)
    scale = 10.0 ** rng.uniform(*r.scale_decades)
    data *= scale
    amp = amp * scale
    noise *= scale
    noise_seen *= scale
    inside = np.all((cen >= -0.5) & (cen < np.array(shape) - 0.5), axis=1) if k else np.zeros(0, bool)
    target = inside & ok & (amp > 0) & (snr >= r.target_snr)
    # resolved: own height at its centre larger than the other peaks' signal there
    if k:
        iy = np.clip(np.rint(cen[:, 0]).astype(int), 0, n0 - 1)
        ix = np.clip(np.rint(cen[:, 1]).astype(int), 0, n1 - 1)
        contrib = np.abs(py[:, iy].T * px[:, ix].T * np.abs(amp)[None, :])   # [i, j]: peak j at i
        own = np.diag(contrib).copy()
        np.fill_diagonal(contrib, 0.0)
        res_own = own > contrib.sum(axis=1)
    else:
        res_own = np.zeros(0, bool)
    meta = dict(noise_estimate=float(noise_seen), recipe="processed",
                experiment="13C HSQC (small molecule)" if small else "15N HSQC (protein)",
                axes=[_axis_meta(ax, m) for ax, m in ((ax0, m0), (ax1, m1))],
                kind=kind, multiplet=mult, j_hz=jhz, line_fwhh=line_fw, r2=r2,
                n_lines=np.bincount(lp, minlength=k) if k else np.zeros(0, int),
                resolved_own=res_own, artefacts=artefacts, t1_jitter=jitter is not None,
                wrong_c0=bool(wrong_c0), obs_1h=float(obs_1h))
    if masks and mask_arr is None:
        mask_arr = np.zeros((0, n0, n1), bool)
    return Synthetic(data=data.astype(np.float32), noise=float(noise), centre=cen, fwhh=fw,
                     amp=amp, shape=np.full((k, 2), VOIGT), box=box, target=target, snr=snr,
                     masks=mask_arr, eta=np.full(k, 0.5), meta=meta)


def _axis_meta(ax, m):
    w = ax.window
    return dict(nucleus=m["nucleus"], obs_mhz=m["obs"], sw_hz=ax.sw, sw_ppm=m["sw_ppm"],
                n_acq=ax.n_acq, size=ax.size, zf=m["zf"], aq_s=ax.aq, window=w.kind,
                off=w.off, end=w.end, power=w.power, lb=w.lb, gb=w.gb, c0=ax.c0,
                phase_deg=float(np.rad2deg(ax.phase)), fwhh_hz=m["fwhh_hz"])
