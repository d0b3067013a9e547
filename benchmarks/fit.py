"""Lineshape fitting and pseudo-3D series against synthetic truth and the real T1 planes.

Run from the repository root: python benchmarks/fit.py   (writes benchmarks/results/fit.md)

Truth: :func:`nmrpick_ml.synth.simulate` draws every peak as ``amp * f_y * f_x``
with exact centres, FWHH, shapes (Gaussian, Lorentzian, pseudo-Voigt per axis)
and Lorentzian fractions. Volume truth is the analytic integral of that true
shape over the whole plane, ``amp * I_y * I_x`` with ``I = w sqrt(pi / 4 ln 2)``
(Gaussian), ``w pi / 2`` (Lorentzian) and their eta-weighted sum (pseudo-Voigt):
the same quantity the fit reports, so the two compare like for like (a sum of
the data over a box would miss the Lorentzian tails, by 10-20 %).
"""
import os
import platform
import subprocess
import sys
import time

import numpy as np

from nmrpick_ml import metrics, synth
from nmrpick_ml.bench import write_report
from nmrpick_ml.fit import fit_peaks, volume_integral
from nmrpick_ml.picking import noise_threshold, pick
from nmrpick_ml.series import pick_series, read_series, simulate_series

COMMAND = "python benchmarks/fit.py"
SEED = 20261201
FIT_SPECTRA = [((512, 1024), 200, SEED + i) for i in range(4)]
#: The same recipe drawn again: spectra the fit's constants were not chosen on.
FIT_SECOND = [((512, 1024), 200, SEED + 100 + i) for i in range(4)]
SERIES_SEEDS = [SEED + 10 + i for i in range(4)]
REAL_T1 = "fitnmr_t1_miniprotein_15N_hsqc"
PAIR_SPECTRA = [SEED + 30 + i for i in range(8)]


