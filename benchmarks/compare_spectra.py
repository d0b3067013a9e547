"""Two models side by side on whole spectra, one run: the whole-spectrum floors of issue 11.

    python benchmarks/compare_spectra.py [--a WEIGHTS] --b WEIGHTS [--out NAME]

Each model picks as a user would (``nmrpick_ml.find_peaks`` with default
settings: threshold 3 x noise, negative peaks on signed spectra, its own
resampling range and score threshold from its ``config.json``) on

* the realistic whole-spectrum set (``bench.SPECTRA``) and the 20 processed
  spectra (``bench.PROCESSED_SPECTRA``): precision, recall, F1 (resolved true
  peaks >= 5 sigma) and the median centre error (points) of the matched picks;
* the real spectra of ``../shared/realdata``: picks, listed peaks found (a
  positive pick within 1.5 points), arborinine with and without ``--negative``.

``--a`` defaults to the shipped model. Writes ``benchmarks/results/NAME.md``
(default ``compare_spectra``) with the command that made it.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from nmrpick_ml import bench, metrics  # noqa: E402
from nmrpick_ml.io import read_spectrum  # noqa: E402
from nmrpick_ml.picker import as_picker  # noqa: E402

REAL = (("arborinine_13C_hsqc", (False, True)), ("relax_sod1_15N_hsqc", (False,)),
        ("deep_picker_15N_hsqc_crop", (False,)))


def synthetic_rows(pickers, spectra, folder):
    rows, totals = [], {k: np.zeros(3) for k in pickers}
    for name, path, sim, neg in bench.make_spectra(folder, spectra):
        spec = read_spectrum(path)
        for label, picker in pickers.items():
            t0 = time.perf_counter()
            table, found = bench._pick_model(spec, picker, neg)
            dt = time.perf_counter() - t0
            m = bench.score(table, sim)
            totals[label] += (m.tp, m.fp, m.fn)
            rows.append((name, label, len(table), m.precision, m.recall, m.f1,
                         m.median_centre_error, "x".join(f"{f:.3g}" for f in found.factors), dt))
    summary = []
    for label, (tp, fp, fn) in totals.items():
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        summary.append((label, p, r, 2 * p * r / max(p + r, 1e-12)))
    return rows, summary


def real_rows(pickers, root):
    from nmrpick_ml.picking import find_peaks, noise_threshold
    rows = []
    for name, negs in REAL:
        spec, ref = bench.listed_spectrum(root, name)
        noise, thr = noise_threshold(spec.data, method="maskrcnn")
        u = spec.uc[spec.direct_axis]
        for label, picker in pickers.items():
            for neg in negs:
                p = find_peaks(spec.data, noise=noise, method="maskrcnn", model=picker, pthres=thr,
                               nthres=-thr if neg else None, direct_axis=spec.direct_axis,
                               labels=spec.labels, hz_per_point=abs(u.hz(1.0) - u.hz(0.0)))
                pos = p.centre[p.height > 0]
                found = bench.listed_found(p, ref)
                rows.append((name + (" --negative" if neg else ""), label, len(p), len(pos),
                             f"{found}/{len(ref)}", "x".join(f"{f:.3g}" for f in p.factors)))
    return rows


def main(argv=None):
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", default=None, help="weights A (default: the shipped model)")
    ap.add_argument("--b", required=True, help="weights B")
    ap.add_argument("--label-a", default=None)
    ap.add_argument("--label-b", default=None)
    ap.add_argument("--out", default="compare_spectra")
    ap.add_argument("--outdir", default=os.path.join(HERE, "results"))
    a = ap.parse_args(argv)
    pa, pb = as_picker(a.a), as_picker(a.b)
    la = a.label_a or f"A: {pa.version}"
    lb = a.label_b or f"B: {pb.version}"
    pickers = {la: pa, lb: pb}
    import shlex
    cmd = "python benchmarks/compare_spectra.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    t0 = time.time()
    folder = tempfile.mkdtemp(prefix="nmrpick_compare_")
    out = [f"# Whole spectra, two models side by side\n\nMade by: `{cmd}`\n",
           f"Machine: {os.cpu_count()} CPU cores; load average (1 min) {os.getloadavg()[0]:.2f} at "
           f"the start; date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n",
           "Each model with default settings (its own score threshold and resampling range). "
           "Scored: resolved true peaks >= 5 sigma; centre error: median over matched picks (points).\n"]
    heads = ["spectrum", "model", "picks", "precision", "recall", "F1", "median centre error (pts)",
             "resampling", "time (s)"]
    for title, spectra in (("Realistic whole spectra (`bench.SPECTRA`)", bench.SPECTRA),
                           ("Processed whole spectra (`bench.PROCESSED_SPECTRA`; a multiplet is one "
                            "true peak)", bench.PROCESSED_SPECTRA)):
        rows, summary = synthetic_rows(pickers, spectra, folder)
        out += [f"## {title}\n", "All spectra together (TP, FP, FN summed):\n",
                metrics.format_table(summary, ["model", "precision", "recall", "F1"]),
                "\nPer spectrum:\n", metrics.format_table(rows, heads)]
        print("\n".join(out[-5:]), flush=True)
    root = bench.realdata_root()
    if root is not None:
        rows = real_rows(pickers, root)
        out += ["## Real spectra (`../shared/realdata`; found = a positive pick within 1.5 points)\n",
                metrics.format_table(rows, ["spectrum", "model", "picks", "positive", "listed found",
                                            "resampling"])]
        print(out[-1], flush=True)
    out.append(f"\nRun time {time.time() - t0:.0f} s.\n")
    os.makedirs(a.outdir, exist_ok=True)
    path = os.path.join(a.outdir, a.out + ".md")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(out))
    os.replace(path + ".tmp", path)
    print("wrote", path)


if __name__ == "__main__":
    main()
