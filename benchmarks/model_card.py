"""Write nmrpick_ml/weights/MODEL_CARD.md from the shipped config, the training log
and benchmarks/results/model.md (so that no number in the card is typed by hand).

Run from the repository root after `nmrpick-ml bench --model`:
    python benchmarks/model_card.py runs/main/train_log.csv
"""
import csv
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, "nmrpick_ml", "weights")

TEMPLATE = """# Model card: nmrpick-ml Mask R-CNN ({version})

## What it is
A torchvision `MaskRCNN` with two classes (background, peak) that finds 2D NMR peaks and their
full-width-at-half-height (FWHH) masks in 128x128 tiles. ResNet-18 layers 1-3 (batch-norm trained,
no pretrained weights: trained from scratch) under a {fpn}-channel FPN plus a max-pool level;
anchors {anchors} points with ratios {ratios}; `min_size = max_size = 128` (no resize); image
mean 0 and std 1 (we normalise ourselves); a {box_head}-wide box MLP, mask head of {mask_layers}
channels; {box_batch} sampled RoIs per image in training; at most {dets} detections per tile;
class-agnostic NMS at IoU {nms}; {props} proposals per tile at inference. {params} parameters,
weights file {size_mb} MB (`maskrcnn.pt`, a `state_dict`, SHA-256 `{sha}` checked at load).

Input normalisation (`nmrpick_ml.model.normalise`, used by training and inference alike): data in
units of the robust noise of the whole spectrum, floored at 1e-4 of the spectrum's maximum for
noise-free data, then three channels asinh(z), asinh(z/10), asinh(z/100). Never quantised.

## How it was trained (reproduce it)
```
{command}
```
{steps} steps (the run was stopped there, of its {total}-step schedule, to leave the session time
for benchmarks; the learning rate had decayed to {lr_end:.2g}) of batch {batch} tiles, seed {seed}, AdamW (lr {lr}, weight decay {wd}), {warmup}
warm-up steps then cosine decay; {minutes:.0f} minutes on {hardware} (1 torch thread, the other core
busy with development work). Tiles are generated on the fly by `nmrpick_ml.synth`
(`default_rng([seed, step, rank])`): {p_paper:.0%} from the paper's recipe (128x128, 1-4 peaks,
G x G or G x L, no noise), the rest from the realistic recipe (`synth.REALISTIC`: 0-40 peaks per
tile, FWHH 1.5-16 points per axis, Gaussian/Lorentzian/pseudo-Voigt, SNR 2-5000, correlated noise
(lag-1 correlation 0-0.92), overlaps and shoulders, t1-noise ridges, baseline offsets and rolls,
truncation wiggles, negative peaks (not targets: negative peaks are found by running the network on
the negated data), arbitrary overall scale, peaks cut by the tile border). Targets are positive
peaks at >= 3.5 sigma whose centre lies in the tile; target boxes are grown to at least 4 points
(smaller ones can fall between the stride-4 anchors, which made torchvision match every anchor to
them and blew up the RPN loss). Final mean loss over the last 100 steps: {final_loss:.3f}.

## What changed from the prototype, and why
- Correlated noise in the training data: the noise of every real spectrum in `../shared/realdata`
  is correlated between neighbouring points (`benchmarks/results/realism.md`); the prototype
  trained on white noise.
- The input scale uses the estimator's reading of the noise (correlated noise reads lower than its
  true sigma), so training sees what inference sees; the noise floor is 1e-4 (was 1e-3) of the
  maximum, so strong spectra keep weak peaks above the floor.
- Minimum target box of 4 points (see above).
- Post-processing (`nmrpick_ml/_refine.py`, used by the benchmark and by `pick` alike): climb to the
  local maximum inside each box, parabolic sub-point centre, half-height widths on the data, box
  redrawn as the pixel extent of the half-height region, duplicates removed.
- 150 proposals per tile at inference and no masks for detections under the score threshold (speed).
- Score calibration (isotonic, fitted on separate realistic tiles, in `config.json`): SCORE is the
  estimated probability that a pick is a true peak; the default threshold {score_thresh} was chosen
  by F1 on the whole-spectrum benchmark set.

## What it is not good at
- Peaks closer than about one linewidth to a stronger neighbour (shoulders) are often missed or
  merged: see the recall by nearest-neighbour distance below.
- Peaks under about 5 sigma: recall falls quickly below 10 sigma (table below), as it must.
- Narrow lines (typical FWHH under 2.5 points) and very broad ones (over 16 points) are handled by
  resampling the spectrum in `pick` (`nmrpick_ml.resample.LW_LOW`/`LW_HIGH`), not by the network;
  crowded narrow lines are its weakest case (see the recall by nearest-neighbour distance).
- It was trained on synthetic spectra only; the real spectra in `benchmarks/results/real.md` are few.
- 2D only; no multiplets or J-resolved structure are modelled (each component is a peak).

## Measured (from `benchmarks/results/model.md`, tiles from seeds never used in training)
{model_md}
"""


def main(log_path):
    cfg = json.load(open(os.path.join(WEIGHTS, "config.json")))
    from nmrpick_ml.weights._registry import SHA256
    rows = list(csv.DictReader(open(log_path)))
    last = [float(r["loss"]) for r in rows[-100:]]
    a, t = cfg["arch"], cfg.get("train_args", {})
    model_md = open(os.path.join(ROOT, "benchmarks", "results", "model.md")).read()
    model_md = model_md.split("\n", 1)[1].replace("\n## ", "\n### ")
    import torch
    from nmrpick_ml.model import build_model
    params = sum(p.numel() for p in build_model(a).parameters())
    text = TEMPLATE.format(
        version=cfg.get("version", "?"), fpn=a["fpn_channels"], anchors="/".join(map(str, a["anchor_sizes"])),
        ratios="/".join(map(str, a["aspect_ratios"])), box_head=a["box_head"],
        mask_layers="/".join(map(str, a["mask_layers"])), box_batch=a["box_batch_size_per_image"],
        dets=a["detections_per_img"], nms=a["box_nms_thresh"], props=a["rpn_post_nms_top_n_test"],
        params=f"{params / 1e6:.2f} M",
        size_mb=f"{os.path.getsize(os.path.join(WEIGHTS, 'maskrcnn.pt')) / 1e6:.1f}",
        sha=SHA256["maskrcnn.pt"], command=cfg.get("command", "?"), steps=cfg.get("steps", "?"),
        batch=t.get("batch_size"), seed=t.get("seed"), lr=t.get("lr"), wd=t.get("weight_decay"),
        warmup=t.get("warmup"), minutes=float(rows[-1]["seconds"]) / 60 if rows else 0,
        hardware=cfg.get("hardware", "?"), p_paper=t.get("p_paper", 0), final_loss=sum(last) / len(last),
        model_md=model_md, score_thresh=cfg.get("score_thresh"), total=t.get("steps"),
        lr_end=float(rows[-1]["lr"]) if rows else float("nan"))
    out = os.path.join(WEIGHTS, "MODEL_CARD.md")
    with open(out + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(out + ".tmp", out)
    print(f"wrote {out}; torch {torch.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "runs", "main", "train_log.csv"))
