"""Pseudo-3D series (relaxation, titration, CEST): pick once, fit every plane.

:func:`pick_series` picks the peaks once on a reference (the sum of the
planes by default, or one plane), fits that reference (:func:`nmrpick_ml.fit.fit_peaks`,
with its residual search and blend split: a pick split into two is fitted as
two in every plane, with their own heights), then fits all planes together: positions, widths
and Lorentzian fractions shared by the planes (``free_positions=True`` gives
each plane its own centre, for titrations), one height and one local offset
per plane. With delays, :func:`fit_decay` fits ``I(t) = I0 exp(-R t)`` per
peak.

Why the sum by default: the peaks of a relaxation series keep their place and
sign, so the sum of Q planes holds every peak with the signal of all planes
over noise grown only by sqrt(Q), and no single plane's noise spike or
artefact dominates it. Measured side by side in ``benchmarks/results/fit.md``
(8-plane synthetic relaxation series, same run): the sum and the first plane
found about the same share of the true peaks (each ahead on two of four
series), and the sum's picks held as few or fewer false ones (fewer by a
tenth on one series). Use a plane (``reference=0``) when peaks move (a
titration) or change sign (an inversion-recovery T1 series), where a sum
blurs or cancels them.

Planes are numbered from 0 in the order of the file (as ``--plane`` numbers
them) or of the files given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ._errors import NmrpickError
from ._noise import estimate_noise
from .fit import fit_peaks, fit_planes, noise_correlation, noise_variance, profile

__all__ = ["read_series", "pick_series", "fit_decay", "read_delays", "simulate_series",
           "plot_series", "wide_table_text",
           "SeriesResult", "LONG_COLUMNS", "REFERENCES"]

#: Columns of the long table, one row per peak and plane.
LONG_COLUMNS = ("INDEX", "PLANE", "X_PPM", "Y_PPM", "X_AXIS", "Y_AXIS", "HEIGHT", "HEIGHT_ERR",
                "VOL", "VOL_ERR")
#: Reference choices besides a plane number.
REFERENCES = ("sum", "first")


def read_series(paths):
    """Read a series: one pseudo-3D file (NMRPipe 3-D stream, UCSF 3-D) or several 2-D files.

    Parameters
    ----------
    paths : str, path-like or sequence of them
        One 3-D file, or two or more 2-D files in plane order.

    Returns
    -------
    list of Spectrum
        One 2-D :class:`~nmrpick_ml.io.Spectrum` per plane, in order.

    Raises
    ------
    NmrpickError
        Unreadable input, a single 2-D file, or 2-D files of different shapes.
    """
    from .io import read_spectrum
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise NmrpickError("a series needs a pseudo-3D file or two or more 2-D files")
    if len(paths) == 1:
        try:
            read_spectrum(paths[0])
        except NmrpickError as exc:
            if "3-D spectrum" not in str(exc):
                raise
        else:
            raise NmrpickError(f"{paths[0]}: a 2-D spectrum; a series needs a pseudo-3D file "
                               "or two or more 2-D files in plane order")
        planes = [read_spectrum(paths[0], plane=0)]
        while True:
            try:
                planes.append(read_spectrum(paths[0], plane=len(planes)))
            except NmrpickError as exc:
                if "out of range" in str(exc):
                    break
                raise
        return planes
    planes = [read_spectrum(p) for p in paths]
    shapes = {s.data.shape for s in planes}
    if len(shapes) > 1:
        raise NmrpickError("the 2-D files of a series must have one shape; got "
                           + ", ".join(f"{p} {s.data.shape}" for p, s in zip(paths, planes)))
    return planes


def read_delays(path):
    """Delays (or any per-plane values) from a vclist/vdlist: one number a line.

    Bruker suffixes are understood (``10m`` = 0.010, ``5u``, ``2s``); blank lines
    and ``#`` comments are skipped.
    """
    units = {"s": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
    out = []
    try:
        text = open(os.fspath(path)).read()
    except OSError as exc:
        raise NmrpickError(f"{path}: cannot read the delays ({exc.strerror or exc})") from None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.split("#")[0].strip()
        if not s:
            continue
        scale = 1.0
        if s[-1].lower() in units and len(s) > 1:
            scale, s = units[s[-1].lower()], s[:-1]
        try:
            out.append(float(s) * scale)
        except ValueError:
            raise NmrpickError(f"{path}, line {i}: {line.strip()!r} is not a number") from None
    if not out:
        raise NmrpickError(f"{path}: no delays in the file")
    return np.array(out)


@dataclass
class SeriesResult:
    """What :func:`pick_series` returns.

    Attributes
    ----------
    long : pandas.DataFrame
        One row per peak and plane, :data:`LONG_COLUMNS` (points 0-based) plus
        ``XW, YW`` (FWHH, points), ``X_ETA, Y_ETA``, ``CLUSTID``.
    wide : pandas.DataFrame
        One row per peak (NMRPipe seriesTab-like): ``INDEX, X_PPM, Y_PPM,
        X_AXIS, Y_AXIS, XW, YW, CHI2_RED`` (the cluster's, over all planes), then
        ``HEIGHT_q``, ``HEIGHT_ERR_q`` and
        ``Z_Aq = HEIGHT_q / HEIGHT_0`` per plane q, and with a decay fit
        ``I0, I0_ERR, R, R_ERR, DECAY_CHI2``.
    reference : pandas.DataFrame
        The fit of the reference the peaks were picked on.
    decay : pandas.DataFrame or None
        ``INDEX, I0, I0_ERR, R, R_ERR, DECAY_CHI2`` per peak (with ``delays``).
    info : dict
        ``reference``, ``noise`` per plane, number of planes and peaks.
    """

    long: object
    wide: object
    reference: object
    decay: object = None
    info: dict = field(default_factory=dict)


def _as_planes(series):
    """(planes array (Q, N1, N2), first Spectrum or None) from spectra or an array."""
    if isinstance(series, np.ndarray) or (isinstance(series, (list, tuple)) and len(series)
                                          and isinstance(series[0], np.ndarray)):
        arr = np.asarray(series, dtype=np.float64)
        spec = None
    else:
        arr = np.stack([np.asarray(s.data, dtype=np.float64) for s in series])
        spec = series[0]
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise NmrpickError(f"a series needs two or more 2-D planes; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NmrpickError(f"the series holds {int(np.sum(~np.isfinite(arr)))} NaN or Inf values")
    return arr, spec


def pick_series(series, uc=None, *, reference="sum", delays=None, decay=None,
                free_positions=False, shape="pseudo-voigt", method="maskrcnn", snr=None,
                pthres=None, score_threshold=None, model=None, peaks=None):
    """Pick the peaks of a pseudo-3D series once and fit every plane.

    Parameters
    ----------
    series : list of Spectrum, or ndarray (Q, N1, N2)
        The planes (:func:`read_series` gives the list).
    uc : sequence of two nmrglue unit_conversion, optional
        For ppm; default the first plane's (None for a bare array: ppm NaN).
    reference : 'sum', 'first' or int
        What the peaks are picked on (see the module docstring).
    delays : array_like (Q,), optional
        Delay (or other value) per plane, for ``decay``.
    decay : {'exp'}, optional
        Fit ``I0 exp(-R t)`` per peak to the heights (needs ``delays``).
    free_positions : bool
        Each plane its own centre (titrations); widths stay shared.
    shape : {'pseudo-voigt', 'gaussian', 'lorentzian'}
    method, snr, pthres, score_threshold, model
        Passed to :func:`nmrpick_ml.pick` on the reference.
    peaks : table, optional
        Peaks to fit instead of picking (``Y_AXIS, X_AXIS``, optional
        ``Y_LW, X_LW``, 0-based points).

    Returns
    -------
    SeriesResult
    """
    import pandas as pd
    from .picking import pick
    arr, spec = _as_planes(series)
    q_n = arr.shape[0]
    if uc is None and spec is not None:
        uc = spec.uc
    if delays is not None:
        delays = np.asarray(delays, float).reshape(-1)
        if len(delays) != q_n:
            raise NmrpickError(f"{len(delays)} delays for {q_n} planes; give one per plane")
    if decay is not None:
        if decay != "exp":
            raise NmrpickError(f"`decay` must be 'exp'; got {decay!r}")
        if delays is None:
            raise NmrpickError("a decay fit needs the delays (--delays FILE)")
    if isinstance(reference, str):
        if reference not in REFERENCES:
            raise NmrpickError(f"`reference` must be 'sum', 'first' or a plane number; got {reference!r}")
        ref = arr.sum(axis=0) if reference == "sum" else arr[0]
    else:
        if not (0 <= int(reference) < q_n):
            raise NmrpickError(f"reference plane {reference} is out of range (0..{q_n - 1})")
        ref = arr[int(reference)]
    noise_ref = estimate_noise(ref)
    if peaks is None:
        kw = dict(method=method, snr=snr, pthres=pthres, score_threshold=score_threshold)
        if model is not None:
            kw["model"] = model
        picked = pick({} if spec is None else spec.dic, ref.astype(np.float32), uc if uc is not None
                      else _plain_uc(ref.shape), **kw)
        centre = np.column_stack([picked.Y_AXIS, picked.X_AXIS])
        fwhh = np.column_stack([picked.Y_LW, picked.X_LW])
        cid = np.asarray(picked.cID)
    else:
        centre = np.column_stack([np.asarray(peaks["Y_AXIS"], float), np.asarray(peaks["X_AXIS"], float)])
        names = peaks.dtype.names if hasattr(peaks, "dtype") and peaks.dtype.names else list(peaks)
        fwhh = (np.column_stack([np.asarray(peaks["Y_LW"], float), np.asarray(peaks["X_LW"], float)])
                if "Y_LW" in names else np.full((len(centre), 2), 3.0))
        cid = None
    rfit = fit_peaks(ref, centre, fwhh, cluster=cid, noise=noise_ref, shape=shape)
    noise = np.array([estimate_noise(p) for p in arr])
    # the noise's correlation and variance from the plane with the least signal: the quiet
    # squares they are measured on hold the tails of strong peaks (Lorentzian ones reach
    # far), which read as more correlation and variance than the noise has
    quiet = _quietest_plane(arr, noise)
    rho = noise_correlation(arr[quiet], noise[quiet])
    noise_var = noise_variance(arr[quiet], noise[quiet]) / noise[quiet] ** 2 if noise[quiet] > 0 else 1.0
    k = len(rfit)
    # start heights per plane: the data at the rounded centres, scaled like the reference's
    iy = np.clip(np.rint(rfit.centre[:, 0]).astype(int), 0, arr.shape[1] - 1)
    ix = np.clip(np.rint(rfit.centre[:, 1]).astype(int), 0, arr.shape[2] - 1)
    h0 = arr[:, iy, ix].T
    groups = [np.nonzero(rfit.cluster == c)[0] for c in np.unique(rfit.cluster)] if k else []
    r = fit_planes(arr, rfit.centre, rfit.fwhh, h0, groups=groups, noise=noise, shape=shape,
                   free_positions=free_positions, bound_sign="auto", correlation=rho, noise_var=noise_var,
                   eta=rfit.eta) if k else None
    long, wide = _tables(r, rfit, uc, q_n, k)
    dec = None
    if decay == "exp" and k:
        dec = fit_decay(delays, r["height"], r["height_err"], r["height_cov"])
        dec.insert(0, "INDEX", np.arange(1, k + 1))
        for c in ("I0", "I0_ERR", "R", "R_ERR", "DECAY_CHI2"):
            wide[c] = dec[c].to_numpy()
    info = dict(reference=reference, noise=noise.tolist(), n_planes=q_n, n_peaks=k, noise_plane=quiet,
                correlation=[r_.tolist() for r_ in rho])
    return SeriesResult(long=long, wide=wide, reference=rfit.to_frame(uc), decay=dec, info=info)


def _quietest_plane(arr, noise):
    """The plane whose mean square over its noise variance is least (the least signal)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.mean(arr * arr, axis=(1, 2)) / noise ** 2
    return int(np.argmin(np.where(np.isfinite(power), power, np.inf)))


def _plain_uc(shape):
    import nmrglue as ng
    udic = ng.fileiobase.create_blank_udic(2)
    for i, n in enumerate(shape):
        udic[i]["size"] = int(n)
    return [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]


def _tables(r, rfit, uc, q_n, k):
    import pandas as pd
    if k == 0:
        long = pd.DataFrame({c: [] for c in LONG_COLUMNS + ("XW", "YW", "X_ETA", "Y_ETA", "CLUSTID")})
        wide = pd.DataFrame({c: [] for c in ("INDEX", "X_PPM", "Y_PPM", "X_AXIS", "Y_AXIS", "XW", "YW")})
        return long, wide
    cen = r["centre"]                                       # (k, Q, 2)
    ppm_y = uc[0].ppm(cen[:, :, 0].ravel()).reshape(k, q_n) if uc is not None else np.full((k, q_n), np.nan)
    ppm_x = uc[1].ppm(cen[:, :, 1].ravel()).reshape(k, q_n) if uc is not None else np.full((k, q_n), np.nan)
    idx = np.repeat(np.arange(1, k + 1), q_n)
    long = pd.DataFrame({
        "INDEX": idx, "PLANE": np.tile(np.arange(q_n), k),
        "X_PPM": ppm_x.ravel(), "Y_PPM": ppm_y.ravel(),
        "X_AXIS": cen[:, :, 1].ravel(), "Y_AXIS": cen[:, :, 0].ravel(),
        "HEIGHT": r["height"].ravel(), "HEIGHT_ERR": r["height_err"].ravel(),
        "VOL": r["volume"].ravel(), "VOL_ERR": r["volume_err"].ravel(),
        "XW": np.repeat(r["fwhh"][:, 1], q_n), "YW": np.repeat(r["fwhh"][:, 0], q_n),
        "X_ETA": np.repeat(r["eta"][:, 1], q_n), "Y_ETA": np.repeat(r["eta"][:, 0], q_n),
        "CLUSTID": np.repeat(r["cluster"] + 1, q_n)})
    wide = pd.DataFrame({"INDEX": np.arange(1, k + 1), "X_PPM": ppm_x[:, 0], "Y_PPM": ppm_y[:, 0],
                         "X_AXIS": cen[:, 0, 1], "Y_AXIS": cen[:, 0, 0],
                         "XW": r["fwhh"][:, 1], "YW": r["fwhh"][:, 0], "CHI2_RED": r["chi2_red"]})
    for q in range(q_n):
        wide[f"HEIGHT_{q}"] = r["height"][:, q]
    for q in range(q_n):
        wide[f"HEIGHT_ERR_{q}"] = r["height_err"][:, q]
    with np.errstate(divide="ignore", invalid="ignore"):
        for q in range(q_n):
            wide[f"Z_A{q}"] = r["height"][:, q] / r["height"][:, 0]
    return long, wide


def wide_table_text(wide):
    """The wide table as NMRPipe-style text (``VARS``/``FORMAT`` lines, one row per peak),
    as seriesTab writes it; X_AXIS, Y_AXIS 1-based as NMRPipe's tables have them."""
    cols = list(wide.columns)
    fmts = ["%5d" if c == "INDEX" else "%+e" if c.startswith(("HEIGHT", "I0")) else "%.6g"
            for c in cols]
    lines = ["REMARK nmrpick-ml series table: HEIGHT_q per plane q (from 0), Z_Aq = HEIGHT_q / "
             "HEIGHT_0; X_AXIS, Y_AXIS 1-based points", "",
             "VARS   " + " ".join(cols), "FORMAT " + " ".join(fmts), ""]
    for _, row in wide.iterrows():
        vals = []
        for c, f in zip(cols, fmts):
            v = row[c] + (1.0 if c in ("X_AXIS", "Y_AXIS") else 0.0)
            vals.append(f % (int(v) if f == "%5d" else v))
        lines.append(" ".join(vals))
    return "\n".join(lines) + "\n"


def fit_decay(delays, heights, errors, cov=None):
    """Fit ``I(t) = I0 exp(-R t)`` per peak, weighted by the heights' errors.

    Parameters
    ----------
    delays : array_like (Q,)
    heights, errors : array_like (k, Q)
        Heights per plane and their standard errors.
    cov : array_like (k, Q, Q), optional
        Full covariance of each peak's heights (the series fit shares widths and
        positions across planes, which correlates the heights: an error of the
        width scales every plane alike and cancels in R). When given, the fit is
        generalised least squares on it.

    Returns
    -------
    pandas.DataFrame
        ``I0, I0_ERR, R, R_ERR, DECAY_CHI2`` (reduced chi-square) per peak. The
        errors are from the weighted fit's covariance with the heights' errors
        taken as they are (``absolute_sigma``), not rescaled by the chi-square.

    Examples
    --------
    >>> t = np.array([0.0, 0.1, 0.2, 0.4])
    >>> d = fit_decay(t, [100 * np.exp(-5 * t)], [np.full(4, 0.5)])
    >>> round(float(d.R[0]), 3), round(float(d.I0[0]), 2)
    (5.0, 100.0)
    """
    import pandas as pd
    from scipy.optimize import least_squares
    t = np.asarray(delays, float)
    h = np.atleast_2d(np.asarray(heights, float))
    e = np.atleast_2d(np.asarray(errors, float))
    rows = []
    span = max(float(t.max() - t.min()), 1e-12)
    covs = [None] * len(h) if cov is None else list(np.asarray(cov, float))
    for hk, ek, ck in zip(h, e, covs):
        ok = np.isfinite(hk) & np.isfinite(ek) & (ek > 0)
        white = None
        if ck is not None and np.all(np.isfinite(ck[np.ix_(ok, ok)])):
            try:
                white = np.linalg.inv(np.linalg.cholesky(ck[np.ix_(ok, ok)]))
            except np.linalg.LinAlgError:
                white = None
        if ok.sum() < 3:
            rows.append((np.nan,) * 5)
            continue
        tt, yy, ee = t[ok], hk[ok], ek[ok]
        # start: log-linear fit of the positive heights
        pos = yy > 0
        if pos.sum() >= 2:
            slope, icpt = np.polyfit(tt[pos], np.log(yy[pos]), 1, w=yy[pos] / ee[pos])
            x0 = np.array([np.exp(icpt), max(-slope, 0.0)])
        else:
            x0 = np.array([yy[0], 1.0 / span])

        wmat = np.diag(1.0 / ee) if white is None else white

        def res(p):
            return wmat @ (p[0] * np.exp(-p[1] * tt) - yy)

        def jac(p):
            ex = np.exp(-p[1] * tt)
            return wmat @ np.column_stack([ex, -p[0] * tt * ex])

        fit = least_squares(res, x0, jac=jac, method="lm")
        j = fit.jac
        try:
            cov = np.linalg.inv(j.T @ j)
            err = np.sqrt(np.maximum(np.diag(cov), 0.0))
        except np.linalg.LinAlgError:
            err = np.array([np.nan, np.nan])
        chi2 = float(np.sum(fit.fun ** 2)) / max(len(tt) - 2, 1)
        rows.append((fit.x[0], err[0], fit.x[1], err[1], chi2))
    return pd.DataFrame(rows, columns=["I0", "I0_ERR", "R", "R_ERR", "DECAY_CHI2"])


def plot_series(folder, result, delays=None):
    """One small picture per peak in ``folder``: heights (with errors) against the delays
    (or the plane number), with the decay fit when there is one. Returns the paths."""
    from ._plot import require_matplotlib
    from .files import atomic_write
    require_matplotlib()
    from matplotlib.figure import Figure
    os.makedirs(folder, exist_ok=True)
    long = result.long
    paths = []
    for idx, grp in long.groupby("INDEX"):
        x = np.asarray(delays, float) if delays is not None else grp.PLANE.to_numpy(float)
        fig = Figure(figsize=(3.0, 2.2), dpi=100)
        ax = fig.add_subplot(111)
        ax.errorbar(x, grp.HEIGHT, yerr=grp.HEIGHT_ERR, fmt="o", ms=3, capsize=2)
        title = f"peak {idx}: {grp.X_PPM.iloc[0]:.3f}, {grp.Y_PPM.iloc[0]:.2f} ppm"
        if result.decay is not None:
            d = result.decay[result.decay.INDEX == idx].iloc[0]
            tt = np.linspace(0, x.max(), 100)
            ax.plot(tt, d.I0 * np.exp(-d.R * tt), "-", lw=1)
            title += f"\nR = {d.R:.3g} ± {d.R_ERR:.2g}"
        ax.set_title(title, fontsize=7)
        ax.set_xlabel("delay" if delays is not None else "plane", fontsize=7)
        ax.tick_params(labelsize=6)
        fig.tight_layout()
        path = os.path.join(folder, f"peak_{idx:04d}.png")
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
        paths.append(path)
    return paths


def simulate_series(shape=(256, 512), n_peaks=60, delays=None, rates=(5.0, 25.0), seed=0,
                    noise_corr=0.3, pairs=0):
    """A synthetic relaxation series with known rates: ``amp exp(-R t)`` per plane.

    Peaks (centres, FWHH, shapes, Lorentzian fractions, heights) are drawn as
    :func:`nmrpick_ml.synth.simulate` draws them (crowded regions included);
    each plane gets its own correlated noise (lag-1 correlation
    ``noise_corr`` on both axes, unit variance).

    ``pairs`` more peaks are each put 0.6-0.95 FWHH from one of the first
    peaks (an overlapping pair), with its own rate and a height of 0.5-1.5 times
    its partner's.

    Returns
    -------
    planes : ndarray (Q, N1, N2)
    truth : dict
        ``centre, fwhh, amp`` (first-plane height at t = 0), ``eta`` (k, 2)
        per axis, ``rate`` (k,), ``delays`` (Q,), ``nn`` (nearest neighbour,
        FWHH units) and ``pair`` (k,): the partner's index for paired peaks, else -1.
    """
    from .synth import correlated_noise, simulate
    rng = np.random.default_rng([seed, 17])
    s = simulate(shape, n_peaks, seed=seed)
    t = np.array([0.01, 0.03, 0.05, 0.08, 0.12, 0.16, 0.22, 0.30]) if delays is None \
        else np.asarray(delays, float)
    cen, wid = s.centre.copy(), s.fwhh.copy()
    eta = np.where(s.shape == 0, 0.0, np.where(s.shape == 1, 1.0, s.eta[:, None]))
    amp = np.abs(s.snr)                                  # noise 1: heights in noise units
    partner = np.full(len(amp), -1)
    if pairs:
        # partners of strong peaks away from the edges
        ok = np.nonzero((amp >= 50) & np.all((cen > 15) & (cen < np.array(shape) - 15), axis=1)
                        & (s.nn_distance() >= 3))[0]
        base = rng.choice(ok, size=min(pairs, len(ok)), replace=False)
        ang = rng.uniform(0, 2 * np.pi, len(base))
        dist = rng.uniform(0.6, 0.95, len(base))
        new_c = cen[base] + (dist * np.array([np.sin(ang), np.cos(ang)])).T * wid[base]
        cen = np.vstack([cen, new_c])
        wid = np.vstack([wid, wid[base] * rng.uniform(0.9, 1.1, (len(base), 2))])
        eta = np.vstack([eta, eta[base]])
        amp = np.r_[amp, amp[base] * rng.uniform(0.5, 1.5, len(base))]
        partner = np.r_[partner, base]
        partner[base] = len(s.amp) + np.arange(len(base))
    k = len(amp)
    rate = rng.uniform(*rates, k)
    y = np.arange(shape[0], dtype=float)
    x = np.arange(shape[1], dtype=float)
    py = profile(y[None, :], cen[:, 0:1], wid[:, 0:1], eta[:, 0:1])
    px = profile(x[None, :], cen[:, 1:2], wid[:, 1:2], eta[:, 1:2])
    planes = np.empty((len(t),) + tuple(shape))
    for q, tq in enumerate(t):
        a = amp * np.exp(-rate * tq)
        planes[q] = (py * a[:, None]).T @ px + correlated_noise(rng, shape, [noise_corr, noise_corr])
    d = (cen[:, None, :] - cen[None, :, :]) / ((wid[:, None, :] + wid[None, :, :]) / 2)
    r = np.sqrt(np.sum(d * d, axis=2))
    np.fill_diagonal(r, np.inf)
    return planes, dict(centre=cen, fwhh=wid, amp=amp, eta=eta, rate=rate, delays=t,
                        nn=r.min(axis=1), pair=partner)
