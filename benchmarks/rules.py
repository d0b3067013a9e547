"""The picking rules and the resampling, before and after, side by side in one run.

    python benchmarks/rules.py [--quick]

Before: today's chain before issue 15 (cubic-spline resampling, no rule steps).
After: the chain as shipped (monotone resampling, ``rules.rule_step``; multiplets
as ``--multiplets auto`` groups them, and the other mode as a second "after" row).
Same network, same thresholds, same spectra, one run. Prints the tables and writes ``benchmarks/results/rules.md``.

1. Resampling on arborinine (1-point lines, resampled x4): maxima above 5 and
   20 noise sd on the resampled grid more than one original point from any
   maximum of the original data (cubic spline, time-domain zero-fill, monotone).
2. The real spectra of ``../shared/realdata``: picks and listed peaks found.
3. Processed whole spectra (``bench.PROCESSED_SPECTRA``): precision, recall, F1
   and pairs of picks within one FWHH of one true peak; and the same for the same
   recipes drawn again (``bench.PROCESSED_SECOND``), which the rules were not set on.
4. The realistic whole-spectrum set (``bench.SPECTRA``): F1.
"""

import contextlib
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from nmrpick_ml import bench, metrics, resample as rs  # noqa: E402
from nmrpick_ml._noise import estimate_noise  # noqa: E402
from nmrpick_ml.io import read_spectrum  # noqa: E402
from nmrpick_ml.picker import Picker, default_picker  # noqa: E402
from nmrpick_ml.picking import MODEL_SNR, MULTIPLETS  # noqa: E402
from nmrpick_ml.rules import multiplet_mode  # noqa: E402


def header(command):
    import platform
    import subprocess
    import torch
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip() or "unknown"
    return (f"Made by: `{command}`\n\nMachine: {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, torch threads {torch.get_num_threads()}; commit "
            f"{commit}; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")


def spline(data, factors):
    """Today's resampling before issue 15: cubic spline (scipy.ndimage.zoom)."""
    if np.all(np.asarray(factors) == 1.0):
        return data
    from scipy.ndimage import zoom
    return zoom(data, factors, order=3, mode="nearest", grid_mode=False).astype(np.float32)


@contextlib.contextmanager
def resampling(fn):
    saved = rs.resample
    rs.resample = fn
    try:
        yield
    finally:
        rs.resample = saved


class MemoEngine:
    """The picker's engine, each group of tiles run once: 'after' and 'after, keep'
    resample alike, so the network's output is the same and only the rules differ."""

    def __init__(self, inner):
        self.inner, self.memo = inner, {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, tiles, floor, batch_size=8, timings=None):
        import hashlib
        key = hashlib.sha1(str(float(floor)).encode())
        for t in tiles:
            key.update(np.ascontiguousarray(t).tobytes())
        key = key.hexdigest()
        if key not in self.memo:
            self.memo[key] = self.inner.run(tiles, floor, batch_size, timings=timings)
        return self.memo[key]


def mode_of(spec, variant):
    """The multiplet mode a variant runs: 'after' the default (``--multiplets auto``,
    by the spectrum's indirect nucleus), 'after, merge' and 'after, keep' that mode."""
    if variant == "after":
        return multiplet_mode(MULTIPLETS, spec.labels, spec.direct_axis)
    return "keep" if "keep" in variant else "merge"


def run(picker, spec, negative, variant):
    """Peaks of one spectrum with a variant: 'before', 'after', 'after, merge' or 'after, keep'."""
    noise = estimate_noise(spec.data)
    u = spec.uc[spec.direct_axis]
    kw = dict(hz_per_point=abs(u.hz(1.0) - u.hz(0.0)), direct_axis=spec.direct_axis)
    thr = MODEL_SNR * noise
    args = (spec.data, noise, thr, -thr if negative else None)
    if variant == "before":
        with resampling(spline):
            return picker.detect(*args, rules=False, **kw)
    return picker.detect(*args, multiplets=mode_of(spec, variant), **kw)


