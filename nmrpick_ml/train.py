"""Training loop of the Mask R-CNN on synthetic tiles generated on the fly.

CPU by default. Launched with ``torchrun --nproc_per_node=N -m nmrpick_ml.train``
it runs data-parallel (DistributedDataParallel; gloo on CPU, NCCL on GPUs).
Checkpoints (model, optimiser, scheduler, step, RNG states, arguments) are
written atomically every ``--ckpt-minutes`` and at the end; ``--resume``
continues exactly where a checkpoint left off.

Examples
--------
Train for 20 steps into ``runs/demo`` (about a minute on a laptop CPU)::

    nmrpick-ml train --steps 20 --out runs/demo
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("nmrpick_ml.train")

LOSS_KEYS = ("loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg")


def get_parser():
    p = argparse.ArgumentParser(
        prog="nmrpick-ml train",
        description="Train the nmrpick-ml Mask R-CNN from scratch on synthetic tiles.")
    p.add_argument("--out", default="runs/train", help="output folder (checkpoint.pt, train_log.csv, maskrcnn.pt)")
    p.add_argument("--steps", type=int, default=8000, help="total optimiser steps (sets the LR schedule)")
    p.add_argument("--minutes", type=float, default=None,
                   help="stop (with a checkpoint) after this many minutes; resume later with --resume")
    p.add_argument("--batch-size", type=int, default=8, help="tiles per step and process")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument("--p-paper", type=float, default=0.1, help="fraction of tiles from the paper recipe")
    p.add_argument("--p-realistic", type=float, default=0.3,
                   help="fraction of tiles from the realistic recipe (the rest: processed)")
    p.add_argument("--arch", default="v2", choices=["v1", "v2"], help="network architecture")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--ckpt-minutes", type=float, default=5.0)
    p.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="resume from a checkpoint (default: OUT/checkpoint.pt)")
    p.add_argument("--init", default=None, help="start from these weights (a state_dict)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--export", metavar="CHECKPOINT", default=None,
                   help="instead of training: ship CHECKPOINT as the package's weights "
                        "(maskrcnn.pt, config.json with a fitted score calibration, registry hash)")
    p.add_argument("--calibration-tiles", type=int, default=400,
                   help="realistic tiles for the score calibration of --export")
    return p


@dataclass
class TrainResult:
    """What :func:`train` returns."""
    out: str
    steps: int
    losses: list
    checkpoint: str
    weights: str
    seconds: float
    replicas: list | None = None


MIN_BOX = 4.0


def _min_size(boxes, m):
    """Grow (x0, y0, x1, y1) boxes about their centre to at least m points per side."""
    b = boxes.astype(np.float64).copy()
    for lo, hi in ((0, 2), (1, 3)):
        c = (b[:, lo] + b[:, hi]) / 2
        w = np.maximum(b[:, hi] - b[:, lo], m)
        b[:, lo], b[:, hi] = c - w / 2, c + w / 2
    return b


def make_batch(step, rank, batch_size, seed, p_paper=0.15, size=128, p_realistic=0.0,
               min_box=MIN_BOX):
    """Tiles and torchvision targets for one step (deterministic in seed, step, rank).

    Each tile comes from the paper recipe with probability ``p_paper``, the
    realistic one with ``p_realistic``, and the processed one otherwise.
    """
    import torch
    from . import synth
    from .model import noise_scale, normalise
    rng = np.random.default_rng([seed, step, rank])
    images, targets = [], []
    for _ in range(batch_size):
        u = rng.random()
        recipe = (synth.PAPER if u < p_paper else synth.REALISTIC if u < p_paper + p_realistic
                  else synth.PROCESSED)
        s = synth.make_spectrum((size, size), recipe, rng=rng)
        # the noise scale the picker will use: the robust estimate of the whole
        # spectrum's noise (on the noise alone here, as a whole spectrum has
        # plenty of empty blocks), with a small jitter, floored for noise-free data
        noise = s.meta["noise_estimate"] * float(np.exp(rng.normal(0, 0.1))) if s.noise > 0 else 0.0
        x = normalise(s.data, noise_scale(s.data, noise))
        t = s.target
        boxes = s.box[t][:, [1, 0, 3, 2]]  # (x0, y0, x1, y1)
        masks = s.masks[t]
        # random flips (the t1 axis stays axis 0)
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
            masks = masks[:, :, ::-1]
            boxes = np.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], 1)
        if rng.random() < 0.5:
            x = x[:, ::-1, :]
            masks = masks[:, ::-1, :]
            boxes = np.stack([boxes[:, 0], size - boxes[:, 3], boxes[:, 2], size - boxes[:, 1]], 1)
        # at least MIN_BOX points per side: a 1-2 point box can fall between the
        # stride-4 anchors with IoU 0 to all of them, and torchvision then makes
        # every anchor a positive match (huge RPN losses). The picker redraws
        # boxes from the data afterwards (``_refine``), so nothing is lost.
        boxes = _min_size(boxes.reshape(-1, 4), min_box)
        images.append(torch.from_numpy(np.ascontiguousarray(x)))
        targets.append(dict(
            boxes=torch.as_tensor(boxes.reshape(-1, 4), dtype=torch.float32),
            labels=torch.ones(len(boxes), dtype=torch.int64),
            masks=torch.from_numpy(np.ascontiguousarray(masks).astype(np.uint8)).reshape(-1, size, size)))
    return images, targets


def _lr_factor(step, warmup, total):
    if step < warmup:
        return (step + 1) / warmup
    prog = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * prog))


def _dist_init(device):
    """Initialise torch.distributed when launched by torchrun (else single process)."""
    import torch
    import torch.distributed as dist
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), dist.get_world_size(), True


#: Steps of linear learning-rate warm-up after resuming from a weights-only file.
REWARM_STEPS = 100


def save_resume(checkpoint, path):
    """Write the weights-only resume file of a checkpoint (model, step, arguments;
    no optimiser state, so that it stays under 20 MB and can be committed)."""
    import torch
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    _atomic_save(dict(model=ck["model"], step=int(ck["step"]), args=ck.get("args", "{}"),
                      losses=list(ck.get("losses", []))[-200:]), path)
    return path


def _atomic_save(obj, path):
    import torch
    from .files import atomic_write
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def train(args):
    """Train; see :func:`get_parser` for ``args``. Returns a :class:`TrainResult`."""
    import torch
    from .model import build_model, save_weights
    from . import synth

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    if args.device == "cuda" and device.type != "cuda":
        raise SystemExit("error: --device cuda but torch sees no CUDA GPU")
    rank, world, distributed = _dist_init(device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")

    torch.manual_seed(args.seed)
    from .model import ARCHS
    arch = ARCHS[getattr(args, "arch", "v1")]
    model = build_model(arch).to(device)
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    lr_offset = [0, False]      # scheduler step 0 is this global step; re-warm after it

    def lr_lambda(s):
        f = _lr_factor(s + lr_offset[0], args.warmup, args.steps)
        return f * min(1.0, (s + 1) / REWARM_STEPS) if lr_offset[1] else f
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    start = 0
    losses = []
    rewarm_from = None
    if args.resume:
        path = ckpt_path if args.resume == "auto" else args.resume
        ck = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        start = int(ck["step"])
        if "optimizer" in ck:
            lr_offset[:] = list(ck.get("lr_offset", [0, False]))
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            torch.set_rng_state(ck["torch_rng"])
            if device.type == "cuda" and ck.get("cuda_rng"):
                torch.cuda.set_rng_state_all(ck["cuda_rng"])
        else:
            # a weights-only resume file (committed between sessions): the
            # optimiser's moments are re-estimated during a short warm-up
            rewarm_from = start
            lr_offset[:] = [start, True]
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        losses = list(ck.get("losses", []))
        if rank == 0:
            log.info("resumed from %s at step %d%s", path, start,
                     " (weights only: optimiser re-warmed)" if rewarm_from is not None else "")
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()

    log_path = os.path.join(args.out, "train_log.csv")
    new_log = not (args.resume and os.path.exists(log_path))
    if not new_log and rank == 0:
        # drop the rows logged after the checkpoint we resume from
        with open(log_path) as fh:
            rows = fh.read().splitlines()
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r.split(",")[0]) <= start]
        with open(log_path, "w") as fh:
            fh.write("\n".join(kept) + "\n")
    logf = open(log_path, "w" if new_log else "a", newline="") if rank == 0 else None
    writer = csv.writer(logf) if logf else None
    if writer and new_log:
        writer.writerow(["step", "seconds", "lr", "loss", *LOSS_KEYS])

    def checkpoint(step):
        if rank != 0:
            return
        _atomic_save(dict(model=model.state_dict(), optimizer=opt.state_dict(),
                          scheduler=sched.state_dict(), lr_offset=list(lr_offset), step=step,
                          torch_rng=torch.get_rng_state(),
                          cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                          losses=losses[-2000:], args=json.dumps(vars(args))), ckpt_path)
        logf.flush()

    bar = None
    if rank == 0 and not args.quiet:
        try:
            from tqdm import tqdm
            bar = tqdm(total=args.steps, initial=start, unit="step", dynamic_ncols=True, file=sys.stderr)
        except ImportError:
            bar = None
    t0 = time.time()
    last_ck = t0
    step = start
    while step < args.steps:
        images, targets = make_batch(step, rank, args.batch_size, args.seed, args.p_paper,
                                     p_realistic=getattr(args, "p_realistic", 0.0),
                                     min_box=arch["min_box"])
        images = [i.to(device) for i in images]
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        loss_dict = net(images, targets)
        loss = sum(loss_dict.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        sched.step()
        step += 1
        vals = [float(loss_dict[k].detach()) for k in LOSS_KEYS]
        losses.append(float(loss.detach()))
        if writer:
            writer.writerow([step, round(time.time() - t0, 2), f"{sched.get_last_lr()[0]:.3g}",
                             f"{losses[-1]:.5f}", *(f"{v:.5f}" for v in vals)])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}",
                            cls=f"{vals[0]:.3f}", mask=f"{vals[2]:.3f}")
        now = time.time()
        if now - last_ck > args.ckpt_minutes * 60:
            checkpoint(step)
            last_ck = now
        stop = args.minutes is not None and now - t0 > args.minutes * 60
        if distributed:
            # every rank must leave the loop at the same step: rank 0's clock decides
            import torch.distributed as dist
            flag = torch.tensor([1.0 if stop else 0.0], device=device)
            dist.broadcast(flag, src=0)
            stop = bool(flag.item())
        if stop:
            break
    checkpoint(step)
    weights = os.path.join(args.out, "maskrcnn.pt")
    if rank == 0:
        save_weights(model, weights)
        logf.close()
    if bar is not None:
        bar.close()
    replicas = None
    if distributed:
        import hashlib
        import torch.distributed as dist
        # every replica must end with the same weights: gather their checksums
        h = hashlib.sha256()
        # parameters only: batch-norm running statistics are per replica (DDP
        # broadcasts rank 0's at each forward; rank 0 saves the weights)
        for v in model.parameters():
            h.update(v.detach().cpu().numpy().tobytes())
        replicas = [None] * world
        dist.all_gather_object(replicas, h.hexdigest())
        if rank == 0:
            with open(os.path.join(args.out, "replicas.json"), "w") as fh:
                json.dump(replicas, fh)
        dist.barrier()
        dist.destroy_process_group()
    return TrainResult(out=args.out, steps=step, losses=losses, checkpoint=ckpt_path,
                       weights=weights, seconds=time.time() - t0, replicas=replicas)


def export_weights(checkpoint, dest_dir=None, extra_config=None):
    """Ship a trained model: write ``maskrcnn.pt``, ``config.json`` and the registry hash.

    Parameters
    ----------
    checkpoint : str
        A ``checkpoint.pt`` (or a plain state_dict file).
    dest_dir : str, optional
        Default: the package's ``weights/`` folder.
    extra_config : dict, optional
        Merged into ``config.json`` (e.g. score_thresh, training command).
    """
    import torch
    from .files import atomic_write_text, transaction
    from .model import ARCH, build_model, save_weights
    dest_dir = dest_dir or os.path.join(os.path.dirname(__file__), "weights")
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = ck["model"] if "model" in ck else ck
    model = build_model()
    model.load_state_dict(state)
    cfg = dict(arch=ARCH, tile=ARCH["tile"], classes=["background", "peak"],
               normalisation="asinh(z), asinh(z/10), asinh(z/100); z = data / max(noise, 1e-4 max|data|)",
               score_thresh=0.5, mask_thresh=0.5)
    if "step" in ck:
        cfg["steps"] = int(ck["step"])
        cfg["train_args"] = json.loads(ck.get("args", "{}"))
    cfg.update(extra_config or {})
    with transaction():                    # weights, config and registry together, or none
        sha = save_weights(model, os.path.join(dest_dir, "maskrcnn.pt"))
        registry = ('"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.\n\n'
                    'Updated by ``nmrpick_ml.train.export_weights``; do not edit by hand.\n"""\n\n'
                    f'SHA256 = {{"maskrcnn.pt": "{sha}"}}\n')
        atomic_write_text(os.path.join(dest_dir, "config.json"), json.dumps(cfg, indent=2))
        atomic_write_text(os.path.join(dest_dir, "_registry.py"), registry)
    return sha


