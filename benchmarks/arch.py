"""Architecture candidates for model v2, measured side by side in one run.

Usage: python benchmarks/arch.py [--v2 CHECKPOINT] [--threads 2]

For each candidate (v1, and variants with a stride-2 level from the ResNet
stem) it prints the parameter count, the weights size, and the inference time
per 128x128 tile at batch 8 for the backbone + RPN alone and for the whole
network. Untrained networks keep many weak detections, so their "whole
network" time is dominated by the heads; the trained v1 (shipped) and, with
``--v2``, a trained v2 checkpoint are timed on the same tiles for the
comparison that matters. Writes benchmarks/results/arch.md.
"""
import argparse
import io
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nmrpick_ml import bench, metrics, synth  # noqa: E402
from nmrpick_ml.model import ARCH, ARCH_V2, build_model, load_network  # noqa: E402
from nmrpick_ml.normalise import noise_scale, normalise  # noqa: E402

CANDIDATES = [
    ("v1: layers 1-3 (strides 4-16) + pool, FPN 64, anchors 3-24", ARCH),
    ("stem level (stride 2) + layers 1-3, FPN 64", dict(ARCH_V2, fpn_channels=64)),
    ("v2: stem level (stride 2) + layers 1-3, FPN 48", ARCH_V2),
    ("stem level (stride 2) + layers 1-3, FPN 32", dict(ARCH_V2, fpn_channels=32)),
]


def tiles(n=16, seed=5):
    out = []
    for i in range(n):
        rec = synth.PROCESSED if i % 2 else synth.REALISTIC
        t = synth.make_spectrum((128, 128), rec, seed=[seed, i])
        scale = noise_scale(t.data, t.meta["noise_estimate"] or None)
        out.append(torch.from_numpy(normalise(t.data, scale)))
    return out


@torch.no_grad()
def timing(model, x, reps=3):
    model.eval()
    model(x[:8])
    t0 = time.perf_counter()
    for _ in range(reps):
        for i in range(0, len(x), 8):
            images, _ = model.transform(x[i:i + 8])
            feats = model.backbone(images.tensors)
            model.rpn(images, feats)
    tb = (time.perf_counter() - t0) / (reps * len(x))
    t0 = time.perf_counter()
    for _ in range(reps):
        for i in range(0, len(x), 8):
            model(x[i:i + 8])
    tt = (time.perf_counter() - t0) / (reps * len(x))
    return tb * 1e3, tt * 1e3


def size_mb(model):
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return len(buf.getvalue()) / 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--v2", help="a trained v2 checkpoint or weights (with config.json beside it)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = tiles()
    rows = []
    for name, arch in CANDIDATES:
        m = build_model(arch)
        tb, tt = timing(m, x)
        rows.append((name + " (untrained)", sum(p.numel() for p in m.parameters()) / 1e6,
                     size_mb(m), tb, tt))
    trained = [("v1 shipped (trained)", load_network()[0])]
    if a.v2:
        net, cfg, _ = load_network(a.v2)
        trained.append((f"v2 at {cfg.get('steps', '?')} steps (trained)", net))
    for name, m in trained:
        tb, tt = timing(m, x)
        rows.append((name, sum(p.numel() for p in m.parameters()) / 1e6, size_mb(m), tb, tt))
    cmd = "python benchmarks/arch.py" + (f" --v2 {a.v2}" if a.v2 else "") + \
        (f" --threads {a.threads}" if a.threads != 2 else "")
    text = ("# Architecture candidates for model v2\n\n" + bench._header(cmd, 5) + "\n"
            "16 tiles (8 realistic, 8 processed), batch 8, inference, CPU. Time per tile in ms.\n\n"
            + metrics.format_table(rows, ["network", "parameters (M)", "weights (MB)",
                                          "backbone + RPN (ms)", "whole network (ms)"], floatfmt=".2f")
            + "\n")
    bench.write_report("arch", text, os.path.join(ROOT, "benchmarks", "results"))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
