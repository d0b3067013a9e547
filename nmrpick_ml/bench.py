"""The benchmarks behind ``nmrpick-ml bench``.

Each benchmark prints a Markdown report and writes it to
``benchmarks/results/<name>.md`` with the command that made it, the machine,
the threads, the git commit and the seeds. Tiles and spectra come from seeds
never used in training (training draws from ``default_rng([seed, step, rank])``
with small seeds; benchmarks use ``[BENCH_SEED, i]``).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import sys
import time

import numpy as np

from . import metrics, synth
from ._noise import estimate_noise

BENCH_SEED = 20261124
SNR_EDGES = [3, 5, 10, 30, 100, np.inf]
NN_EDGES = [0, 1, 1.5, 2, 3, np.inf]


def _header(command, seed):
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(__file__), timeout=10).stdout.strip()
    except Exception:
        commit = "unknown"
    threads = "n/a"
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        pass
    return (f"Made by: `{command}`\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
            f"torch threads {threads}; commit {commit}; seed {seed}; "
            f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")


def write_report(name, text, outdir=None):
    """Print ``text`` and write it atomically to ``<outdir>/<name>.md``."""
    outdir = outdir or os.path.join(os.getcwd(), "benchmarks", "results")
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, f"{name}.md")
    from .files import atomic_write_text
    atomic_write_text(path, text)
    print(text)
    return path


# ------------------------------------------------------------------ tiles


def run_tiles(picker, tiles, batch_size=8):
    """Pick synthetic tiles exactly as whole-spectrum picking does.

    Each tile is a spectrum of its own, picked by the same engine as
    :func:`nmrpick_ml.pick` with default settings (robust noise, threshold
    ``MODEL_SNR`` x noise, resampling, network, post-processing); scores are
    kept down to the network's floor (0.05) so that precision-recall curves can
    be drawn (:func:`nmrpick_ml.picker.detect_each`). Returns one dict per
    tile: ``centre``, ``fwhh``, ``height``, ``score`` and ``box`` (the
    half-height box of each peak).
    """
    from ._refine import half_height_box
    from .picker import as_picker, detect_each
    out = []
    for t, p in zip(tiles, detect_each(as_picker(picker), [t.data for t in tiles],
                                       batch_size=batch_size)):
        box = np.array([half_height_box(c, w, t.data.shape) for c, w in zip(p.centre, p.fwhh)])
        out.append(dict(centre=p.centre, fwhh=p.fwhh, height=p.height, score=p.score,
                        volume=p.volume, box=box.reshape(-1, 4)))
    return out


def paper_protocol(model, n=1000, seed=BENCH_SEED, score_threshold=0.5, batch_size=8):
    """The paper's protocol: ``n`` fresh tiles of the paper recipe, IoU 0.5.

    mAP is computed over all scored detections; FP % and FN % at ``score_threshold``.
    """
    tiles = [synth.make_spectrum((128, 128), synth.PAPER, seed=[seed, 1, i]) for i in range(n)]
    res = run_tiles(model, tiles, batch_size)
    preds = [(r["box"], r["score"]) for r in res]
    truths = [t.box[t.target] for t in tiles]
    m_all = metrics.detection_metrics(preds, truths, 0.5)
    m_thr = metrics.detection_metrics(preds, truths, 0.5, score_threshold=score_threshold)
    return dict(mAP=m_all["mAP"], FP_percent=m_thr["FP_percent"], FN_percent=m_thr["FN_percent"],
                n_true=m_all["n_true"], n_tiles=n)


def realistic_tiles(model, n=1000, seed=BENCH_SEED, score_threshold=0.5, batch_size=8,
                    min_snr=5.0, recipe=None):
    """Peak-level accuracy on ``n`` fresh realistic tiles (or tiles of ``recipe``).

    Required peaks: positive, centre inside the tile, resolved
    (:meth:`Synthetic.resolved`), SNR >= ``min_snr``. Other positive peaks are
    optional (neither a miss nor, when picked, a false pick); a pick on a
    negative peak or on nothing is a false pick.
    """
    recipe = synth.REALISTIC if recipe is None else recipe
    tiles = [synth.make_spectrum((128, 128), recipe, seed=[seed, 2, i]) for i in range(n)]
    res = run_tiles(model, tiles, batch_size)
    rows = []  # per true positive peak: snr, nn, border, resolved, required, matched-at-threshold
    allscores, alltrue = [], []
    thr_grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    pr = np.zeros((len(thr_grid), 3))  # tp, fp, fn at each threshold
    for t, r in zip(tiles, res):
        pos = (t.amp > 0) & np.all((t.centre >= -0.5) & (t.centre < 127.5), axis=1)
        cen, fw = t.centre[pos], t.fwhh[pos]
        snr = t.snr[pos]
        nn = t.nn_distance()[pos]
        resolved = t.resolved()[pos]
        required = resolved & (snr >= min_snr)
        border = np.min(np.minimum(cen, 127 - cen), axis=1)
        keep = r["score"] >= score_threshold
        m = metrics.match_peaks(r["centre"][keep], cen, fw, optional=~required,
                                pred_fwhh=r["fwhh"][keep])
        for i in range(len(cen)):
            rows.append((snr[i], nn[i], border[i], required[i], m.matched[i]))
        # calibration: every scored pick, true if matched to any positive peak
        mall = metrics.match_peaks(r["centre"], cen, fw)
        allscores.extend(r["score"])
        alltrue.extend(np.array(mall.status) == "tp")
        for k, thr in enumerate(thr_grid):
            kk = r["score"] >= thr
            mk = metrics.match_peaks(r["centre"][kk], cen, fw, optional=~required)
            pr[k] += (mk.tp, mk.fp, mk.fn)
    rows = np.array(rows, dtype=float).reshape(-1, 5)
    snr, nn, border, required, matched = rows.T
    required = required.astype(bool)
    matched = matched.astype(bool)
    k = int(np.argmin(np.abs(thr_grid - score_threshold)))
    tp, fp, fn = pr[k]
    out = dict(precision=tp / max(tp + fp, 1), recall=tp / max(tp + fn, 1), tp=tp, fp=fp, fn=fn,
               n_tiles=n, score_threshold=score_threshold)
    req_ok = required | ((snr >= 3) & (snr < min_snr))  # band tables include the 3-5 sigma band
    out["by_snr"] = metrics.recall_by_band(matched[req_ok | required], snr[req_ok | required], SNR_EDGES)
    strong = (snr >= min_snr)
    out["by_nn"] = metrics.recall_by_band(matched[strong], nn[strong], NN_EDGES)
    out["by_border"] = metrics.recall_by_band(matched[required], border[required], [-1, 2, 5, 10, 200])
    sel = required & (nn < 2)
    out["recall_close"] = float(matched[sel].mean()) if sel.any() else float("nan")
    sel = required & (snr >= 5) & (snr < 10)
    out["recall_5_10"] = float(matched[sel].mean()) if sel.any() else float("nan")
    out["pr_curve"] = [(thr, tp_ / max(tp_ + fp_, 1), tp_ / max(tp_ + fn_, 1))
                       for thr, (tp_, fp_, fn_) in zip(thr_grid, pr)]
    out["reliability"] = metrics.reliability_table(np.array(allscores), np.array(alltrue), bins=10)
    return out


def tile_speed(picker, batch_sizes=(1, 4, 8, 16), n=64, seed=BENCH_SEED):
    """Inference time per tile (network only) at several batch sizes."""
    from .calibration import network_floor
    from .normalise import noise_scale, normalise
    tiles = [synth.make_spectrum((128, 128), synth.REALISTIC, seed=[seed, 3, i]) for i in range(n)]
    x = [normalise(t.data, noise_scale(t.data, estimate_noise(t.data))) for t in tiles]
    floor = network_floor(picker.score_threshold, picker.calibration)
    picker.engine.run(x[:8], floor, batch_size=8)  # warm-up
    rows = []
    for b in batch_sizes:
        t0 = time.perf_counter()
        picker.engine.run(x, floor, batch_size=b)
        rows.append((b, 1000 * (time.perf_counter() - t0) / n))
    return rows


def bench_model(model=None, n=1000, seed=BENCH_SEED, command="nmrpick-ml bench --model", outdir=None):
    """Write ``model.md``: the paper protocol, realistic tiles, speed and size."""
    import torch
    from .picker import as_picker
    from .shipped import weights_path
    model = as_picker(model)
    thr = model.score_threshold
    t0 = time.time()
    p = paper_protocol(model, n=n, seed=seed, score_threshold=thr)
    r = realistic_tiles(model, n=n, seed=seed, score_threshold=thr)
    speed = tile_speed(model)
    from .model import build_model
    n_par = sum(q.numel() for q in build_model(model.arch).parameters())
    wpath = os.fspath(weights_path())
    size_mb = os.path.getsize(wpath) / 1e6 if os.path.exists(wpath) else float("nan")
    ft = metrics.format_table
    txt = [f"# Mask R-CNN on tiles\n\n{_header(command, seed)}",
           f"Default score threshold {thr}; {n} fresh tiles per protocol; benchmark time "
           f"{time.time() - t0:.0f} s.\n",
           "## Paper protocol (paper recipe, IoU 0.5)\n",
           ft([("paper's best (ICAART 2023)", 0.93, 10.17, 1.79),
               ("nmrpick-ml", p["mAP"], p["FP_percent"], p["FN_percent"])],
              ["model", "mAP", "FP %", "FN %"], floatfmt=".4g"),
           f"\n{p['n_true']} true peaks in {p['n_tiles']} tiles.\n",
           "## Realistic tiles (resolved peaks >= 5 sigma)\n",
           ft([(r["precision"], r["recall"], int(r["tp"]), int(r["fp"]), int(r["fn"]),
                r["recall_5_10"], r["recall_close"])],
              ["precision", "recall", "TP", "FP", "FN", "recall SNR 5-10",
               "recall, neighbour < 2 FWHH"]),
           "\n### Recall by SNR band (resolved peaks; 3-5 sigma not required above)\n",
           ft([(f"{lo:g}-{hi:g}", n_, rc) for lo, hi, n_, rc in r["by_snr"]], ["SNR", "peaks", "recall"]),
           "\n### Recall by nearest-neighbour distance (FWHH units, peaks >= 5 sigma, resolved or not)\n",
           ft([(f"{lo:g}-{hi:g}", n_, rc) for lo, hi, n_, rc in r["by_nn"]], ["distance", "peaks", "recall"]),
           "\n### Recall by distance of the centre to the tile border (points)\n",
           ft([(f"{max(lo, 0):g}-{hi:g}", n_, rc) for lo, hi, n_, rc in r["by_border"]],
              ["distance", "peaks", "recall"]),
           "\n### Precision-recall over the score threshold\n",
           ft(r["pr_curve"], ["score threshold", "precision", "recall"]),
           "\n### Score reliability (all scored picks; true = matched to a positive peak)\n",
           ft([(f"{lo:.1f}-{hi:.1f}", n_, ms, fr) for lo, hi, n_, ms, fr in r["reliability"]],
              ["score", "picks", "mean score", "fraction true"]),
           "\n## Speed and size\n",
           ft([(b, ms) for b, ms in speed], ["batch size", "ms per tile (network, 2 cores)"]),
           f"\nParameters: {n_par / 1e6:.2f} M; weights file {size_mb:.1f} MB; "
           f"torch threads {torch.get_num_threads()}.\n"]
    return write_report("model", "\n".join(txt), outdir)


def _band(by_snr, lo):
    return next((rc for a, b, n_, rc in by_snr if a == lo), float("nan"))


def bench_compare(weights, n=300, seed=BENCH_SEED + 11, paper=True,
                  command="nmrpick-ml bench --compare WEIGHTS", outdir=None):
    """Write ``model_compare.md``: the shipped model and ``weights`` side by side, one run.

    Fresh tiles of the paper, realistic and processed recipes, each model at its
    own default score threshold (an uncalibrated model: 0.5 on its raw score).
    """
    from .picker import as_picker, load_model
    models = [("shipped", as_picker(None)), (os.path.basename(os.path.dirname(os.fspath(weights)))
                                             or os.fspath(weights), load_model(weights))]
    rows, prow = [], []
    for name, m in models:
        thr = m.score_threshold if m.config.get("calibration") else 0.5
        label = f"{name} ({m.version}, {m.config.get('steps', '?')} steps)"
        if paper:
            p = paper_protocol(m, n=n, seed=seed, score_threshold=thr)
            prow.append((label, p["mAP"], p["FP_percent"], p["FN_percent"]))
        for rname, rec in (("realistic", synth.REALISTIC), ("processed", synth.PROCESSED)):
            r = realistic_tiles(m, n=n, seed=seed, score_threshold=thr, recipe=rec)
            rows.append((label, rname, thr, r["precision"], r["recall"], _band(r["by_snr"], 10),
                         r["recall_5_10"], r["recall_close"]))
    ft = metrics.format_table
    txt = [f"# Models side by side on tiles\n\n{_header(command, seed)}",
           f"{n} fresh tiles per recipe (seed [{seed}, 2, i]); resolved peaks >= 5 sigma; each model "
           "at its default score threshold (0.5 on the raw score when it has no calibration).\n",
           ft(rows, ["model", "recipe", "score thr.", "precision", "recall", "recall 10-30 sigma",
                     "recall 5-10 sigma", "recall, neighbour < 2 FWHH"])]
    if paper:
        txt += ["\n## Paper protocol (IoU 0.5)\n", ft(prow, ["model", "mAP", "FP %", "FN %"])]
    return write_report("model_compare", "\n".join(txt) + "\n", outdir)


# ------------------------------------------------------------------ whole spectra

#: The fixed benchmark set of whole spectra made by ``simulate``:
#: (name, shape, peaks, seed, negative peaks).
SPECTRA = (
    ("hsqc_256x512_60", (256, 512), 60, 101, False),
    ("hsqc_512x1024_100", (512, 1024), 100, 102, False),
    ("hsqc_512x1024_250_signed", (512, 1024), 250, 103, True),
    ("hsqc_1024x2048_300", (1024, 2048), 300, 104, False),
    ("hsqc_1024x2048_500_signed", (1024, 2048), 500, 105, True),
)
NMRGLUE_SWEEP = (3, 5, 8, 10, 15, 20, 30, 50, 100)

_SMALL = dataclasses.replace(synth.PROCESSED, p_small=1.0)
_PROTEIN = dataclasses.replace(synth.PROCESSED, p_small=0.0)
#: Whole spectra of the processed recipe (acquisition and processing simulated):
#: 10 small-molecule 13C HSQC (few sharp peaks, 1H multiplets, strong lines;
#: half multiplicity-edited) and 10 protein 15N HSQC, 256x512 to 1024x2048.
#: ``(name, shape, peaks, seed, negative, recipe)``.
PROCESSED_SPECTRA = tuple(
    [(f"small_{i:02d}_{a}x{b}_{n}{'_signed' if neg else ''}", (a, b), n, 201 + i, neg, _SMALL)
     for i, ((a, b), n, neg) in enumerate([((256, 512), 15, False), ((256, 512), 25, True),
                                           ((256, 512), 40, False), ((256, 1024), 30, True),
                                           ((512, 1024), 20, False), ((512, 1024), 50, True),
                                           ((512, 1024), 60, False), ((256, 512), 10, True),
                                           ((512, 512), 35, False), ((1024, 2048), 60, True)])]
    + [(f"protein_{i:02d}_{a}x{b}_{n}", (a, b), n, 301 + i, False, _PROTEIN)
       for i, ((a, b), n) in enumerate([((256, 512), 60), ((256, 512), 100), ((512, 512), 120),
                                        ((512, 1024), 150), ((512, 1024), 250), ((256, 1024), 100),
                                        ((1024, 1024), 200), ((1024, 2048), 300), ((512, 2048), 200),
                                        ((1024, 2048), 500)])])
#: The same 20 recipes drawn again (seeds + 1000, names ending ``_b``): spectra the picking
#: rules' constants were not chosen on, to tell what they learnt from ``PROCESSED_SPECTRA``.
PROCESSED_SECOND = tuple((name + "_b", shape, n, seed + 1000, neg, recipe)
                         for name, shape, n, seed, neg, recipe in PROCESSED_SPECTRA)


def make_spectra(folder, spectra=SPECTRA):
    """Write the benchmark spectra (NMRPipe + truth CSV) with ``simulate``; return
    ``[(name, path, Synthetic, negative)]``. An entry may carry a sixth item, its recipe."""
    os.makedirs(folder, exist_ok=True)
    out = []
    for name, shape, n, seed, neg, *rec in spectra:
        s = synth.simulate(shape=shape, n_peaks=n, seed=seed, negative=neg,
                           recipe=rec[0] if rec else synth.REALISTIC)
        path = os.path.join(folder, f"{name}.ft2")
        synth.write_spectrum(path, s)
        out.append((name, path, s, neg))
    return out


def score(peaks, sim, min_snr=5.0):
    """Match a peak table (``Y_AXIS, X_AXIS, Y_LW, X_LW, HEIGHT``) to the truth.

    Required: resolved peaks (:meth:`Synthetic.resolved`) with SNR >= ``min_snr``;
    every other true peak is optional. Sign-aware.
    """
    pos = np.column_stack([peaks["Y_AXIS"], peaks["X_AXIS"]]) if len(peaks) else np.zeros((0, 2))
    fw = np.column_stack([peaks["Y_LW"], peaks["X_LW"]]) if len(peaks) else np.zeros((0, 2))
    fw = np.where(np.isfinite(fw) & (fw > 0), fw, 1e-3)  # a zero or missing width: 100 % error
    sign = np.sign(np.asarray(peaks["HEIGHT"], float)) if len(peaks) else np.zeros(0)
    required = sim.resolved() & (sim.snr >= min_snr)
    return metrics.match_peaks(pos, sim.centre, sim.fwhh, pred_sign=sign, true_sign=np.sign(sim.amp),
                               optional=~required, pred_fwhh=fw)


def _nmrglue_pick(data, noise, k, negative):
    from ._classical import pick_nmrglue
    t0 = time.perf_counter()
    p = pick_nmrglue(data, k * noise, -k * noise if negative else None)
    dt = time.perf_counter() - t0
    iy = np.clip(np.rint(p["Y_AXIS"]).astype(int), 0, data.shape[0] - 1)
    ix = np.clip(np.rint(p["X_AXIS"]).astype(int), 0, data.shape[1] - 1)
    out = {k_: np.asarray(p[k_], float) for k_ in ("Y_AXIS", "X_AXIS", "Y_LW", "X_LW")}
    out["HEIGHT"] = data[iy, ix]
    return _Table(out), dt


class _Table(dict):
    def __len__(self):
        return len(self["Y_AXIS"])


def _row(name, picker, m, seconds):
    return (name, picker, m.precision, m.recall, m.f1, m.median_centre_error,
            m.median_fwhh_error, seconds)


ROW_HEADERS = ["spectrum", "picker", "precision", "recall", "F1", "median centre error (pts)",
               "median FWHH error (rel.)", "time (s)"]


def bench_baseline(folder=None, command="nmrpick-ml bench --baseline", outdir=None):
    """nmrglue's ``peakpick.pick`` over a threshold sweep on the benchmark spectra."""
    import tempfile
    from .io import read_spectrum
    folder = folder or tempfile.mkdtemp(prefix="nmrpick_bench_")
    specs = make_spectra(folder)
    rows, best = [], []
    for name, path, sim, neg in specs:
        spec = read_spectrum(path)
        noise = estimate_noise(spec.data)
        cands = []
        for k in NMRGLUE_SWEEP:
            p, dt = _nmrglue_pick(spec.data, noise, k, neg)
            m = score(p, sim)
            rows.append(_row(name, f"nmrglue {k} sigma", m, dt))
            cands.append((m.f1, k, m, dt))
        f1, k, m, dt = max(cands, key=lambda c: c[0])
        best.append(_row(name, f"nmrglue best ({k} sigma)", m, dt))
    txt = [f"# Baseline: nmrglue `peakpick.pick` on synthetic whole spectra\n\n{_header(command, 'see SPECTRA')}",
           "Spectra: `nmrpick_ml.bench.SPECTRA`, written by `simulate` as NMRPipe files and read back "
           "with `read_spectrum`. nmrglue 'connected' algorithm with `est_params=True`; threshold k x "
           "robust noise (negative peaks at -k x noise on signed spectra). Scored peaks: resolved, "
           ">= 5 sigma; weaker or unresolved true peaks are optional. FWHH error = |w - w_true| / w_true "
           "averaged over both axes.\n",
           "## Best threshold per spectrum\n", metrics.format_table(best, ROW_HEADERS),
           "\n## Threshold sweep\n", metrics.format_table(rows, ROW_HEADERS)]
    return write_report("baseline", "\n".join(txt) + "\n", outdir)