def pairs_spectrum(seed, shape=(512, 1024), cell=(64, 128)):
    """Close pairs (0.5-0.95 FWHH apart), one per ``cell``, with correlated noise: the truth
    for the calibration of the pairs' errors (picked spectra hold few such pairs).

    Per pair: widths around a typical one per spectrum, one shape per axis (Gaussian,
    Lorentzian or pseudo-Voigt, as ``simulate`` draws them), heights 20-1000 sigma, the
    second 0.3-1 of the first; noise ``synth.correlated_noise`` with lag-1 correlations
    0-0.92 per axis (unit variance).
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape[0] // cell[0], shape[1] // cell[1]
    base = rng.uniform(2.5, 6.0, 2)
    cen, wid, amp, kind, eta = [], [], [], [], []
    for i in range(ny * nx):
        c = (np.array([i // nx, i % nx]) + 0.5) * cell + rng.uniform(-3, 3, 2)
        w = base * np.exp(rng.normal(0, 0.15, (2, 2)))
        ang, sep = rng.uniform(0, np.pi), rng.uniform(0.5, 0.95)
        d = sep * np.array([np.sin(ang), np.cos(ang)]) * w.mean(0) / 2
        h = 10 ** rng.uniform(np.log10(20), 3)
        ratio, k, e = rng.uniform(0.3, 1.0), rng.integers(0, 3, 2), rng.uniform(0.2, 0.8)
        for j, (cc, hh) in enumerate(((c + d, h), (c - d, h * ratio))):
            cen.append(cc), wid.append(w[j]), amp.append(hh), kind.append(k), eta.append(e)
    cen, wid, amp, kind, eta = map(np.array, (cen, wid, amp, kind, eta))
    py = np.array([synth.lineshape(np.arange(shape[0]), c[0], w[0], k[0], e) for c, w, k, e in zip(cen, wid, kind, eta)])
    px = np.array([synth.lineshape(np.arange(shape[1]), c[1], w[1], k[1], e) for c, w, k, e in zip(cen, wid, kind, eta)])
    rho = rng.uniform(0.0, 0.92, 2)
    data = (py * amp[:, None]).T @ px + synth.correlated_noise(rng, shape, rho)
    et = np.where(kind == synth.GAUSS, 0.0, np.where(kind == synth.LORENTZ, 1.0, eta[:, None]))
    return data, cen, wid, amp, et, rho


def pairs_coverage():
    """Fit every pair (cluster = the pair, start 0.2 point and 10 % off the truth) and record
    how often the truth lies within one stated error."""
    rec = []
    for seed in PAIR_SPECTRA:
        data, cen, wid, amp, et, rho = pairs_spectrum(seed)
        rng = np.random.default_rng(seed)
        c0 = cen + rng.normal(0, 0.2, cen.shape)
        w0 = wid * rng.uniform(0.9, 1.1, wid.shape)
        r = fit_peaks(data, c0, w0, cluster=np.repeat(np.arange(len(amp) // 2), 2), residual_search=False)
        tv = volume_integral(amp, wid[:, 0], wid[:, 1], et[:, 0], et[:, 1])
        for i in range(len(amp)):
            rec.append(dict(dc=np.abs(r.centre[i] - cen[i]), dce=r.centre_err[i],
                            dw=np.abs(r.fwhh[i] - wid[i]) / wid[i], dwe=r.fwhh_err[i] / wid[i],
                            dh=abs(r.height[i] - amp[i]) / amp[i], dhe=r.height_err[i] / amp[i],
                            dv=abs(r.volume[i] - tv[i]) / tv[i], dve=r.volume_err[i] / tv[i],
                            chi2=r.chi2_red[i], rho=float(np.max(rho))))
    return rec


def header():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except Exception:
        commit = "unknown"
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        threads = "n/a"
    return (f"Made by: `{COMMAND}`\n\nMachine: {platform.machine()}, {os.cpu_count()} CPU cores "
            f"(a model training may hold one), Python {platform.python_version()}, "
            f"torch threads {threads}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
            f"commit {commit}; seed {SEED}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")


def _uc(udic):
    import nmrglue as ng
    return [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]


def true_eta(sim):
    return np.where(sim.shape == synth.GAUSS, 0.0,
                    np.where(sim.shape == synth.LORENTZ, 1.0, sim.eta[:, None]))


def fit_accuracy():
    """Pick (the shipped model, defaults) then fit, on simulated spectra; compare to truth.
    ``rec0``: the same picks fitted without the blend split (``split_blends=False``)."""
    rec = {"iso": [], "pair": []}
    rec0 = {"iso": [], "pair": []}
    rec_abs = {"iso": [], "pair": []}
    times = []
    for shape, n, seed in FIT_SPECTRA:
        s, pk, picked, same, pick_s = _picked(shape, n, seed)
        t1 = time.perf_counter()
        r = fit_peaks(*picked, **same)
        t2 = time.perf_counter()
        times.append((pick_s, t2 - t1, len(pk), len(r), int(r.added.sum()), int(r.split.sum()) // 2))
        r0 = fit_peaks(*picked, **same, split_blends=False)
        ra = fit_peaks(*picked, **same, absolute_sigma=True)
        _records(rec, r, s, pk)
        _records(rec0, r0, s, pk)
        _records(rec_abs, ra, s, pk)
    return rec, rec0, times, rec_abs


def _picked(shape, n, seed):
    """A simulated spectrum picked with the defaults: ``(sim, picks, fit_peaks' arguments,
    its keywords, seconds of the pick)``."""
    s = synth.simulate(shape, n, seed=seed)
    uc = _uc(s.meta["udic"])
    noise, thr = noise_threshold(s.data, method="maskrcnn")
    t0 = time.perf_counter()
    pk = pick({}, s.data, uc, pthres=thr)
    dt = time.perf_counter() - t0
    picked = (s.data, np.column_stack([pk.Y_AXIS, pk.X_AXIS]), np.column_stack([pk.Y_LW, pk.X_LW]),
              pk.HEIGHT)
    return s, pk, picked, dict(cluster=pk.cID, noise=noise, threshold=thr), dt


def second_draw():
    """:data:`FIT_SECOND` picked and fitted with the defaults: the records of :func:`_records`."""
    rec = {"iso": [], "pair": []}
    for shape, n, seed in FIT_SECOND:
        s, pk, picked, same, _ = _picked(shape, n, seed)
        _records(rec, fit_peaks(*picked, **same), s, pk)
    return rec


def _records(rec, r, s, pk):
    """Per true peak >= 20 sigma, isolated or in a pair < 1 FWHH, matched to a fitted one:
    errors, stated errors, and whether its partner was fitted (``both``) or picked (``pboth``)."""
    eta = true_eta(s)
    tvol = volume_integral(s.amp, s.fwhh[:, 0], s.fwhh[:, 1], eta[:, 0], eta[:, 1])
    nn = s.nn_distance()
    m = metrics.match_peaks(r.centre, s.centre, s.fwhh, pred_sign=np.where(r.height >= 0, 1, -1),
                            true_sign=np.sign(s.amp))
    # the picks alone, matched the same way, for the comparison
    mp = metrics.match_peaks(np.column_stack([pk.Y_AXIS, pk.X_AXIS]), s.centre, s.fwhh)
    pick_of = {tj: pi for pi, tj in mp.pairs}
    fitted = {tj for _, tj in m.pairs}
    picked = {tj for _, tj in mp.pairs}
    partner = _nearest(s.centre, s.fwhh)
    for pi, tj in m.pairs:
        if s.snr[tj] < 20:
            continue
        kind = "iso" if nn[tj] >= 2 else ("pair" if nn[tj] < 1 else None)
        if kind is None:
            continue
        pj = pick_of.get(tj)
        rec[kind].append(dict(
            dc=np.abs(r.centre[pi] - s.centre[tj]), dce=r.centre_err[pi],
            dw=np.abs(r.fwhh[pi] - s.fwhh[tj]) / s.fwhh[tj], dwe=r.fwhh_err[pi] / s.fwhh[tj],
            dh=abs(r.height[pi] - s.amp[tj]) / abs(s.amp[tj]), dhe=r.height_err[pi] / abs(s.amp[tj]),
            dv=abs(r.volume[pi] - tvol[tj]) / abs(tvol[tj]), dve=r.volume_err[pi] / abs(tvol[tj]),
            pc=np.hypot(*(np.array([pk.Y_AXIS[pj], pk.X_AXIS[pj]]) - s.centre[tj])) if pj is not None else np.nan,
            pw=np.mean(np.abs(np.array([pk.Y_LW[pj], pk.X_LW[pj]]) - s.fwhh[tj]) / s.fwhh[tj]) if pj is not None else np.nan,
            pv=abs(pk.VOL[pj] - tvol[tj]) / abs(tvol[tj]) if pj is not None else np.nan,
            both=partner[tj] in fitted, pboth=partner[tj] in picked, split=bool(r.split[pi]),
            chi2=r.chi2_red[pi], snr=s.snr[tj]))


def _nearest(centre, fwhh):
    """Index of each peak's nearest neighbour (distance in mean FWHH, as ``nn_distance``)."""
    d = (centre[:, None, :] - centre[None, :, :]) / ((fwhh[:, None, :] + fwhh[None, :, :]) / 2)
    d2 = np.sum(d * d, axis=2)
    np.fill_diagonal(d2, np.inf)
    return np.argmin(d2, axis=1)