#: Default (calibrated) score threshold written into the shipped config: the
#: best F1 on the whole-spectrum benchmark set among 0.2-0.5 (tuned there).
SCORE_THRESH = 0.4


def ship(checkpoint, calibration_tiles=400, threads=None):
    """Export a checkpoint as the shipped model and fit its score calibration."""
    import platform

    import torch
    from . import __version__
    from .bench import fit_calibration
    from .model import load_model, model_config
    if threads:
        torch.set_num_threads(threads)
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    targs = json.loads(ck.get("args", "{}")) if isinstance(ck, dict) else {}
    cmd = ("nmrpick-ml train --steps {steps} --batch-size {batch_size} --lr {lr} --warmup {warmup} "
           "--seed {seed} --threads 1 --out runs/main [--minutes M --resume to split it over sessions]"
           ).format(**targs) if targs else "?"
    extra = dict(version=f"{__version__}+{int(ck.get('step', 0))}steps", command=cmd,
                 hardware=f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU")
    export_weights(checkpoint, extra_config=extra)
    net = load_model()
    cal = fit_calibration(net, n=calibration_tiles)
    cfg = model_config()
    cfg["calibration"] = cal
    cfg["score_thresh"] = SCORE_THRESH
    from .files import atomic_write_text
    atomic_write_text(os.path.join(os.path.dirname(__file__), "weights", "config.json"),
                      json.dumps(cfg, indent=2))
    return cfg


def main(argv=None):
    """Command-line entry (``nmrpick-ml train`` and ``python -m nmrpick_ml.train``)."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.export:
        cfg = ship(args.export, args.calibration_tiles, args.threads)
        print(f"shipped {cfg['version']}: nmrpick_ml/weights/maskrcnn.pt, config.json "
              f"(calibration on {cfg['calibration']['n_picks']} picks)")
        return 0
    res = train(args)
    if int(os.environ.get("RANK", "0")) == 0:
        tail = np.mean(res.losses[-20:]) if res.losses else float("nan")
        print(f"trained {res.steps} steps in {res.seconds:.0f} s; last loss {tail:.4f}; "
              f"weights {res.weights}; checkpoint {res.checkpoint}")
        if res.replicas:
            print(f"{len(res.replicas)} replicas, identical weights: {len(set(res.replicas)) == 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
