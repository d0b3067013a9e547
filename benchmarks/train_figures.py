"""Model v2's benchmark figures against its training steps, side by side in one run.

    python benchmarks/train_figures.py STEP=WEIGHTS [STEP=WEIGHTS ...] [--n 100] [--ref LABEL=WEIGHTS]

Each WEIGHTS is the ``maskrcnn.pt`` export (``nmrpick_ml.train.export_weights``) of
the v2 training's checkpoint at STEP, run by torch with today's ``model.ARCHS['v2']``
(the same network; the inference settings of the shipped one, whatever the export's
``config.json`` says); ``--ref`` adds another model (v1, with its own config) as a row. Every
model runs on the same fresh tiles of the realistic and processed recipes (seed
``bench.BENCH_SEED + 11``, as ``bench --compare``) at 0.5 on its raw score (the
intermediate exports have no calibration, so all are read alike), resolved peaks
>= 5 sigma. Writes ``benchmarks/results/train_v2_figures.md``: with
``train_v2.md`` (the loss), the curve of issue 11.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from nmrpick_ml import bench, metrics, synth  # noqa: E402
from nmrpick_ml.model import ARCHS  # noqa: E402
from nmrpick_ml.picker import load_model  # noqa: E402


def load_v2(weights, tmp):
    """A v2 ``maskrcnn.pt`` export as a torch Picker with today's v2 architecture."""
    cfg = json.load(open(os.path.join(os.path.dirname(weights), "config.json")))
    cfg["arch"] = ARCHS["v2"]
    d = tempfile.mkdtemp(dir=tmp)
    shutil.copy(weights, os.path.join(d, "maskrcnn.pt"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return load_model(os.path.join(d, "maskrcnn.pt"), engine="torch")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="STEP=WEIGHTS")
    ap.add_argument("--ref", action="append", default=[], help="LABEL=WEIGHTS")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--outdir", default=None)
    a = ap.parse_args(argv)
    seed = bench.BENCH_SEED + 11
    entries = [(f"v2 step {s}", w, True) for s, w in (m.split("=", 1) for m in a.models)]
    entries += [tuple(r.split("=", 1)) + (False,) for r in a.ref]
    rows = []
    tmp = tempfile.mkdtemp(prefix="nmrpick_figures_")
    for label, weights, v2 in entries:
        m = load_v2(weights, tmp) if v2 else load_model(weights, engine="torch")
        steps = m.config.get("steps", "?")
        for rname, rec in (("realistic", synth.REALISTIC), ("processed", synth.PROCESSED)):
            r = bench.realistic_tiles(m, n=a.n, seed=seed, score_threshold=0.5, recipe=rec)
            rows.append((label, steps, rname, r["precision"], r["recall"], bench._band(r["by_snr"], 10),
                         r["recall_5_10"], r["recall_close"]))
            print(*rows[-1], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = "python benchmarks/train_figures.py " + " ".join(argv if argv is not None else sys.argv[1:])
    txt = (f"# Model v2: benchmark figures against training steps\n\n{bench._header(cmd, seed)}"
           f"{a.n} fresh tiles per recipe (seed [{seed}, 2, i]), the same for every model; resolved "
           "peaks >= 5 sigma; every model at 0.5 on its raw score (uncalibrated). The loss against "
           "steps is in `train_v2.md`. Floors of issue 11 (at the calibrated default): precision "
           ">= 0.95, recall >= 0.93, recall >= 0.90 at 10-30 sigma, >= 0.75 at 5-10 sigma, >= 0.85 "
           "with a neighbour closer than 2 FWHH.\n\n"
           + metrics.format_table(rows, ["model", "steps", "recipe", "precision", "recall",
                                         "recall 10-30 sigma", "recall 5-10 sigma",
                                         "recall, neighbour < 2 FWHH"]) + "\n")
    return bench.write_report("train_v2_figures", txt, a.outdir)


if __name__ == "__main__":
    main()
