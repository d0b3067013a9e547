"""The training curve of a run: mean losses per block of steps, from its train_log.csv.

Usage: python benchmarks/train_curve.py LOG.csv [--block 500] [--name train_v2]

Writes benchmarks/results/NAME.md (the command, the steps and hours so far,
and the table). Across sessions the log of a run is kept as
``runs/v2_train_log.csv`` next to the weights-only resume file.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from nmrpick_ml import bench, metrics  # noqa: E402
from nmrpick_ml.train import LOSS_KEYS  # noqa: E402


def curve(log, block):
    d = pd.read_csv(log)
    d = d.drop_duplicates("step", keep="last").sort_values("step")
    d["block"] = (d["step"] - 1) // block
    rows = []
    for b, g in d.groupby("block"):
        rows.append((f"{int(g.step.min())}-{int(g.step.max())}", *(float(g[k].mean()) for k in
                                                                  ["loss", *LOSS_KEYS])))
    # a session restarts "seconds" at 0: add up each session's span
    sec = d["seconds"].to_numpy()
    restarts = np.nonzero(np.diff(sec) < 0)[0]
    spans = np.split(sec, restarts + 1)
    hours = sum(float(s.max()) for s in spans if len(s)) / 3600
    return d, rows, hours


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--block", type=int, default=500)
    ap.add_argument("--name", default="train_v2")
    a = ap.parse_args()
    d, rows, hours = curve(a.log, a.block)
    cmd = f"python benchmarks/train_curve.py {a.log}" + (f" --block {a.block}" if a.block != 500 else "") \
        + (f" --name {a.name}" if a.name != "train_v2" else "")
    text = (f"# Training curve ({a.name})\n\n" + bench._header(cmd, "-") + "\n"
            f"{int(d.step.max())} steps logged, {hours:.2f} hours of training in all "
            f"({len(d)} rows). Mean losses per block of {a.block} steps:\n\n"
            + metrics.format_table(rows, ["steps", "loss", *LOSS_KEYS], floatfmt=".4f") + "\n")
    bench.write_report(a.name, text, os.path.join(ROOT, "benchmarks", "results"))


if __name__ == "__main__":
    main()
