"""Measure what makes a 2D spectrum realistic, and compare real with synthetic.

:func:`measure` reduces any 2D spectrum (numpy axis 0 = indirect) to a few
numbers: robust noise, linewidths (FWHH in points) of the strongest isolated
peaks, SNR of the maxima, strength of the t1-noise ridge under the strongest
peak, and the baseline. :func:`realism_table` measures the real spectra in
``shared/realdata`` and synthetic spectra of the ``realistic`` recipe the same
way and writes a markdown table with computed verdicts (is each real value
inside the synthetic range?). ``python benchmarks/realism.py`` makes
``benchmarks/results/realism.md``.
"""

from __future__ import annotations

import json
import os

import numpy as np
from scipy import ndimage

from ._noise import estimate_noise
from ._refine import half_width

__all__ = ["measure", "measure_fwhh", "load_real", "realism_table"]

#: Maxima above this many times the noise count as peaks.
PEAK_SNR = 10.0
#: At most this many isolated maxima are used for the linewidths.
N_ISOLATED = 20
#: Only maxima above this fraction of the strongest are used for the linewidths
#: (t1-ridge and truncation-wiggle maxima reach ~0.1-0.15 of the peak that makes them).
LW_FRACTION = 0.2
#: Isolation: no other maximum above ``ISO_FRACTION`` x the height within
#: ``ISO_WIDTHS`` FWHH on each axis.
ISO_FRACTION = 0.5
ISO_WIDTHS = 3.0
#: t1 ridge: rows within this many FWHH (axis 0) of the strongest peak are left out.
RIDGE_EXCLUDE = 3.0
#: Below this FWHH (points) the 3-point log-parabola width replaces the crossings.
NARROW = 2.0
#: Other peaks above this fraction of the strongest are left out of its ridge column.
RIDGE_OTHER = 0.15
#: Width (points) of the Gaussian-weighted background that the noise's own rms is taken about.
QUIET_SMOOTH = 8.0


# --------------------------------------------------------------------------- measurement

def _apex(profile, i):
    """Height of a 1D profile's apex near sample ``i`` (parabola through log values)."""
    h = float(profile[i])
    if 0 < i < len(profile) - 1:
        a, b, c = float(profile[i - 1]), h, float(profile[i + 1])
        if a > 0 and c > 0 and b >= a and b >= c:
            la, lb, lc = np.log(a), np.log(b), np.log(c)
            den = la - 2 * lb + lc
            if den < 0:
                d = 0.5 * (la - lc) / den          # vertex offset, |d| <= 0.5
                return float(np.exp(lb - 0.25 * (la - lc) * d))
    return h


def _half_width(profile, i):
    """FWHH (points) of the peak at sample ``i`` of a 1D profile, or nan.

    Half height is half of the apex (log-parabola through the 3 samples around
    ``i``); the crossings on each side are :func:`nmrpick_ml._refine.half_width`'s
    (walking out from ``i``, linear interpolation), here without the neighbour
    stop and nan where a side runs into the border.
    """
    w = half_width(profile, float(i), _apex(profile, i), neighbours=False, one_sided=False)
    if w is None:
        return np.nan                           # the peak runs into the border
    width = float(w)
    if width < NARROW:
        # sub-2-point lines: linear interpolation is unreliable (it can collapse to
        # ~0 when the apex lies between two samples); use the 3-point Gaussian width
        # from the curvature of log(profile) instead (exact for a Gaussian)
        lw = _log_parabola_width(profile, i)
        if np.isfinite(lw):
            width = lw
    return width


def _log_parabola_width(profile, i):
    if not 0 < i < len(profile) - 1:
        return np.nan
    a, b, c = (float(v) for v in profile[i - 1:i + 2])
    if min(a, b, c) <= 0:
        return np.nan
    den = np.log(a) - 2 * np.log(b) + np.log(c)
    return float(np.sqrt(-8.0 * np.log(2.0) / den)) if den < 0 else np.nan


def measure_fwhh(data, y, x):
    """FWHH (axis 0, axis 1) in points of the peak whose maximum is at ``(y, x)``."""
    return _half_width(data[:, x], y), _half_width(data[y, :], x)