def _acc_rows(rec):
    rows = []
    for kind, label in (("iso", "isolated (nearest neighbour >= 2 FWHH), >= 20 sigma"),
                        ("pair", "pairs closer than 1 FWHH, >= 20 sigma")):
        v = rec[kind]
        if not v:
            continue
        a = {k: np.array([x[k] for x in v]) for k in v[0]}
        rows.append((label, "fit", len(v), np.median(np.hypot(*a["dc"].T)), np.median(a["dw"]),
                     np.median(a["dh"]), np.median(a["dv"])))
        rows.append((label, "pick alone", len(v), np.nanmedian(a["pc"]), np.nanmedian(a["pw"]),
                     float("nan"), np.nanmedian(a["pv"])))
    return rows


def _cov_rows(rec, kinds):
    """Coverage per parameter, with the 95 % binomial half-interval at 68 % for n peaks."""
    rows = []
    for kind, label in kinds:
        if isinstance(kind, tuple):         # (kind, key, test): the records whose key passes
            test = kind[2] if callable(kind[2]) else (lambda val, want=kind[2]: val == want)
            v = [x for x in rec[kind[0]] if test(x[kind[1]])]
        else:
            v = rec[kind]
        if not v:
            continue
        a = {k: np.array([x[k] for x in v]) for k in ("dc", "dce", "dw", "dwe", "dh", "dhe", "dv", "dve")}
        cov = [np.mean(a["dc"][:, 0] <= a["dce"][:, 0]), np.mean(a["dc"][:, 1] <= a["dce"][:, 1]),
               np.mean(a["dw"][:, 0] <= a["dwe"][:, 0]), np.mean(a["dw"][:, 1] <= a["dwe"][:, 1]),
               np.mean(a["dh"] <= a["dhe"]), np.mean(a["dv"] <= a["dve"])]
        rows.append((label, len(v), f"{1.96 * np.sqrt(0.68 * 0.32 / len(v)):.3f}",
                     *[f"{c:.3f}" for c in cov]))
    return rows