def same_peak_pairs(peaks, sim):
    """Pairs of picks (same sign) both within one FWHH ellipse of one true peak (the
    half-FWHH ellipse about it) and nearer to it than to any other true peak of that sign
    (distances in each true peak's FWHH): a pick on another, sharper true peak that a
    broad one's ellipse reaches over is that peak's pick, not a second one of this."""
    c, h = np.asarray(peaks.centre, float).reshape(-1, 2), np.asarray(peaks.height, float)
    if not len(h) or not len(sim.amp):
        return 0
    r = np.sqrt(np.sum(((c[:, None, :] - sim.centre[None]) / sim.fwhh[None]) ** 2, axis=2))
    r = np.where(np.sign(h)[:, None] == np.sign(sim.amp)[None, :], r, np.inf)   # (picks, true)
    own = np.argmin(r, axis=1)
    on = r[np.arange(len(h)), own] <= 0.5
    counts = np.bincount(own[on], minlength=len(sim.amp))
    return int(np.sum(np.maximum(counts - 1, 0)))


def table_of(peaks):
    return dict(Y_AXIS=peaks.centre[:, 0], X_AXIS=peaks.centre[:, 1], Y_LW=peaks.fwhh[:, 0],
                X_LW=peaks.fwhh[:, 1], HEIGHT=peaks.height)


class _T(dict):
    def __len__(self):
        return len(self["Y_AXIS"])


def resampling_section(root):
    spec = read_spectrum(os.path.join(root, "arborinine_13C_hsqc", "14", "pdata", "1"))
    d = spec.data.astype(np.float32)
    noise = estimate_noise(d)
    f = rs.choose_factors(d, noise)
    from scipy.spatial import cKDTree
    tree = cKDTree(rs.local_maxima(d, 5 * noise))
    rows = []
    for name, fn in (("cubic spline (before)", lambda: spline(d, f)),
                     ("time-domain zero-fill (HT/ZF)", lambda: rs.zero_fill(d, np.rint(f))),
                     ("monotone PCHIP (after)", lambda: rs.monotone(d, f))):
        w = fn()
        back = (np.array(d.shape) - 1) / (np.array(w.shape) - 1)
        row = [name, "x".join(str(s) for s in w.shape)]
        for lev in (5, 20):
            mx = rs.local_maxima(w, lev * noise) * back
            row += [len(mx), int(np.sum(tree.query(mx)[0] > 1.0))]
        row.append(float(w.min() / noise))
        rows.append(tuple(row))
    n5, n20 = len(rs.local_maxima(d, 5 * noise)), len(rs.local_maxima(d, 20 * noise))
    return ("## 1. Resampling on arborinine (factors "
            f"{' x '.join(f'{v:.3g}' for v in f)}; the original grid has {n5} maxima above 5 "
            f"and {n20} above 20 noise sd)\n\n"
            + metrics.format_table(rows, ["method", "resampled", "maxima > 5 sd", "new (> 1 pt away)",
                                          "maxima > 20 sd", "new (> 1 pt away)",
                                          "lowest value (noise sd)"]) + "\n")


def real_section(picker, root):
    rows = []
    for name, neg_options in (("arborinine_13C_hsqc", (False, True)), ("relax_sod1_15N_hsqc", (False,)),
                              ("deep_picker_15N_hsqc_crop", (False,))):
        spec, ref = bench.listed_spectrum(root, name)
        for neg in neg_options:
            pos_sets = {}
            for variant in ("before", "after"):
                p = run(picker, spec, neg, variant)
                pos = p.centre[p.height > 0]
                found = bench.listed_found(p, ref)
                pos_sets[variant] = pos
                rows.append((name + (" --negative" if neg else ""), variant, len(p), len(pos),
                             f"{found}/{len(ref)}"))
            if name.startswith("arborinine"):
                if not neg:
                    arb_pos = pos_sets["after"]
                else:
                    same = (len(arb_pos) == len(pos_sets["after"])
                            and np.allclose(np.sort(arb_pos, axis=0), np.sort(pos_sets["after"], axis=0)))
                    rows.append((name + " --negative", "after: positive picks as without",
                                 "", "", "same" if same else "differ"))
    return ("## 2. Real spectra (`../shared/realdata`; found = a positive pick within 1.5 points)\n\n"
            + metrics.format_table(rows, ["spectrum", "variant", "picks", "positive", "listed found"])
            + "\n")