def _robust_rms(v):
    v = np.asarray(v, float)
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def _baseline_map(data, noise, quiet):
    """Coarse 8x8 map of the baseline: per block, the sigma-clipped median of the
    points away from peaks (nan where fewer than a quarter of the block is left)."""
    b0 = max(1, data.shape[0] // 8)
    b1 = max(1, data.shape[1] // 8)
    out = np.full((data.shape[0] // b0, data.shape[1] // b1), np.nan)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            sl = np.s_[i * b0:(i + 1) * b0, j * b1:(j + 1) * b1]
            v = data[sl][quiet[sl]]
            if v.size < 0.25 * b0 * b1 or v.size == 0:
                continue
            m = float(np.median(v))
            for _ in range(5):                      # clip what is left of peak tails
                w = v[np.abs(v - m) <= 3.0 * noise]
                if not w.size:
                    break
                m = float(np.median(w))
            out[i, j] = m
    return out


def _quiet_rms(data, quiet, sigma=QUIET_SMOOTH):
    """Robust rms (1.4826 MAD) of the points away from peaks about their smooth
    background: the noise's own standard deviation, the scale of its correlation
    figures. The background is the Gaussian-weighted mean (``sigma`` points) of
    the quiet points around each one: it follows baselines and peak tails, and
    takes out about 1 % of the variance of noise correlated over a few points."""
    q = quiet.astype(float)
    w = ndimage.gaussian_filter(q, sigma, mode="nearest")
    bg = ndimage.gaussian_filter(np.where(quiet, data, 0.0), sigma, mode="nearest") / np.maximum(w, 1e-12)
    v = (data - bg)[quiet]
    return _robust_rms(v) if v.size >= 50 else float("nan")


def _lag1(data, quiet, axis, noise):
    """Lag-1 autocorrelation of the noise along ``axis``: 1 - var(d) / (2 noise^2),
    d the first differences between quiet neighbours (robust MAD variance). Smooth
    backgrounds (baseline, peak tails) hardly change d, so they do not count."""
    d = np.diff(data, axis=axis)
    both = quiet & np.roll(quiet, -1, axis=axis)
    both = both[:-1] if axis == 0 else both[:, :-1]
    if d[both].size < 50:
        return float("nan")
    return float(1.0 - _robust_rms(d[both]) ** 2 / (2.0 * noise ** 2))


def _lag(data, quiet, axis, noise, lag):
    """Lag-``lag`` autocorrelation of the noise along ``axis`` (as :func:`_lag1`)."""
    n = data.shape[axis]
    if n <= lag:
        return float("nan")
    a = np.take(data, np.arange(lag, n), axis=axis) - np.take(data, np.arange(n - lag), axis=axis)
    both = np.take(quiet, np.arange(lag, n), axis=axis) & np.take(quiet, np.arange(n - lag), axis=axis)
    if a[both].size < 50:
        return float("nan")
    return float(1.0 - _robust_rms(a[both]) ** 2 / (2.0 * noise ** 2))


def _sidelobe(profile, i, fwhh):
    """Deepest value (over the apex height) of a 1D profile at 0.75-4 FWHH (+3 points)
    from its apex at sample ``i``: about -0.22 for an unapodised truncated line,
    near 0 for a well-apodised one."""
    h = float(profile[i])
    if not (h > 0 and np.isfinite(fwhh)):
        return float("nan")
    d = np.abs(np.arange(len(profile)) - i)
    sel = (d >= max(1.0, 0.75 * fwhh)) & (d <= 4.0 * fwhh + 3.0)
    if not sel.any():
        return float("nan")
    return float(np.min(profile[sel]) / h)


def measure(data, noise=None):
    """Realism statistics of a 2D spectrum (numpy axis 0 = indirect axis).

    Parameters
    ----------
    data : ndarray of shape (N0, N1)
    noise : float, optional
        Noise standard deviation. Default: :func:`estimate_noise` without its
        floor (falling back to the floored estimate for noise-free data).

    Returns
    -------
    dict
        ``noise``
            the noise used.
        ``n_maxima``
            number of 3x3 local maxima above 10x noise.
        ``fwhh0``, ``fwhh1``
            arrays: FWHH (points) on each axis of up to 20 of the strongest
            isolated maxima (above 0.2x the strongest; no other maximum above
            0.5x within 3 FWHH).
        ``snr_max``, ``snr_p5``, ``snr_p50``, ``snr_p95``
            height / noise of the strongest maximum, and percentiles over the
            maxima above 10x noise.
        ``ridge``
            t1 ridge: robust rms (1.4826 MAD) along axis 0 of the strongest
            peak's column, rows within 3 FWHH of it left out, minus the noise in
            quadrature, over that peak's height; 0 when not 3 standard errors
            above the noise.
        ``ridge_local``
            the same, against the median robust rms of the neighbouring columns
            (3-10 FWHH away) instead of the global noise: insensitive to
            crowding and to noise that is correlated along axis 0.
        ``ridge_rms``
            that column's robust rms / noise.
        ``baseline_median``
            median of the data / noise.
        ``baseline_map_range``, ``baseline_map_absmax``
            range and largest absolute value of a coarse 8x8 baseline map
            (sigma-clipped block medians of the points away from peaks) / noise.
        ``noise_corr0``, ``noise_corr1``
            lag-1 autocorrelation of the noise along each axis (0 for white
            noise): ``1 - var(x[i+1] - x[i]) / (2 s^2)`` over pairs of points
            away from peaks, ``s`` the robust rms of those points about their
            smooth background (:func:`_quiet_rms`; ``noise_quiet`` = s / noise). Not against ``noise``:
            :func:`estimate_noise` is local and reads strongly correlated noise
            low (0.7x on deep_picker's crop), which made lag-2 figures of -0.7
            where the noise's autocorrelation is +0.15.
        ``noise_corr0_2``, ``noise_corr1_2``
            the same at lag 2.
        ``sidelobe0``, ``sidelobe1``
            arrays: for each isolated peak of ``fwhh0``, the deepest value /
            height along axis 0 (its column) and axis 1 (its row) at 0.75-4
            FWHH from it (:func:`_sidelobe`).
        ``dynamic_range``
            strongest maximum / noise (``snr_max``).
        ``strongest``
            (row, column) of the strongest maximum.

        Peak quantities are nan when no maximum is above 10x noise.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"measure needs a 2D array, got shape {data.shape}")
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if noise is None:
        noise = estimate_noise(data, floor=0.0)
        if noise <= 1e-6 * peak:                # noise-free: use the floored scale
            noise = estimate_noise(data)
    noise = float(noise)
    nan = float("nan")
    out = dict(noise=noise, n_maxima=0, fwhh0=np.array([]), fwhh1=np.array([]),
               snr_max=nan, snr_p5=nan, snr_p50=nan, snr_p95=nan, ridge=nan,
               ridge_local=nan, ridge_rms=nan, baseline_median=nan, baseline_map_range=nan,
               baseline_map_absmax=nan, noise_corr0=nan, noise_corr1=nan, noise_corr0_2=nan,
               noise_corr1_2=nan, noise_quiet=nan, sidelobe0=nan, sidelobe1=nan, dynamic_range=nan, strongest=None)
    if noise <= 0:
        return out

    # baseline and noise texture, from the points away from peaks
    quiet = ~ndimage.binary_dilation(np.abs(data - np.median(data)) > 5.0 * noise,
                                     structure=np.ones((5, 5), bool))
    bmap = _baseline_map(data, noise, quiet)
    out["baseline_median"] = float(np.median(data)) / noise
    if np.isfinite(bmap).any():
        out["baseline_map_range"] = float(np.nanmax(bmap) - np.nanmin(bmap)) / noise
        out["baseline_map_absmax"] = float(np.nanmax(np.abs(bmap))) / noise
    # correlations against the variance of the same quiet points (not ``noise``:
    # a local estimator reads correlated noise low, which biases 1 - var(d)/(2 s^2))
    s_q = _quiet_rms(data, quiet)
    out["noise_quiet"] = s_q / noise
    out["noise_corr0"], out["noise_corr1"] = _lag1(data, quiet, 0, s_q), _lag1(data, quiet, 1, s_q)
    out["noise_corr0_2"] = _lag(data, quiet, 0, s_q, 2)
    out["noise_corr1_2"] = _lag(data, quiet, 1, s_q, 2)

    # local maxima (3x3) above 10x noise, strongest first
    is_max = (data == ndimage.maximum_filter(data, size=3, mode="nearest"))
    ys, xs = np.nonzero(is_max & (data > PEAK_SNR * noise))
    order = np.argsort(-data[ys, xs], kind="stable")
    ys, xs = ys[order], xs[order]
    if len(ys) == 0:
        return out
    h = data[ys, xs]
    snr = h / noise
    out.update(n_maxima=int(len(ys)), snr_max=float(snr[0]),
               snr_p5=float(np.percentile(snr, 5)), snr_p50=float(np.percentile(snr, 50)),
               snr_p95=float(np.percentile(snr, 95)), strongest=(int(ys[0]), int(xs[0])))

    # linewidths of the strongest isolated maxima (isolation against maxima of any height)
    ay, ax = np.nonzero(is_max & (data > 0))
    ah = data[ay, ax]
    w0s, w1s, sl0, sl1 = [], [], [], []
    for y, x, hh in zip(ys, xs, h):
        if len(w0s) >= N_ISOLATED or hh < LW_FRACTION * h[0]:
            break
        w0, w1 = measure_fwhh(data, y, x)
        if not (np.isfinite(w0) and np.isfinite(w1)):
            continue
        near = ((np.abs(ay - y) <= ISO_WIDTHS * w0) & (np.abs(ax - x) <= ISO_WIDTHS * w1)
                & (ah > ISO_FRACTION * hh) & ~((ay == y) & (ax == x)))
        if near.any():
            continue
        w0s.append(w0), w1s.append(w1)
        sl0.append(_sidelobe(data[:, x], y, w0)), sl1.append(_sidelobe(data[y, :], x, w1))
    out["fwhh0"], out["fwhh1"] = np.array(w0s), np.array(w1s)
    out["sidelobe0"], out["sidelobe1"] = np.array(sl0), np.array(sl1)

    # t1 ridge under the strongest peak
    y, x = ys[0], xs[0]
    w0, w1 = measure_fwhh(data, y, x)
    if not np.isfinite(w0):
        w0 = float(np.median(w0s)) if w0s else 3.0
    if not np.isfinite(w1):
        w1 = float(np.median(w1s)) if w1s else 3.0
    out["dynamic_range"] = out["snr_max"]
    # leave out the rows near the strongest peak and near other real peaks in this
    # column (maxima above RIDGE_OTHER x its height; weaker ones may be the ridge)
    r_ex = max(3.0, RIDGE_EXCLUDE * w0)
    rows = np.abs(np.arange(data.shape[0]) - y) > r_ex
    for yo in ys[(np.abs(xs - x) <= max(1.0, w1)) & (h > RIDGE_OTHER * h[0])]:
        rows &= np.abs(np.arange(data.shape[0]) - yo) > r_ex
    col = data[rows, x]
    if len(col) >= 8:
        tol = 1.0 + 3.0 * 1.17 / np.sqrt(len(col))  # robust rms of noise scatters ~1.17/sqrt(n)
        rms = _robust_rms(col)
        out["ridge_rms"] = rms / noise
        out["ridge"] = float(np.sqrt(rms ** 2 - noise ** 2) / h[0]) if rms > tol * noise else 0.0
        dx = np.abs(np.arange(data.shape[1]) - x)
        ref = np.nonzero((dx > max(2.0, RIDGE_EXCLUDE * w1)) & (dx <= max(8.0, 10.0 * w1)))[0]
        if len(ref) >= 2:
            r = float(np.median([_robust_rms(data[rows, c]) for c in ref]))
            out["ridge_local"] = float(np.sqrt(rms ** 2 - r ** 2) / h[0]) if rms > tol * r else 0.0
    return out


# --------------------------------------------------------------------------- real data

def load_real(realdata_root):
    """Yield ``(label, data)`` for every spectrum under ``realdata_root``.

    Each folder with a ``manifest.json`` is read with nmrglue (Bruker pdata
    with ``scale_data=True``, NMRPipe with ``ng.pipe.read``), including its
    ``extra_spectra``. Data whose axis 0 is 1H (the manifest's ``axes``) are
    transposed so that axis 0 is the indirect axis.
    """
    import nmrglue as ng
    for name in sorted(os.listdir(realdata_root)):
        folder = os.path.join(realdata_root, name)
        mpath = os.path.join(folder, "manifest.json")
        if not os.path.isfile(mpath):
            continue
        with open(mpath) as f:
            man = json.load(f)
        files = [man["spectrum"]] + list(man.get("extra_spectra") or [])
        for fn in files:
            path = os.path.join(folder, fn)
            if man["format"] == "bruker_pdata":
                _, data = ng.bruker.read_pdata(path, scale_data=True)
            elif man["format"] == "pipe":
                _, data = ng.pipe.read(path)
            elif man["format"] == "sparky":
                _, data = ng.sparky.read(path)
            else:
                raise ValueError(f"unknown format {man['format']!r} in {mpath}")
            if man.get("plane") is not None:
                data = data[man["plane"]]
            label = name if len(files) == 1 else f"{name} ({fn})"
            axes = man.get("axes") or []
            if axes and axes[0].upper() in ("1H", "H1", "HN", "H"):
                data = data.T
                label += " [transposed]"
            yield label, np.asarray(data, dtype=np.float64)


# --------------------------------------------------------------------------- table

def _f(v, nd=None):
    if v is None or not np.isfinite(v):
        return "–"
    if nd is None:
        a = abs(v)
        nd = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 or a == 0 else 4
    return f"{v:.{nd}f}"


def _vals(x):
    v = np.atleast_1d(np.asarray(x, float)).ravel()
    return v[np.isfinite(v)]


def _rng(vals, nd=None):
    v = _vals(vals)
    if not len(v):
        return "–"
    return f"{_f(np.median(v), nd)} [{_f(v.min(), nd)}–{_f(v.max(), nd)}]"


def _pool(ms, key):
    return np.concatenate([_vals(m[key]) for m in ms]) if ms else np.array([])


def _synthetic(n_synth, seed, n_whole=3):
    from . import synth
    tiles, whole = [], []
    for i in range(n_synth):
        s = synth.make_spectrum((128, 128), synth.REALISTIC, seed=[seed, i], masks=False)
        if s.noise > 0 and len(s.amp):
            tiles.append(measure(s.data, noise=s.noise))
    for i in range(n_whole):
        s = synth.simulate(shape=(512, 1024), n_peaks=200, seed=i)
        whole.append(measure(s.data, noise=s.noise))
    return tiles, whole


_HEADER = [
    "| spectrum | shape | FWHH axis 0 (pts) | FWHH axis 1 (pts) | SNR max | SNR p5 / p50 / p95 "
    "| t1-ridge / strongest: global; local | baseline / noise: median; map range "
    "| noise lag-1 corr axis 0 / 1 |",
    "|---|---|---|---|---|---|---|---|---|",
]


def _real_row(label, shape, m):
    return (f"| {label} | {shape[0]}x{shape[1]} | {_rng(m['fwhh0'])} | {_rng(m['fwhh1'])} | "
            f"{_f(m['snr_max'])} | {_f(m['snr_p5'])} / {_f(m['snr_p50'])} / {_f(m['snr_p95'])} | "
            f"{_f(m['ridge'])}; {_f(m['ridge_local'])} | "
            f"{_f(m['baseline_median'])}; {_f(m['baseline_map_range'])} | "
            f"{_f(m['noise_corr0'])} / {_f(m['noise_corr1'])} |")


def _synth_row(label, ms, shape):
    ok = [m for m in ms if m["n_maxima"]]
    p = [np.median(_pool(ok, k)) if ok else np.nan for k in ("snr_p5", "snr_p50", "snr_p95")]
    return (f"| {label} | {shape} | {_rng(_pool(ms, 'fwhh0'))} | {_rng(_pool(ms, 'fwhh1'))} | "
            f"{_rng(_pool(ms, 'snr_max'))} | {_f(p[0])} / {_f(p[1])} / {_f(p[2])} | "
            f"{_rng(_pool(ms, 'ridge'))}; {_rng(_pool(ms, 'ridge_local'))} | "
            f"{_rng(_pool(ms, 'baseline_median'))}; {_rng(_pool(ms, 'baseline_map_range'))} | "
            f"{_rng(_pool(ms, 'noise_corr0'))} / {_rng(_pool(ms, 'noise_corr1'))} |")


def realism_table(realdata_root, n_synth=200, seed=0, n_whole=3):
    """Markdown table: real spectra beside synthetic ones, with computed verdicts.

    Parameters
    ----------
    realdata_root : str or Path
        Folder of real spectra (``shared/realdata``: one sub-folder with a
        ``manifest.json`` per spectrum).
    n_synth : int
        Number of realistic 128x128 tiles (``make_spectrum(..., seed=[seed, i])``,
        those with noise and peaks are measured).
    seed : int
    n_whole : int
        Number of whole ``simulate(shape=(512, 1024), n_peaks=200, seed=i)`` spectra.

    Returns
    -------
    str
        Markdown: the table, one verdict line per quantity (each real value
        against the ``Recipe`` range and against the min–max measured on the
        synthetic spectra), and the list of real values outside the recipe.
    """
    from . import synth
    r = synth.REALISTIC
    real = [(lab, d.shape, measure(d)) for lab, d in load_real(os.fspath(realdata_root))]
    tiles, whole = _synthetic(n_synth, seed, n_whole)
    fw_lo, fw_hi = r.fwhh[0] * 0.9, r.fwhh[1] * 1.25       # per-peak clip in _realistic_peaks
    b_hi = 2.0 * r.baseline[1]                              # a*U(-1,1) + two sines of a/2

    lines = list(_HEADER)
    lines += [_real_row(lab, shp, m) for lab, shp, m in real]
    lines.append(_synth_row(f"synthetic tiles, REALISTIC (n={len(tiles)}; median [min–max])",
                            tiles, "128x128"))
    lines.append(_synth_row(f"synthetic `simulate()` (n={len(whole)}; median [min–max])",
                            whole, "512x1024"))
    lines.append(
        f"| **synthetic recipe range** (`REALISTIC`) | any | {fw_lo:g}–{fw_hi:g} "
        f"(`fwhh`={r.fwhh}, per peak ×0.9/×1.25) | same | per peak `snr`={r.snr} | "
        f"per peak {r.snr[0]:g}–{r.snr[1]:g} | 0 (p={1 - r.p_ridge:g}) or "
        f"`ridge_strength`={r.ridge_strength} | 0 (p={1 - r.p_baseline:g}) or abs ≤ {b_hi:g} "
        f"(`baseline`={r.baseline}: a·U(−1,1) + two sines of a/2) | "
        f"`noise_corr`={r.noise_corr} per axis |")

    checks = [
        # name, key, recipe range (None: no knob), knob
        ("FWHH axis 0 (all isolated peaks)", "fwhh0", (fw_lo, fw_hi), "`fwhh`"),
        ("FWHH axis 1 (all isolated peaks)", "fwhh1", (fw_lo, fw_hi), "`fwhh`"),
        ("SNR max", "snr_max", (PEAK_SNR, r.snr[1]), "`snr`"),
        ("SNR p50", "snr_p50", (PEAK_SNR, r.snr[1]), "`snr`"),
        ("t1-ridge / strongest (global)", "ridge", (0.0, r.ridge_strength[1]), "`ridge_strength`"),
        ("t1-ridge / strongest (local)", "ridge_local", (0.0, r.ridge_strength[1]),
         "`ridge_strength`"),
        ("baseline median / noise", "baseline_median", (-b_hi, b_hi), "`baseline`"),
        ("baseline map range / noise", "baseline_map_range", (0.0, b_hi), "`baseline`"),
        ("noise lag-1 corr axis 0", "noise_corr0", tuple(r.noise_corr), "`noise_corr`"),
        ("noise lag-1 corr axis 1", "noise_corr1", tuple(r.noise_corr), "`noise_corr`"),
    ]
    syn = tiles + whole
    verdict = ["", "**Verdicts** (computed by `realism_table`; per real spectrum: inside the recipe "
               "range? / inside the min–max measured on all synthetic spectra above?):", ""]
    outside = []
    for name, key, rr, knob in checks:
        sv = _pool(syn, key)
        slo, shi = (float(sv.min()), float(sv.max())) if len(sv) else (np.nan, np.nan)
        parts, bad = [], []
        for lab, _, m in real:
            v = _vals(m[key])
            short = lab.split(" ")[0] + (" (2.ft2)" if "(2.ft2)" in lab else "")
            if not len(v):
                parts.append(f"{short} –")
                continue
            vmin, vmax = float(v.min()), float(v.max())
            in_r = rr is not None and rr[0] <= vmin and vmax <= rr[1]
            in_s = slo <= vmin and vmax <= shi
            shown = _f(vmin) if vmin == vmax else f"{_f(vmin)}–{_f(vmax)}"
            parts.append(f"{short} {shown}: {'yes' if in_r else 'NO'}/{'yes' if in_s else 'NO'}")
            if not in_r:
                bad.append((short, vmin, vmax))
        rtxt = "no knob" if rr is None else f"{_f(rr[0])}–{_f(rr[1])}"
        verdict.append(f"- {name} — recipe {rtxt} ({knob}); synthetic measured {_f(slo)}–{_f(shi)}: "
                       + "; ".join(parts))
        if bad:
            lo_need = min(b[1] for b in bad) if rr is None else min(rr[0], min(b[1] for b in bad))
            hi_need = max(b[2] for b in bad) if rr is None else max(rr[1], max(b[2] for b in bad))
            outside.append(
                f"- {name}: " + ", ".join(f"{b[0]} {_f(b[1])}–{_f(b[2])}" for b in bad)
                + f" outside the recipe ({rtxt}); {knob} would need to cover "
                  f"{_f(lo_need)}–{_f(hi_need)}.")
    verdict += ["", "**Real values outside the recipe range:**", ""]
    verdict += outside or ["- none: every real value is inside."]

    notes = [
        "",
        "Linewidths outside the recipe's range are not learnt but handled by `pick`, which "
        "resamples such an axis to the trained range (`nmrpick_ml.resample.resample_factors`).\n\n"
        "Method (`nmrpick_ml._realism.measure`, same code for real and synthetic): noise = "
        "`estimate_noise(data, floor=0)` for real spectra (the default 1e-4·max floor would cap SNR "
        "at 10000), the true noise for synthetic ones (`estimate_noise` overestimates it, up to ~10x, "
        "on crowded tiles of broad strong peaks); maxima = "
        f"3x3 local maxima above {PEAK_SNR:g}x noise; FWHH per axis from the data profile through "
        f"each of up to {N_ISOLATED} strongest isolated maxima (above {LW_FRACTION:g}x the strongest, "
        f"no other maximum above "
        f"{ISO_FRACTION:g}x within {ISO_WIDTHS:g} FWHH): half of the log-parabola apex, linear "
        f"interpolation of the crossings (below {NARROW:g} points: the 3-point log-parabola width); "
        "t1-ridge = sqrt(rms² − ref²) / height, rms = 1.4826·MAD along axis 0 of the strongest "
        f"peak's column outside ±{RIDGE_EXCLUDE:g} FWHH (and around other peaks above "
        f"{RIDGE_OTHER:g}x in it), ref = global noise (global) or median rms of the columns 3–10 "
        "FWHH away (local, insensitive to crowding and correlated noise), 0 when not 3 standard "
        "errors above ref; baseline = median of all data, and range of an 8x8 map of sigma-clipped "
        "block medians of the points away from peaks, in noise units; noise lag-1 corr = 1 − "
        "var(first differences)/(2·s²) over quiet points, s their robust rms about their smooth background. Real FWHH cells: median [min–max] over "
        "the isolated peaks; synthetic cells: median [min–max] over spectra (FWHH pooled over "
        "peaks; SNR p5/p50/p95 = medians of the per-spectrum percentiles). Spectra whose axis 0 is "
        "1H (fitnmr) are transposed so that axis 0 is indirect. `simulate()` overrides the recipe "
        "(fwhh 2–8, snr 3–3000, baseline 0.1–0.5, ridges always).",
    ]
    return "\n".join(lines + verdict + notes) + "\n"


# --------------------------------------------------------------------------- processed recipe

#: The figures compared between real spectra and the processed recipe:
#: (label, key of :func:`measure`, reduce over isolated peaks).
PROCESSED_FIGURES = [
    ("FWHH axis 0 (points)", "fwhh0"),             # median over isolated peaks
    ("FWHH axis 1 (points)", "fwhh1"),
    ("noise corr. lag 1, axis 0", "noise_corr0"),
    ("noise corr. lag 2, axis 0", "noise_corr0_2"),
    ("noise corr. lag 1, axis 1", "noise_corr1"),
    ("noise corr. lag 2, axis 1", "noise_corr1_2"),
    ("t1 ridge / strongest peak", "ridge"),
    ("sidelobe / peak, axis 0", "sidelobe0"),
    ("sidelobe / peak, axis 1", "sidelobe1"),  # both: median over isolated peaks
    ("dynamic range (max / noise)", "dynamic_range"),
]

#: Whole processed spectra measured: shapes like the real ones.
PROCESSED_SHAPES = ((64, 64), (128, 128), (128, 256), (256, 256), (256, 512))


def _scalar(m, key):
    v = _vals(m[key])
    return float(np.median(v)) if len(v) else float("nan")


def processed_spectra(n=500, seed=0):
    """Measure ``n`` whole spectra of the processed recipe (shapes and peak counts
    drawn per spectrum, as real spectra come); returns a list of :func:`measure` dicts."""
    from . import synth
    rng = np.random.default_rng([seed, 17])
    out = []
    for i in range(n):
        shape = PROCESSED_SHAPES[int(rng.integers(len(PROCESSED_SHAPES)))]
        k = int(np.exp(rng.uniform(np.log(3), np.log(max(4, shape[0] * shape[1] // 300)))))
        s = synth.simulate(shape=shape, n_peaks=k, seed=[seed, i], recipe=synth.PROCESSED,
                           crowded=bool(rng.random() < 0.5))
        out.append(measure(s.data, noise=s.noise))
    return out


def processed_realism_table(realdata_root, n=500, seed=0):
    """Markdown: each real spectrum's figures and where they fall among ``n`` processed spectra.

    For every figure of :data:`PROCESSED_FIGURES` (linewidths: the median over
    the spectrum's isolated peaks) the table gives the real value and its
    percentile in the distribution of the same figure over the processed
    spectra; a value is inside when it lies within the 5-95 % range.

    Returns
    -------
    text : str
    inside : dict
        ``{(spectrum, key): bool}``.
    """
    real = [(lab, d.shape, measure(d)) for lab, d in load_real(os.fspath(realdata_root))]
    syn = processed_spectra(n, seed)
    dist = {key: _vals([_scalar(m, key) for m in syn]) for _, key in PROCESSED_FIGURES}
    head = "| spectrum | shape | " + " | ".join(lab for lab, _ in PROCESSED_FIGURES) + " |"
    lines = [head, "|---|---|" + "---|" * len(PROCESSED_FIGURES)]
    inside = {}
    for lab, shape, m in real:
        cells = []
        for _, key in PROCESSED_FIGURES:
            v = _scalar(m, key)
            d = dist[key]
            if not np.isfinite(v) or not len(d):
                cells.append("–")
                continue
            pct = 100.0 * (np.sum(d < v) + 0.5 * np.sum(d == v)) / len(d)
            ok = 5.0 <= pct <= 95.0
            inside[(lab, key)] = bool(ok)
            cells.append(f"{_f(v)} ({pct:.0f} %{'' if ok else ' **out**'})")
        lines.append(f"| {lab} | {shape[0]}x{shape[1]} | " + " | ".join(cells) + " |")
    for q in (5, 50, 95):
        lines.append(f"| processed recipe, p{q} (n={len(syn)}) | mixed | " + " | ".join(
            _f(float(np.percentile(dist[key], q))) if len(dist[key]) else "–"
            for _, key in PROCESSED_FIGURES) + " |")
    n_in = sum(inside.values())
    lines += ["", f"Inside the 5–95 % range of the processed recipe: **{n_in} of {len(inside)}** "
              "real figures" + ("" if n_in == len(inside) else "; outside: " + ", ".join(
                  f"{lab.split(' ')[0]} {key}" for (lab, key), ok in inside.items() if not ok)) + "."]
    lines += ["", "Each cell: the real value (linewidths: median over the spectrum's isolated peaks) "
              "and its percentile among the processed spectra. Processed spectra: "
              f"`synth.simulate(shape, k, seed=[{seed}, i], recipe=synth.PROCESSED)` with shapes "
              f"{', '.join(f'{a}x{b}' for a, b in PROCESSED_SHAPES)} and k log-uniform from 3 to "
              "area/300, half of them crowded; measured by the same `measure` as the real ones "
              "(noise: the true noise for synthetic spectra, `estimate_noise(floor=0)` for real ones). "
              "Sidelobe: the deepest value at 0.75–4 FWHH from an isolated peak along its column "
              "(axis 0) or row (axis 1), over its height, median over the isolated peaks. Noise correlation at lag k: "
              "1 − var(x[i+k] − x[i]) / (2 s²) over points away from peaks, s the robust rms of those points "
              f"about their smooth background (Gaussian-weighted mean, {QUIET_SMOOTH:g} points; the same for real and synthetic spectra; `estimate_noise` reads "
              "strongly correlated noise low, 0.73x on deep_picker's crop, which had biased this figure "
              "to −0.69 at lag 2 where the autocorrelation of its quiet points is +0.15)."]
    return "\n".join(lines) + "\n", inside