def _median_chi2(recs, both):
    v = [x["chi2"] for x in recs if x["both"] == both]
    return f"{np.median(v):.2f} (n={len(v)})" if v else "n/a (n=0)"


def blends_section(rec, rec0):
    """The blend split (``split_blends``) off and on, same picks, same run: the pairs whose
    partner the picker did not find, and the isolated peaks split (false splits)."""
    rows, cov = [], []
    for name, r in (("off (split_blends=False)", rec0), ("on (default)", rec)):
        v = [x for x in r["pair"] if not x["pboth"]]
        w = [x for x in r["pair"] if x["pboth"]]
        iso = r["iso"]
        rows.append((name, len(v), sum(x["both"] for x in v), np.median([x["dv"] for x in v]),
                     np.median([x["chi2"] for x in v]), np.median([x["dv"] for x in w]) if w else float("nan"),
                     len(iso), sum(x["split"] for x in iso), np.mean([x["split"] for x in iso])))
        cov += _cov_rows({"p": v, "b": [x for x in v if x["both"]], "n": [x for x in v if not x["both"]]},
                         (("p", f"split {name.split()[0]}: pairs picked as one peak"),
                          ("b", "  of which both partners now fitted"),
                          ("n", "  of which still one peak for two")))
    return ["\n### Blends: pairs < 1 FWHH that the picker saw as one peak (same picks, the split off and on)\n",
            "A pick whose shape misfits (mean square residual within 1 FWHH >= 2 noise variances, and the "
            "linear split test >= 3) is tried as two; kept on a BIC drop of 10 counted on the independent "
            "points, both heights >= 3 errors and the threshold, >= 0.3 FWHH apart (see the README). "
            "Pairs: the true peaks >= 20 sigma whose nearest neighbour (< 1 FWHH) was not picked; "
            "false splits: the isolated peaks >= 20 sigma (nearest neighbour >= 2 FWHH) the fit split "
            "into two.\n",
            metrics.format_table(rows, ["split", "pairs picked as one", "partner now fitted",
                                        "median volume error", "median CHI2_RED",
                                        "median volume error, partner picked", "isolated peaks",
                                        "isolated split (false)", "false-split rate"]),
            "\nCoverage of these pairs' stated errors (68 % expected):\n",
            metrics.format_table(cov, COV_HEADER)]


COV_HEADER = ["peaks", "n", "95 % interval (+-)", "Y centre", "X centre", "Y FWHH", "X FWHH", "height",
              "volume"]
ACC_HEADER = ["peaks", "values from", "n", "centre error (pts)", "FWHH error (rel.)", "height error (rel.)",
              "volume error (rel.)"]
#: The coverage rows of the picked spectra (``_cov_rows`` kinds).
PICKED_KINDS = (("iso", "isolated, >= 20 sigma"), ("pair", "pairs < 1 FWHH, >= 20 sigma"),
                (("pair", "both", True), "  of which both partners fitted as peaks"),
                (("pair", "both", False), "  of which the partner not fitted (one peak for two)"))


def speed():
    """1024x2048 with 500 peaks: the pick and the fit of its picks, same run."""
    s = synth.simulate((1024, 2048), 500, seed=SEED + 99)
    uc = _uc(s.meta["udic"])
    noise, thr = noise_threshold(s.data, method="maskrcnn")
    pick({}, s.data[:256, :256].copy(), uc, pthres=thr)       # load the model outside the timing
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    pk = pick({}, s.data, uc, pthres=thr)
    t1 = time.perf_counter()
    r = fit_peaks(s.data, np.column_stack([pk.Y_AXIS, pk.X_AXIS]), np.column_stack([pk.Y_LW, pk.X_LW]),
                  pk.HEIGHT, cluster=pk.cID, noise=noise, threshold=thr)
    t2 = time.perf_counter()
    # the same number of peaks as the issue states: the true peaks >= 5 sigma, started 0.2 point
    # and 10 % off (this spectrum's picks are fewer than its 500 peaks)
    rng = np.random.default_rng(SEED)
    ok = np.argsort(-s.snr)[:500]
    c0 = s.centre[ok] + rng.normal(0, 0.2, (len(ok), 2))
    w0 = s.fwhh[ok] * rng.uniform(0.9, 1.1, (len(ok), 2))
    t3 = time.perf_counter()
    r500 = fit_peaks(s.data, c0, w0, noise=noise, threshold=thr)
    t4 = time.perf_counter()
    load = (load + os.getloadavg()[0]) / 2
    return [("1024x2048, 500 true peaks", "pick (Mask R-CNN, defaults)", len(pk), t1 - t0),
            ("1024x2048, 500 true peaks", "fit of those picks (the fit alone, given the picks)", len(r), t2 - t1),
            ("1024x2048, 500 true peaks", "fit of 500 peaks (all true peaks, perturbed start)", len(r500),
             t4 - t3)], load