def bench_realism(n=500, root=None, command="nmrpick-ml bench --realism", outdir=None):
    """Write ``realism.md``: the real spectra's figures against both synthetic recipes."""
    from ._realism import processed_realism_table, realism_table
    root = root or realdata_root()
    if root is None:
        raise FileNotFoundError("../shared/realdata not found beside the repository")
    proc, _ = processed_realism_table(root, n=n, seed=0)
    text = ("# Realism: real spectra vs the synthetic recipes\n\n" + _header(command, 0)
            + "\nReal spectra: `../shared/realdata` (read in place).\n\n"
            "## The `processed` recipe (acquisition and processing simulated)\n\n" + proc
            + "\n## The `realistic` recipe (frequency-domain peaks; model v1 trained on it)\n\n"
            + realism_table(root, n_synth=200, seed=0))
    return write_report("realism", text, outdir)


def synth_speed(n=1000, seed=BENCH_SEED, recipe=None):
    """Seconds (wall, and CPU of this process) to make ``n`` 128x128 tiles with their masks.

    BLAS is limited to one thread: the matrices are small, and a second BLAS
    thread spinning against another busy process made it 4x slower here.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib
        threadpool_limits = lambda **kw: contextlib.nullcontext()  # noqa: E731
    recipe = synth.REALISTIC if recipe is None else recipe
    with threadpool_limits(limits=1):
        synth.make_tiles(5, seed=seed + 1, recipe=recipe)        # warm-up (imports, caches)
        t0, c0 = time.perf_counter(), time.process_time()
        synth.make_tiles(n, seed=seed, recipe=recipe)
        return time.perf_counter() - t0, time.process_time() - c0


def bench_synth(command="nmrpick-ml bench --synth", outdir=None):
    """The tile-generation speed figures, one row per recipe."""
    rows = []
    load = [os.getloadavg()[0]]
    for name, rec in (("realistic", synth.REALISTIC), ("processed", synth.PROCESSED)):
        wall, cpu = synth_speed(recipe=rec)
        rows.append((name, wall, cpu, 1000 / wall))
    load.append(os.getloadavg()[0])
    txt = (f"# Synthetic data speed\n\n{_header(command, BENCH_SEED)}\n"
           "1000 128x128 tiles with their FWHH masks, one process, one BLAS thread "
           "(CPU: this process's CPU time, less sensitive to other load on the machine):\n\n"
           + metrics.format_table(rows, ["recipe", "wall s", "CPU s", "tiles/s (wall)"], floatfmt=".2f")
           + f"\nLoad average (1 min) before and after: {load[0]:.2f}, {load[1]:.2f} "
           f"(on {os.cpu_count()} cores).\n")
    return write_report("synth_speed", txt, outdir)


def _pick_model(spec, weights, negative):
    """Ours as a user runs it: default threshold (``MODEL_SNR`` x noise, and its
    negative for signed spectra), the noise estimated once. Returns the table
    and the :class:`~nmrpick_ml.peaks.Peaks` (what was used)."""
    from .picking import find_peaks, noise_threshold
    noise, thr = noise_threshold(spec.data, method="maskrcnn")
    u = spec.uc[spec.direct_axis]
    found = find_peaks(spec.data, noise=noise, method="maskrcnn", model=weights, pthres=thr,
                       nthres=-thr if negative else None, direct_axis=spec.direct_axis,
                       labels=spec.labels, hz_per_point=abs(u.hz(1.0) - u.hz(0.0)))
    return found.to_table(spec.uc), found


def bench_spectra(weights=None, folder=None, command="nmrpick-ml bench --spectra", outdir=None,
                  spectra=SPECTRA, report="spectra"):
    """Ours beside nmrglue (at its best threshold per file) on the benchmark spectra, one run.

    Also the score reliability table over all our picks, matched to any true peak.
    ``spectra=PROCESSED_SPECTRA, report="spectra_processed"`` runs the processed set.
    """
    import tempfile
    from .io import read_spectrum, write_table
    from .picker import as_picker
    folder = folder or tempfile.mkdtemp(prefix="nmrpick_bench_")
    specs = make_spectra(folder, spectra)
    weights = as_picker(weights)  # load once, outside the timings
    rows, speed = [], []
    scores_all, true_all = [], []
    for name, path, sim, neg in specs:
        # ours, end to end: read, pick, refine, write
        t0 = time.perf_counter()
        spec = read_spectrum(path)
        peaks, found = _pick_model(spec, weights, neg)
        write_table(os.path.join(folder, name + ".tab"), peaks, spec)
        t_ours = time.perf_counter() - t0
        m = score(peaks, sim)
        rows.append(_row(name, "nmrpick-ml", m, t_ours))
        # calibration: all picks against every true peak (weak and unresolved included)
        loose = metrics.match_peaks(np.column_stack([peaks.Y_AXIS, peaks.X_AXIS]), sim.centre,
                                    sim.fwhh, pred_sign=np.sign(peaks.HEIGHT),
                                    true_sign=np.sign(sim.amp))
        scores_all.extend(peaks.SCORE)
        true_all.extend(np.array(loose.status) == "tp")
        noise = estimate_noise(spec.data)
        cands = []
        for k in NMRGLUE_SWEEP:
            p, dt = _nmrglue_pick(spec.data, noise, k, neg)
            cands.append((score(p, sim), k, dt))
        mb, kb, dtb = max(cands, key=lambda c: c[0].f1)
        rows.append(_row(name, f"nmrglue best ({kb} sigma)", mb, dtb))
        rows.append((name, "difference in F1", float("nan"), float("nan"), m.f1 - mb.f1,
                     float("nan"), float("nan"), float("nan")))
        speed.append((name, "x".join(map(str, spec.data.shape)), len(sim.amp), len(peaks), t_ours,
                      dtb, t_ours / dtb, found.n_tiles, "x".join(f"{f:g}" for f in found.factors)))
    rel = metrics.reliability_table(np.array(scores_all), np.array(true_all), bins=10)
    what = ("`nmrpick_ml.bench.SPECTRA` written by `simulate` (crowded regions, t1 ridges, "
            "correlated noise, weak and signed peaks)" if spectra is SPECTRA else
            "`nmrpick_ml.bench.PROCESSED_SPECTRA` written by `simulate(..., recipe=PROCESSED)` "
            "(acquisition and processing simulated: truncation sidelobes, t1 noise, 1H multiplets "
            "(a multiplet is one true peak at its shift), sidebands, solvent lines; signed ones "
            "multiplicity-edited)")
    txt = [f"# Whole synthetic spectra: nmrpick-ml beside nmrglue\n\n{_header(command, 'see SPECTRA')}",
           f"Spectra: {what}. Ours: the Mask R-CNN with default settings "
           "(threshold floor 3 x noise, negative peaks on signed spectra), timed end to end (read, pick, "
           "refine, write). nmrglue: `peakpick.pick` ('connected', est_params) at its best threshold "
           f"on each file from the sweep {list(NMRGLUE_SWEEP)} x noise, timed for the pick alone. "
           "Scored peaks: resolved, >= 5 sigma.\n",
           metrics.format_table(rows, ROW_HEADERS),
           "\n## Speed (same run)\n",
           metrics.format_table(speed, ["spectrum", "shape", "true peaks", "our picks", "ours (s)",
                                        "nmrglue (s)", "ours / nmrglue", "tiles run", "resampling"]),
           "\n## Score reliability (all our picks; true = matched to any true peak of the right sign)\n",
           metrics.format_table([(f"{lo:.1f}-{hi:.1f}", n_, ms, fr) for lo, hi, n_, ms, fr in rel],
                                ["score", "picks", "mean score", "fraction true"])]
    return write_report(report, "\n".join(txt) + "\n", outdir)


#: How each real list can be scored (see shared/realdata/README.md).
REAL_NOTES = {
    "arborinine_13C_hsqc": ("complete", "8 CH/CH3 cross peaks; the spectrum also holds CDCl3 and "
                            "artefact peaks, which count as false picks here"),
    "relax_sod1_15N_hsqc": ("partial", "3 of ~220 peaks listed: recall only"),
    "deep_picker_15N_hsqc_crop": ("partial", "an overlapping pair 3 points apart: recall only"),
    "fitnmr_t1_miniprotein_15N_hsqc": ("approximate", "positions ~0.07 ppm 1H / 0.26 ppm 15N off "
                                       "the maxima: recall only, a pick counts within 0.1 ppm 1H "
                                       "and 0.35 ppm 15N of a listed position"),
}
#: Tolerance (1H, other nucleus) in ppm for the approximate list.
APPROX_PPM = (0.1, 0.35)


def realdata_root():
    """``../shared/realdata`` beside the repository (None when absent)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (os.path.join(here, "..", "..", "shared", "realdata"),
                 os.path.join(os.getcwd(), "..", "shared", "realdata")):
        if os.path.isdir(root):
            return os.path.normpath(root)
    return None