def synthetic_section(picker, spectra, title, variants, folder):
    rows, tot = [], {}
    for name, path, sim, neg in bench.make_spectra(folder, spectra):
        spec = read_spectrum(path)
        done = {}
        for variant in variants:
            if "," in variant and mode_of(spec, variant) == mode_of(spec, "after"):
                m, dup = done["after"]    # the same as 'after' on this spectrum: counted as
            else:                         # such in the totals, not listed again
                t0 = time.perf_counter()
                p = run(picker, spec, neg, variant)
                dt = time.perf_counter() - t0
                m = bench.score(_T(table_of(p)), sim)
                dup = same_peak_pairs(p, sim)
                done[variant] = m, dup
                rows.append((name, variant, len(p), m.precision, m.recall, m.f1, dup, dt))
            a = tot.setdefault(variant, [0, 0, 0, 0])
            a[0] += m.tp
            a[1] += m.fp
            a[2] += m.fn
            a[3] += dup
    summary = [(v, a[0] / max(a[0] + a[1], 1), a[0] / max(a[0] + a[2], 1),
                2 * a[0] / max(2 * a[0] + a[1] + a[2], 1), a[3]) for v, a in tot.items()]
    return (f"## {title}\n\nAll spectra together (TP, FP, FN summed; a variant that is 'after' on a "
            "spectrum counts as 'after' there, and is not listed again below):\n\n"
            + metrics.format_table(summary, ["variant", "precision", "recall", "F1",
                                             "pick pairs on one true peak"])
            + "\n\nPer spectrum:\n\n"
            + metrics.format_table(rows, ["spectrum", "variant", "picks", "precision", "recall", "F1",
                                          "pick pairs on one true peak", "time (s)"]) + "\n")


def main(argv):
    quick = "--quick" in argv
    root = bench.realdata_root()
    base = default_picker("cpu")
    picker = Picker(MemoEngine(base.engine), dict(base.config), base.weights_sha256)
    folder = tempfile.mkdtemp(prefix="nmrpick_rules_")
    processed = bench.PROCESSED_SPECTRA[:4] if quick else bench.PROCESSED_SPECTRA
    t0 = time.time()
    parts = [resampling_section(root), real_section(picker, root)]
    parts.append(synthetic_section(picker, processed, "3. Processed whole spectra "
                                   "(`bench.PROCESSED_SPECTRA`; a multiplet is one true peak)",
                                   ("before", "after", "after, merge", "after, keep"), folder))
    parts.append(synthetic_section(picker, bench.PROCESSED_SECOND[:4] if quick else bench.PROCESSED_SECOND,
                                   "3b. The same recipes drawn again (`bench.PROCESSED_SECOND`, seeds "
                                   "+ 1000: spectra the rules were not set on)", ("before", "after"), folder))
    parts.append(synthetic_section(picker, bench.SPECTRA[:2] if quick else bench.SPECTRA,
                                   "4. Realistic whole spectra (`bench.SPECTRA`)",
                                   ("before", "after", "after, merge"), folder))
    cmd = "python benchmarks/rules.py" + (" --quick" if quick else "")
    txt = (f"# Picking rules and resampling, before and after (issue 15)\n\n"
           f"{header(cmd)}\n"
           "Before: cubic-spline resampling, no rule steps. After: monotone resampling and "
           "`rules.rule_step` (duplicates, artefacts of a stronger parent, strong-coupling cross "
           "peaks, sidebands at a recurring offset, multiplets as `--multiplets auto` has them: "
           "merged on 13C spectra, each line kept on 15N ones; 'after, merge' and 'after, keep': "
           "that mode where it differs from auto). Same network "
           f"(shipped, {base.version}), thresholds (3 x noise floor; negative peaks on signed "
           "spectra) and score threshold; the network runs once per resampled spectrum (the 'after' variants "
           "share its output). Scored peaks: resolved, >= 5 sigma. Pick pairs on one true peak: "
           "picks of its sign within its half-FWHH ellipse and nearer to it than to any other true "
           "peak (in each one's FWHH), beyond the first. Run time "
           f"{time.time() - t0:.0f} s (times per spectrum include the network only where it ran).\n\n"
           + "\n".join(parts))
    return bench.write_report("rules" + ("_quick" if quick else ""), txt,
                              os.path.join(os.path.dirname(HERE), "benchmarks", "results"))


if __name__ == "__main__":
    main(sys.argv[1:])