def series_synthetic():
    """8-plane relaxation series with known rates; reference sum vs first plane."""
    rows_ref, recs = [], []
    for seed in SERIES_SEEDS:
        planes, tr = simulate_series((256, 512), 60, seed=seed, pairs=6)
        for ref in ("sum", "first"):
            t0 = time.perf_counter()
            res = pick_series(planes, reference=ref, delays=tr["delays"], decay="exp")
            dt = time.perf_counter() - t0
            w = res.wide
            found = np.column_stack([w.Y_AXIS, w.X_AXIS]) if len(w) else np.zeros((0, 2))
            target = tr["amp"] * np.exp(-tr["rate"] * tr["delays"][0]) >= 5
            m = metrics.match_peaks(found, tr["centre"], tr["fwhh"], optional=~target)
            rows_ref.append((seed, ref, int(target.sum()), len(w), m.recall, m.precision, dt))
            if ref != "sum":
                continue
            q_n = len(tr["delays"])
            found_true = {tj for _, tj in m.pairs}
            for pi, tj in m.pairs:
                h = np.array([w[f"HEIGHT_{q}"][pi] for q in range(q_n)])
                he = np.array([w[f"HEIGHT_ERR_{q}"][pi] for q in range(q_n)])
                ht = tr["amp"][tj] * np.exp(-tr["rate"][tj] * tr["delays"])
                recs.append(dict(snr0=ht[0], dh=np.abs(h - ht) / ht, cov_h=np.abs(h - ht) <= he,
                                 R=w.R[pi], Re=w.R_ERR[pi], Rt=tr["rate"][tj], pair=tr["pair"][tj] >= 0,
                                 both=tr["pair"][tj] in found_true, nn=tr["nn"][tj], chi2=w.CHI2_RED[pi]))
    return rows_ref, recs


MC_DRAWS = 30