def listed_spectrum(root, name):
    """A real spectrum of ``root`` (``realdata_root()``) and its reference list in
    points: ``(Spectrum, ndarray (m, 2))``."""
    import json
    import pandas as pd
    from .io import read_spectrum
    man = json.load(open(os.path.join(root, name, "manifest.json")))
    spec = read_spectrum(os.path.join(root, name, man["spectrum"]))
    ref = pd.read_csv(os.path.join(root, name, man["reference_csv"]))[["pt_axis0", "pt_axis1"]]
    return spec, ref.to_numpy(float)


def listed_found(peaks, ref, tol=1.5):
    """How many of the listed positions ``ref`` (points) have a positive pick of
    ``peaks`` (:class:`~nmrpick_ml.peaks.Peaks`) within ``tol`` points."""
    pos = peaks.centre[peaks.height > 0]
    return sum(bool(len(pos)) and float(np.min(np.hypot(*(pos - q).T))) <= tol for q in ref)


def bench_real(weights=None, root=None, command="nmrpick-ml bench --real", outdir=None):
    """Ours and nmrglue (best threshold against the list) on the real spectra."""
    from .picker import as_picker
    from .resample import typical_fwhh
    weights = as_picker(weights)
    root = root or realdata_root()
    if root is None:
        raise FileNotFoundError("../shared/realdata not found beside the repository")
    rows = []
    for name in sorted(os.listdir(root)):
        if not os.path.exists(os.path.join(root, name, "manifest.json")):
            continue
        spec, true = listed_spectrum(root, name)
        noise = estimate_noise(spec.data)
        fw = typical_fwhh(spec.data, noise)
        fw = np.where(np.isfinite(fw), fw, 3.0)
        true_fw = np.tile(fw, (len(true), 1))
        kind, note = REAL_NOTES.get(name, ("partial", ""))
        if kind == "approximate":
            # the list's own accuracy: within APPROX_PPM (1H, heteronucleus) of a listed peak
            tol = [APPROX_PPM[0] if lab == "1H" else APPROX_PPM[1] for lab in spec.labels]
            pts = [t / abs(u.ppm(0) - u.ppm(1)) for t, u in zip(tol, spec.uc)]
            true_fw = np.tile(2 * np.array(pts), (len(true), 1))
        negative = bool((spec.data < -20 * noise).any())
        t0 = time.perf_counter()
        ours, found = _pick_model(spec, weights, negative)
        t_ours = time.perf_counter() - t0

        def evaluate(peaks):
            pos = np.column_stack([peaks["Y_AXIS"], peaks["X_AXIS"]]) if len(peaks) else np.zeros((0, 2))
            h = np.asarray(peaks["HEIGHT"], float) if len(peaks) else np.zeros(0)
            # reference lists hold positive cross peaks only where stated; match sign-blind
            m = metrics.match_peaks(pos[h > 0] if kind == "complete" else pos, true, true_fw)
            return m, len(pos)
        m_ours, n_ours = evaluate(ours)
        cands = []
        for k in NMRGLUE_SWEEP:
            p, dt = _nmrglue_pick(spec.data, noise, k, negative)
            m, n = evaluate(p)
            key = m.f1 if kind == "complete" else (m.recall, -n)
            cands.append((key, k, m, n, dt))
        _, kb, mb, nb, dtb = max(cands, key=lambda c: c[0])
        for picker, m, n, dt in (("nmrpick-ml", m_ours, n_ours, t_ours),
                                 (f"nmrglue best ({kb} sigma)", mb, nb, dtb)):
            complete = kind == "complete"
            rows.append((name, kind, len(true), picker, n, m.recall,
                         m.precision if complete else float("nan"),
                         m.f1 if complete else float("nan"), m.median_centre_error, dt))
        rows.append((name, "", "", "typical FWHH (pts) / resampling", "",
                     float(fw[0]), float(fw[1]), float("nan"), float("nan"),
                     "x".join(f"{f:.3g}" for f in found.factors)))
    notes = "\n".join(f"- `{k}`: {v[0]} list; {v[1]}." for k, v in REAL_NOTES.items())
    txt = [f"# Real spectra against their reference lists\n\n{_header(command, 'n/a')}",
           "Spectra and lists from `../shared/realdata` (read in place; provenance and licences there). "
           "Ours: default settings (3 x noise floor; negative peaks where the spectrum has them). nmrglue: "
           "best threshold from the sweep, by F1 for a complete list and by recall (then fewest picks) "
           "for partial lists. A pick matches a listed peak within max(1.5 points, half the typical "
           "FWHH measured on the spectrum).\n", notes, "",
           metrics.format_table(rows, ["spectrum", "list", "listed", "picker", "picks", "recall",
                                       "precision", "F1", "median centre error (pts)", "time (s)"])]
    return write_report("real", "\n".join(txt) + "\n", outdir)