def series_monte_carlo(draws=MC_DRAWS, seed=SEED + 50):
    """R's z-scores, (R_fit - R_true) / R_err, over noise draws of one simple series with known
    truth: 6 isolated pseudo-Voigt peaks (300 sigma, 3 x 4 points FWHH, eta 0.5 / 0.3) on
    96 x 224 points, rates uniform 5-25 s^-1, new noise (lag-1 0.3) each draw; the peaks
    given 0.2 point off. Fitted with the true model (pseudo-Voigt) and with a Gaussian one
    (a misfit of many noise variances that grows with each plane's height)."""
    from nmrpick_ml.fit import profile
    rng = np.random.default_rng(seed)
    t = np.array([0.01, 0.03, 0.05, 0.08, 0.12, 0.16, 0.22, 0.30])
    cen = np.array([[20.0 + 60 * (i // 3), 25.0 + 80 * (i % 3)] for i in range(6)])
    py = profile(np.arange(96.0)[None], cen[:, :1], 3.0, 0.5)
    px = profile(np.arange(224.0)[None], cen[:, 1:], 4.0, 0.3)
    peaks = {"Y_AXIS": cen[:, 0] + 0.2, "X_AXIS": cen[:, 1] - 0.2, "Y_LW": np.full(6, 3.3),
             "X_LW": np.full(6, 3.6)}
    z = {"pseudo-voigt": [], "gaussian": []}
    chi = {"pseudo-voigt": [], "gaussian": []}
    for _ in range(draws):
        rate = rng.uniform(5, 25, 6)
        planes = np.stack([(py * (300.0 * np.exp(-rate * tq))[:, None]).T @ px
                           + synth.correlated_noise(rng, (96, 224), [0.3, 0.3]) for tq in t])
        for shape in z:
            res = pick_series(planes, peaks=peaks, delays=t, decay="exp", shape=shape)
            z[shape] += list((res.decay.R.to_numpy() - rate) / res.decay.R_ERR.to_numpy())
            chi[shape] += list(res.wide.CHI2_RED)
    rows = []
    for shape in z:
        v = np.array(z[shape])
        rows.append((shape, len(v), np.median(chi[shape]), np.std(v), np.mean(np.abs(v) <= 1)))
    return rows


def real_t1(root):
    """The two real T1 planes as a 2-plane series, beside a fit of each plane on its own."""
    folder = os.path.join(root, REAL_T1)
    spectra = read_series([os.path.join(folder, "1.ft2"), os.path.join(folder, "2.ft2")])
    res = pick_series(spectra, reference="sum")
    long = res.long
    rows, agree = [], []
    ref = res.reference
    for q, spec in enumerate(spectra):
        single = fit_peaks(spec.data, np.column_stack([ref.Y_AXIS, ref.X_AXIS]),
                           np.column_stack([ref.Y_LW, ref.X_LW]), cluster=ref.cID,
                           residual_search=False)
        lq = long[long.PLANE == q].sort_values("INDEX")
        d = np.abs(lq.HEIGHT.to_numpy() - single.height)
        e = np.hypot(lq.HEIGHT_ERR.to_numpy(), single.height_err)
        agree.extend(d <= e)
        rows.append((q, len(lq), np.median(d / e), np.mean(d <= e), np.mean(d <= 2 * e),
                     np.median(lq.HEIGHT_ERR.to_numpy() / np.abs(lq.HEIGHT.to_numpy()))))
    return res, rows, float(np.mean(agree))


def main():
    from nmrpick_ml.bench import realdata_root
    out = [f"# Lineshape fitting and pseudo-3D series\n\n{header()}", __doc__.split("\n\n", 2)[2]]
    rec, rec0, times, rec_abs = fit_accuracy()
    prec = pairs_coverage()
    out += ["## Fit accuracy: picks of the shipped model, then the fit (synthetic truth)\n",
            f"Spectra: `simulate` {', '.join(f'{a}x{b} {n} peaks seed {s}' for (a, b), n, s in FIT_SPECTRA)} "
            "(realistic recipe: crowded regions, t1 ridges, baseline, correlated noise). Fitted peaks "
            "matched one-to-one to true ones (`metrics.match_peaks`); the pick alone is scored on the same "
            "true peaks. Medians; centre error is the distance in points, FWHH error the mean relative "
            "error of the two axes (pick) or per axis (fit), height and volume relative errors.\n",
            metrics.format_table(_acc_rows(rec), ACC_HEADER),
            "\n### Are the stated errors calibrated? Fraction of peaks whose truth lies within one "
            "stated standard error (68 % expected; floor 60-75 %)\n",
            "The picked spectra (above); the 95 % interval is that of a binomial fraction of 68 % "
            "over n peaks.\n",
            metrics.format_table(_cov_rows(rec, PICKED_KINDS), COV_HEADER),
            "\nThe isolated peaks by their cluster's CHI2_RED and by their height over the noise "
            "(where misfit or signal-to-noise could make the errors wrong):\n",
            metrics.format_table(_cov_rows(rec, (
                (("iso", "chi2", lambda c: c <= 1.2), "isolated, CHI2_RED <= 1.2"),
                (("iso", "chi2", lambda c: 1.2 < c <= 2), "isolated, CHI2_RED 1.2-2"),
                (("iso", "chi2", lambda c: c > 2), "isolated, CHI2_RED > 2"),
                (("iso", "snr", lambda v: v < 50), "isolated, 20-50 sigma"),
                (("iso", "snr", lambda v: 50 <= v < 200), "isolated, 50-200 sigma"),
                (("iso", "snr", lambda v: v >= 200), "isolated, >= 200 sigma"))), COV_HEADER),
            "\nErrors scaled by the residual (the default: `max(1, chi2)`, as scipy's "
            "`curve_fit(absolute_sigma=False)`) or from the measured noise alone "
            "(`fit_peaks(..., absolute_sigma=True)`), same picks, same run:\n",
            metrics.format_table(_cov_rows({"r": rec["iso"], "a": rec_abs["iso"], "rp": rec["pair"],
                                            "ap": rec_abs["pair"],
                                            "rc": [x for x in rec["iso"] if x["chi2"] > 2],
                                            "ac": [x for x in rec_abs["iso"] if x["chi2"] > 2]}, (
                ("r", "isolated, scaled by the residual (default)"),
                ("a", "isolated, the noise alone"),
                ("rc", "isolated, CHI2_RED > 2, scaled by the residual"),
                ("ac", "isolated, CHI2_RED > 2, the noise alone"),
                ("rp", "pairs < 1 FWHH, scaled by the residual (default)"),
                ("ap", "pairs < 1 FWHH, the noise alone"))), COV_HEADER),
            "\nA pair whose partner the fit has no peak for (the picker found one peak where there "
            "are two, and the residual search added none there) is a blend: its values are those "
            "of the sum, and the truth of one member is not what they estimate. Median CHI2_RED of "
            "the pairs' clusters: both fitted "
            + _median_chi2(rec["pair"], True) + ", partner not fitted " + _median_chi2(rec["pair"], False)
            + " (the isolated peaks' " + f"{np.median([x['chi2'] for x in rec['iso']]):.2f}" + ").\n",
            f"\nClose pairs (`pairs_spectrum`, {len(PAIR_SPECTRA)} spectra 512x1024 of 64 pairs, seeds "
            f"{PAIR_SPECTRA[0]}-{PAIR_SPECTRA[-1]}: 0.5-0.95 FWHH apart, 20-1000 sigma, correlated noise "
            "0-0.92 per axis): each pair fitted as one cluster from a start 0.2 point and 10 % off the "
            "truth, so that the errors are judged on pairs, apart from what the picker finds.\n",
            metrics.format_table(_cov_rows({"pairs": prec}, (
                ("pairs", "close pairs, 20-1000 sigma"),
                (("pairs", "rho", lambda v: v < 0.5), "  noise lag-1 correlation < 0.5 (both axes)"),
                (("pairs", "rho", lambda v: 0.5 <= v < 0.8), "  largest lag-1 correlation 0.5-0.8"),
                (("pairs", "rho", lambda v: v >= 0.8), "  largest lag-1 correlation >= 0.8"))), COV_HEADER),
            f"\nMedian CHI2_RED of these fits: {np.median([x['chi2'] for x in prec]):.3f}.\n",
            "\nPer spectrum (same run): " + "; ".join(
                f"pick {a:.2f} s, fit {b:.2f} s ({c} picks, {d} fitted peaks, {e} added by the residual "
                f"search, of which {f} beside a split pick)"
                for a, b, c, d, e, f in times) + ".\n"] + blends_section(rec, rec0)
    rec2 = second_draw()
    out += ["\n### The same recipe drawn again (not used to set the fit's constants)\n",
            f"Spectra: `simulate` 512x1024 200 peaks seeds {FIT_SECOND[0][2]}-{FIT_SECOND[-1][2]}, "
            "picked and fitted with the defaults as above.\n",
            metrics.format_table([r_ for r_ in _acc_rows(rec2) if r_[1] == "fit"], ACC_HEADER),
            "\nCoverage of the stated errors (68 % expected):\n",
            metrics.format_table(_cov_rows(rec2, PICKED_KINDS), COV_HEADER)]
    rows, load = speed()
    out += ["## Speed, 1024x2048 with 500 peaks (same run, one process)\n",
            metrics.format_table(rows, ["spectrum", "step", "peaks", "time (s)"]),
            f"\nThe fit is numpy on one thread (OMP_NUM_THREADS as above); load average (1 min) "
            f"{load:.2f} during these timings (2 cores; a model training may hold one).\n"]
    rows_ref, recs = series_synthetic()
    a = {k: np.array([x[k] for x in recs]) for k in recs[0]}
    strong = a["snr0"] >= 50
    rel_r = np.abs(a["R"] - a["Rt"]) / a["Rt"]
    cov_r = np.abs(a["R"] - a["Rt"]) <= a["Re"]
    series_rows = [
        ("peaks >= 50 sigma in the first plane", int(strong.sum()), np.median(a["dh"][strong]),
         np.mean(a["cov_h"][strong]), np.median(rel_r[strong]), np.mean(cov_r[strong])),
        ("all matched peaks", len(recs), np.median(a["dh"]), np.mean(a["cov_h"]),
         np.median(rel_r), np.mean(cov_r)),
        ("overlapping pairs (0.6-0.95 FWHH apart, own rates), >= 50 sigma",
         int((a["pair"] & strong).sum()), np.median(a["dh"][a["pair"] & strong]),
         np.mean(a["cov_h"][a["pair"] & strong]), np.median(rel_r[a["pair"] & strong]),
         np.mean(cov_r[a["pair"] & strong]))]
    for lo, hi, label in ((0, 1.2, "  of which CHI2_RED <= 1.2 (the series fit's)"),
                          (1.2, 2.0, "  of which CHI2_RED 1.2-2"), (2.0, np.inf, "  of which CHI2_RED > 2")):
        sel = strong & (a["chi2"] > lo) & (a["chi2"] <= hi)
        if sel.any():
            series_rows.append((label, int(sel.sum()), np.median(a["dh"][sel]), np.mean(a["cov_h"][sel]),
                                np.median(rel_r[sel]), np.mean(cov_r[sel])))
    for both, label in ((True, "  of which both partners found (picked, or split from one pick)"), (False, "  of which one peak for two (the partner neither picked nor split off)")):
        sel = a["pair"] & strong & (a["both"] == both)
        if sel.any():
            series_rows.append((label, int(sel.sum()), np.median(a["dh"][sel]), np.mean(a["cov_h"][sel]),
                                np.median(rel_r[sel]), np.mean(cov_r[sel])))
    out += ["## Series: 8-plane synthetic relaxation with known rates\n",
            f"`simulate_series((256, 512), 60, seed, pairs=6)` for seeds {SERIES_SEEDS}: peaks drawn as "
            "`simulate` draws them plus 6 overlapping pairs per series, heights amp exp(-R t) with R "
            "uniform in 5-25 s^-1, delays 0.01-0.30 s, independent correlated noise per plane (lag-1 0.3). "
            "`pick_series(..., reference='sum', delays, decay='exp')`: picked once, all planes fitted "
            "with shared positions and widths, then I0 exp(-R t) per peak (generalised least squares "
            "on the heights' covariance).\n",
            metrics.format_table(series_rows, ["peaks", "n", "median height error (rel., all planes)",
                                               "height within 1 error", "median R error (rel.)",
                                               "R within its error"]),
            "\nThe heights' covariance across planes (what the decay fit weighs them by) is the noise's "
            "plus, where a cluster misfits, each plane's own excess of residual, correlated between the "
            "planes as the residual is (see the README).\n",
            "\n### Are R's errors calibrated? A Monte-Carlo with known truth (same run)\n",
            f"`series_monte_carlo()` in this script: {MC_DRAWS} noise draws of one series of 6 isolated "
            "peaks (300 sigma, pseudo-Voigt), fitted with the true model and with a Gaussian one (a "
            "misfit that grows with each plane's height). z = (R_fit - R_true) / R_err: sd 1 and 68 % "
            "within 1 if calibrated.\n",
            metrics.format_table(series_monte_carlo(), ["model", "n", "median CHI2_RED", "sd of z",
                                                        "within 1 error"]),
            "\n### Reference for picking: sum of the planes or the first plane (same run)\n",
            "Recall and precision of the series' peaks against the true peaks >= 5 sigma in the "
            "first plane (weaker ones optional).\n",
            metrics.format_table(rows_ref, ["seed", "reference", "true peaks", "peaks", "recall",
                                            "precision", "time (s)"])]
    root = realdata_root()
    if root and os.path.isdir(os.path.join(root, REAL_T1)):
        res, rows, frac = real_t1(root)
        out += [f"\n## Real: the two T1 planes of `{REAL_T1}` as a 2-plane series\n",
                "`pick_series([1.ft2, 2.ft2])` (transposed file: axis 0 is 1H), "
                f"{res.info['n_peaks']} peaks, {len(res.long)} rows in the long table "
                f"({len(res.long) // max(res.info['n_peaks'], 1)} per peak). Beside it each plane is "
                "fitted on its own (`fit_peaks`, the same start peaks, widths free per plane): "
                "difference of the heights over their combined error sqrt(e_series^2 + e_plane^2).\n",
                metrics.format_table(rows, ["plane", "peaks", "median |difference| / error",
                                            "within 1 error", "within 2 errors",
                                            "median relative height error"]),
                f"\nHeights within their combined error over both planes: {frac:.3f}.\n"]
    write_report("fit", "\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