#: Whole-process speed set: (name, shape, peaks, seed); plus the real 66x45 15N HSQC.
SPEED_FILES = (
    ("1024x2048, 500 peaks", (1024, 2048), 500, 305),
    ("512x1024, 180 peaks", (512, 1024), 180, 302),
    ("4096x4096, 500 peaks", (4096, 4096), 500, 399),
)
#: The real small spectrum of the speed table (``../shared/realdata``).
SPEED_REAL = ("66x45 real 15N HSQC", "fitnmr_t1_miniprotein_15N_hsqc", "1.ft2")
#: The three pickers timed side by side: (label, extra command-line options).
SPEED_PICKERS = (("ours, onnx", ["--engine", "onnx"]), ("ours, torch", ["--engine", "torch"]),
                 ("--method nmrglue", ["--method", "nmrglue"]))


def run_process(args, timeout=1800):
    """Run ``args`` as a fresh process: (wall seconds, peak RSS in MB, return code,
    CPU seconds: user + system)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall, usage.ru_maxrss / 1024.0, proc.returncode, usage.ru_utime + usage.ru_stime


#: Stages of the per-tile table, in the order a pick runs them.
STAGES = ("read", "noise", "resample", "ridge noise", "normalise", "tiles", "network",
          "mask extents", "stitch", "refine", "rules", "thresholds", "table write")


def stage_times(picker, path, folder, tile=None):
    """Seconds in each of :data:`STAGES` of one pick of the file ``path`` as
    the command line does it (read, noise, :meth:`Picker.detect` with its
    ``timings`` and ``tile``, table written to ``folder``); the tiles run, and
    the picks."""
    from .io import read_spectrum, write_table
    from .picking import noise_threshold
    t = {}
    t0 = time.perf_counter()
    spec = read_spectrum(path)
    t1 = time.perf_counter()
    noise, thr = noise_threshold(spec.data, method="maskrcnn")
    t2 = time.perf_counter()
    u = spec.uc[spec.direct_axis]
    found = picker.detect(spec.data, noise, thr, timings=t, direct_axis=spec.direct_axis, tile=tile,
                          hz_per_point=abs(u.hz(1.0) - u.hz(0.0)))     # as find_peaks calls it
    t3 = time.perf_counter()
    write_table(os.path.join(folder, "stages.tab"), found.to_table(spec.uc), spec)
    t.update(read=t1 - t0, noise=t2 - t1)
    t["table write"] = time.perf_counter() - t3
    return {k: t.get(k, 0.0) for k in STAGES}, int(t.get("n_tiles", 0)), len(found)


def _onnx_picker(weights, threads):
    from .engines import OnnxEngine
    from .picker import Picker, load_model
    base = load_model(weights, engine="onnx")
    return Picker(OnnxEngine(base.engine.path, threads=threads), dict(base.config),
                  base.weights_sha256)


def speed_weights(weights):
    """The ONNX graph and the torch weights that ``bench --speed --weights`` runs.

    ``weights`` is either of a model's two files; the other is the file of the
    same name beside it (``maskrcnn.onnx`` and ``maskrcnn.pt``, as
    ``train.export_weights`` writes them), None when absent (its engine's
    columns are then n/a). None: the shipped model's, (None, None).

    Examples
    --------
    >>> speed_weights(None)
    (None, None)
    """
    if weights is None:
        return None, None
    w = os.fspath(weights)
    stem, ext = os.path.splitext(w)
    other = stem + (".pt" if ext.lower() == ".onnx" else ".onnx")
    other = other if os.path.isfile(other) else None
    return (w, other) if ext.lower() == ".onnx" else (other, w)


#: Inference tiles of the per-tile network table (``bench --speed``).
SPEED_TILES = (128, 256)


def network_per_tile(models, path, folder, tiles=SPEED_TILES):
    """Network cost per tile, side by side: each ``(label, picker)`` of
    ``models`` picking the file ``path`` at each inference tile of ``tiles``
    (after a warm-up pick at that tile). Rows: model, tile, tiles run, network
    and mask-extent ms per tile and for the spectrum, picks."""
    rows = []
    for tile in tiles:
        for label, pk in models:
            stage_times(pk, path, folder, tile=tile)           # warm-up (first-call costs)
            st, n, picks = stage_times(pk, path, folder, tile=tile)
            net, ext = 1000 * st["network"], 1000 * st["mask extents"]
            rows.append((label, tile, n, net / max(n, 1), ext / max(n, 1), net + ext,
                         1000 * sum(st.values()), picks))
    return rows


def bench_speed(weights=None, folder=None, command="nmrpick-ml bench --speed", outdir=None,
                repeat=3, big=True, torch_big=True):
    """Whole-process time and peak memory, side by side in one run: ours (ONNX and
    torch engines) against our ``--method nmrglue``, median of ``repeat`` runs each,
    on :data:`SPEED_FILES` and the real 66x45 spectrum; ``nmrpick-ml --help``; and
    time by stage (ONNX on 1 and 2 threads, torch); and the network's cost per
    tile at each of :data:`SPEED_TILES`, the shipped model beside ``weights``.

    ``weights``: a model's ONNX graph or torch weights (:func:`speed_weights`
    finds the other beside it). ``big=False`` leaves out the 4096x4096
    spectrum, ``torch_big=False`` only the torch engine on it (shown as not run)."""
    import statistics
    import tempfile
    from .picker import load_model
    onnx_w, torch_w = speed_weights(weights)
    if weights is not None and "--weights" not in command:
        command += f" --weights {os.fspath(weights)}"
    folder = folder or tempfile.mkdtemp(prefix="nmrpick_speed_")
    os.makedirs(folder, exist_ok=True)
    files = []
    for name, shape, n, seed in SPEED_FILES:
        if shape[0] >= 4096 and not big:
            continue
        path = os.path.join(folder, f"speed_{shape[0]}x{shape[1]}_{n}.ft2")
        if not os.path.exists(path):
            # in a child process: a child's ru_maxrss starts at its parent's resident size
            # (Linux keeps the high-water mark across fork and exec), so this process must
            # stay small for the peak-memory column to be the child's own
            code = ("from nmrpick_ml import synth; s = synth.simulate(shape=%r, n_peaks=%d, seed=%d, "
                    "crowded=%r); synth.write_spectrum(%r, s, truth=False)"
                    % (tuple(shape), n, seed, shape[0] < 4096, path))
            subprocess.run([sys.executable, "-c", code], check=True, timeout=3600)
        files.append((name, path, shape[0] >= 4096))
    root = realdata_root()
    if root is not None:
        files.append((SPEED_REAL[0], os.path.join(root, SPEED_REAL[1], SPEED_REAL[2]), False))
    cli = [sys.executable, "-m", "nmrpick_ml.cli"]
    model = {"onnx": ["--model", onnx_w] if onnx_w else [], "torch": ["--model", torch_w] if torch_w else []}
    runs_engine = {e: weights is None or bool(model[e]) for e in model}
    load = [os.getloadavg()[0]]
    rows = []
    for name, path, is_big in files:
        res = {}
        for label, opts in SPEED_PICKERS:
            engine = opts[1] if opts[0] == "--engine" else None
            if (is_big and not torch_big and engine == "torch") or (engine and not runs_engine[engine]):
                res[label] = (float("nan"), float("nan"), float("nan"))
                continue
            out = os.path.join(folder, "out.tab")
            extra = model[engine] if engine else []
            runs = [run_process(cli + [path, "-o", out, "-q"] + opts + extra) for _ in range(repeat)]
            res[label] = (statistics.median(r[0] for r in runs), max(r[1] for r in runs),
                          statistics.median(r[3] for r in runs))
        ng, ng_cpu = res["--method nmrglue"][0], res["--method nmrglue"][2]
        rows.append((name,) + tuple(v for label, _ in SPEED_PICKERS for v in res[label][:2])
                    + (res["ours, onnx"][0] / ng, res["ours, torch"][0] / ng,
                       res["ours, onnx"][2] / ng_cpu))
    helps = [run_process(cli + ["--help"])[0] for _ in range(repeat)]
    load.append(os.getloadavg()[0])
    # by stage, in-process, on the first file (1024x2048)
    pickers = []
    if runs_engine["onnx"]:
        pickers += [("onnx, 1 thread", _onnx_picker(onnx_w, 1)), ("onnx, 2 threads", _onnx_picker(onnx_w, 2))]
    if runs_engine["torch"]:
        pickers.append(("torch", load_model(torch_w, engine="torch")))
    stage_cols, n_tiles = [], 0
    for label, pk in pickers:
        stage_times(pk, files[0][1], folder)                  # warm-up (first-call costs)
        st, n_tiles, _ = stage_times(pk, files[0][1], folder)
        stage_cols.append(st)
    # the network per tile: the shipped model beside --weights, at each tile size
    shipped = _onnx_picker(None, None)
    models = [(f"shipped ({shipped.version})", shipped)]
    if onnx_w:
        models.append((f"--weights {onnx_w}", _onnx_picker(onnx_w, None)))
    per_tile = network_per_tile(models, files[0][1], folder)
    stage_rows = [(k,) + tuple(v for st in stage_cols for v in (1000 * st[k], 1000 * st[k] / max(n_tiles, 1)))
                  for k in STAGES]
    stage_rows.append(("total",) + tuple(v for st in stage_cols
                                         for v in (1000 * sum(st.values()),
                                                   1000 * sum(st.values()) / max(n_tiles, 1))))
    cols = ["spectrum"] + [f"{label} {what}" for label, _ in SPEED_PICKERS
                           for what in ("(s)", "(MB)")] + ["onnx / nmrglue", "torch / nmrglue",
                                                          "onnx / nmrglue, CPU time"]
    skipped = ("" if torch_big or not big else
               " The torch engine was not run on 4096x4096 (`--speed-no-torch-big`): n/a.")
    skipped += "".join(f" No {e} file beside {os.fspath(weights)}: its columns are n/a."
                       for e, ok in runs_engine.items() if not ok)
    txt = [f"# Speed and memory\n\n{_header(command, 'see SPEED_FILES')}",
           f"Whole process (`python -m nmrpick_ml.cli SPECTRUM -o OUT -q`: start, read, pick, write), "
           f"median of {repeat} runs of each, side by side in one run; peak resident memory "
           "(ru_maxrss of the process, MB; the largest of the runs); the ratios of the medians of "
           "wall time, and of CPU time (user + system: less sensitive to a busy machine). Ours with default settings "
           "(`--engine onnx`, the default, and `--engine torch`) against our `--method nmrglue`. "
           "Synthetic spectra from `simulate` (`nmrpick_ml.bench.SPEED_FILES`; 4096x4096 with its "
           "peaks spread out), and the real 66x45 15N HSQC of ../shared/realdata. Load average "
           f"(1 min) {load[0]:.2f} before the runs, {load[1]:.2f} after.{skipped}\n",
           metrics.format_table(rows, cols),
           f"\n`nmrpick-ml --help`: median {statistics.median(helps):.3f} s (of {repeat}).\n",
           f"\n## By stage ({files[0][0]}, {n_tiles} tiles run, in-process, after a warm-up pick)\n",
           "ms for the whole spectrum and per tile run; 'network' is the engine's session run "
           "(ONNX Runtime intra-op threads as named) or torch's forward, 'mask extents' the "
           "masks' rows and columns measured in their boxes.\n",
           metrics.format_table(stage_rows, ["stage"] + [f"{label} {w}" for label, _ in pickers
                                                         for w in ("(ms)", "(ms/tile)")]),
           f"\n## The network per tile ({files[0][0]}, ONNX engine, its default threads)\n",
           "Each model picks the spectrum in-process at each inference tile (`--tile`; the area "
           "searched is the same, `tiling.ActiveGrid`), after a warm-up pick at that tile; "
           "network and mask extents per tile run and for the whole spectrum, the whole "
           "in-process pick, and its picks.\n",
           metrics.format_table(per_tile, ["model", "tile", "tiles run", "network (ms/tile)",
                                           "mask extents (ms/tile)", "network + extents (ms)",
                                           "in-process pick (ms)", "picks"])]
    return write_report("speed", "\n".join(txt) + "\n", outdir)
