"""Training loop of the Mask R-CNN on synthetic tiles generated on the fly.

CPU by default. Launched with ``torchrun --nproc_per_node=N -m nmrpick_ml.train``
it runs data-parallel (DistributedDataParallel; gloo on CPU, NCCL on GPUs).
Checkpoints (model, optimiser, scheduler, step, RNG states, arguments) are
written atomically every ``--ckpt-minutes`` and at the end; ``--resume``
continues exactly where a checkpoint left off.

The command line (``nmrpick-ml train``, ``python -m nmrpick_ml.train``) is
the click command in :mod:`nmrpick_ml.cli`; it parses and calls :func:`train`.

Examples
--------
Train for 20 steps into ``runs/demo`` (about a minute on a laptop CPU)::

    nmrpick-ml train --steps 20 --out runs/demo

or from Python::

    from nmrpick_ml.train import train
    result = train(out="runs/demo", steps=20)
"""

from __future__ import annotations

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


#: Defaults of :func:`train` (the command line shows them with ``--help``).
DEFAULTS = dict(out="runs/train", steps=8000, minutes=None, batch_size=8, lr=2e-3,
                weight_decay=1e-4, warmup=200, p_paper=0.1, p_realistic=0.3, arch="v2", seed=1,
                device="cpu", threads=None, ckpt_minutes=5.0, resume=None, init=None, quiet=False)


def _device(name):
    import torch
    if name == "cuda" and not torch.cuda.is_available():
        from ._errors import NmrpickError
        raise NmrpickError("--device cuda asked for, but torch sees no CUDA GPU")
    use_cuda = name in ("cuda", "auto") and torch.cuda.is_available()
    return torch.device("cuda" if use_cuda else "cpu")


class _Schedule:
    """Warm-up + cosine learning-rate factor, with an offset and a re-warm-up
    after resuming from a weights-only file (whose optimiser moments are lost)."""

    def __init__(self, warmup, total):
        self.warmup, self.total = warmup, total
        self.offset, self.rewarm = 0, False

    def __call__(self, s):
        f = _lr_factor(s + self.offset, self.warmup, self.total)
        return f * min(1.0, (s + 1) / REWARM_STEPS) if self.rewarm else f

    def state(self):
        return [self.offset, self.rewarm]


def _resume(path, model, opt, sched, schedule, device):
    """Load a checkpoint (exact resume) or a weights-only resume file (re-warmed);
    return ``(step, losses)``."""
    import torch
    ck = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(ck["model"])
    start = int(ck["step"])
    if "optimizer" in ck:
        schedule.offset, schedule.rewarm = ck.get("lr_offset", [0, False])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        if device.type == "cuda" and ck.get("cuda_rng"):
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        how = ""
    else:
        schedule.offset, schedule.rewarm = start, True
        for g in opt.param_groups:                 # the re-warm-up starts now
            g["lr"] = g["initial_lr"] * schedule(0)
        sched.last_epoch, sched._last_lr = 0, [g["lr"] for g in opt.param_groups]
        how = " (weights only: optimiser re-warmed)"
    log.info("resumed from %s at step %d%s", path, start, how)
    return start, list(ck.get("losses", []))


class _Log:
    """``train_log.csv``: one row per step; on resume, rows after the checkpoint are dropped."""

    def __init__(self, out, start, resumed, rank):
        self.fh = self.writer = None
        if rank != 0:
            return
        path = os.path.join(out, "train_log.csv")
        append = resumed and os.path.exists(path)
        if append:
            with open(path) as fh:
                rows = fh.read().splitlines()
            kept = [rows[0]] + [r for r in rows[1:] if r and int(r.split(",")[0]) <= start]
            with open(path, "w") as fh:
                fh.write("\n".join(kept) + "\n")
        self.fh = open(path, "a" if append else "w", newline="")
        self.writer = csv.writer(self.fh)
        if not append:
            self.writer.writerow(["step", "seconds", "lr", "loss", *LOSS_KEYS])

    def row(self, *values):
        if self.writer:
            self.writer.writerow(values)

    def flush(self):
        if self.fh:
            self.fh.flush()

    def close(self):
        if self.fh:
            self.fh.close()


def _replica_hashes(model, out, world, rank):
    """Gather every replica's parameter checksum (DDP): they must all be equal."""
    import hashlib

    import torch.distributed as dist
    h = hashlib.sha256()
    # parameters only: batch-norm running statistics are per replica (DDP
    # broadcasts rank 0's at each forward; rank 0 saves the weights)
    for v in model.parameters():
        h.update(v.detach().cpu().numpy().tobytes())
    replicas = [None] * world
    dist.all_gather_object(replicas, h.hexdigest())
    if rank == 0:
        with open(os.path.join(out, "replicas.json"), "w") as fh:
            json.dump(replicas, fh)
    dist.barrier()
    dist.destroy_process_group()
    return replicas


def train(**kwargs):
    """Train the Mask R-CNN on synthetic tiles made on the fly.

    Parameters
    ----------
    out : str
        Output folder: ``checkpoint.pt`` (every ``ckpt_minutes`` and at the
        end), ``train_log.csv``, ``maskrcnn.pt`` (the final weights).
    steps : int
        Total optimiser steps (sets the learning-rate schedule).
    minutes : float, optional
        Stop, with a checkpoint, after this many minutes (resume later).
    batch_size : int
        Tiles per step and process.
    lr, weight_decay : float
        AdamW settings.
    warmup : int
        Linear warm-up steps.
    p_paper, p_realistic : float
        Fractions of tiles from the paper and realistic recipes; the rest come
        from the processed recipe.
    arch : {"v2", "v1"}
        Network architecture (:data:`nmrpick_ml.model.ARCHS`).
    seed : int
    device : {"cpu", "cuda", "auto"}
    threads : int, optional
        Torch CPU threads.
    ckpt_minutes : float
    resume : str, optional
        ``"auto"`` (``out/checkpoint.pt``) or a path: a checkpoint (exact resume)
        or a weights-only resume file (:func:`save_resume`; the optimiser is
        re-warmed over :data:`REWARM_STEPS` steps).
    init : str, optional
        Start from these weights (a state_dict).
    quiet : bool
        No progress bar.

    Returns
    -------
    TrainResult
    """
    unknown = set(kwargs) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"train() got unexpected arguments {sorted(unknown)}")
    a = dict(DEFAULTS, **kwargs)
    import torch
    from .model import ARCHS, build_model, save_weights

    if a["threads"]:
        torch.set_num_threads(a["threads"])
    device = _device(a["device"])
    rank, world, distributed = _dist_init(device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out = a["out"]
    os.makedirs(out, exist_ok=True)
    ckpt_path = os.path.join(out, "checkpoint.pt")

    torch.manual_seed(a["seed"])
    arch = ARCHS[a["arch"]]
    model = build_model(arch).to(device)
    if a["init"]:
        model.load_state_dict(torch.load(a["init"], map_location="cpu", weights_only=True))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=a["lr"], weight_decay=a["weight_decay"])
    schedule = _Schedule(a["warmup"], a["steps"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    start, losses = 0, []
    if a["resume"]:
        path = ckpt_path if a["resume"] == "auto" else a["resume"]
        start, losses = _resume(path, model, opt, sched, schedule, device)
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    tlog = _Log(out, start, bool(a["resume"]), rank)

    def checkpoint(step):
        if rank != 0:
            return
        _atomic_save(dict(model=model.state_dict(), optimizer=opt.state_dict(),
                          scheduler=sched.state_dict(), lr_offset=schedule.state(), step=step,
                          torch_rng=torch.get_rng_state(),
                          cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                          losses=losses[-2000:], args=json.dumps(a)), ckpt_path)
        tlog.flush()

    bar = None
    if rank == 0 and not a["quiet"]:
        from tqdm import tqdm
        bar = tqdm(total=a["steps"], initial=start, unit="step", dynamic_ncols=True, file=sys.stderr)
    t0 = time.time()
    last_ck = t0
    step = start
    while step < a["steps"]:
        images, targets = make_batch(step, rank, a["batch_size"], a["seed"], a["p_paper"],
                                     p_realistic=a["p_realistic"], min_box=arch["min_box"])
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
        tlog.row(step, round(time.time() - t0, 2), f"{sched.get_last_lr()[0]:.3g}",
                 f"{losses[-1]:.5f}", *(f"{v:.5f}" for v in vals))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", cls=f"{vals[0]:.3f}",
                            mask=f"{vals[2]:.3f}")
        now = time.time()
        if now - last_ck > a["ckpt_minutes"] * 60:
            checkpoint(step)
            last_ck = now
        stop = a["minutes"] is not None and now - t0 > a["minutes"] * 60
        if distributed:
            # every rank must leave the loop at the same step: rank 0's clock decides
            import torch.distributed as dist
            flag = torch.tensor([1.0 if stop else 0.0], device=device)
            dist.broadcast(flag, src=0)
            stop = bool(flag.item())
        if stop:
            break
    checkpoint(step)
    weights = os.path.join(out, "maskrcnn.pt")
    if rank == 0:
        save_weights(model, weights)
    tlog.close()
    if bar is not None:
        bar.close()
    replicas = _replica_hashes(model, out, world, rank) if distributed else None
    return TrainResult(out=out, steps=step, losses=losses, checkpoint=ckpt_path,
                       weights=weights, seconds=time.time() - t0, replicas=replicas)


def export_weights(checkpoint, dest_dir=None, extra_config=None):
    """Ship a trained model: write ``maskrcnn.pt``, ``maskrcnn.onnx``, ``config.json`` and
    their hashes in ``_registry.py``, together or not at all.

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
    from .model import ARCHS, build_model, save_weights
    dest_dir = dest_dir or os.path.join(os.path.dirname(__file__), "weights")
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = ck["model"] if "model" in ck else ck
    # the architecture the checkpoint was trained with (v1 before it was recorded)
    name = json.loads(ck.get("args", "{}")).get("arch", "v1") if "model" in ck else "v1"
    arch = ARCHS[name]
    model = build_model(arch)
    model.load_state_dict(state)
    from ._defaults import INFERENCE_TILE
    from .model import LINEWIDTHS
    cfg = dict(arch=arch, tile=INFERENCE_TILE, classes=["background", "peak"],
               linewidths=LINEWIDTHS[name],
               normalisation="asinh(z), asinh(z/10), asinh(z/100); z = data / max(noise, 1e-4 max|data|)",
               score_thresh=0.5, mask_thresh=0.5)
    if "step" in ck:
        cfg["steps"] = int(ck["step"])
        cfg["train_args"] = json.loads(ck.get("args", "{}"))
    cfg.update(extra_config or {})
    from .onnx_export import export_onnx
    from .shipped import write_registry
    with transaction():      # torch weights, ONNX graph, config and registry together, or none
        sha = save_weights(model, os.path.join(dest_dir, "maskrcnn.pt"))
        sha_onnx = export_onnx(model.eval(), os.path.join(dest_dir, "maskrcnn.onnx"), int(arch["tile"]))
        atomic_write_text(os.path.join(dest_dir, "config.json"), json.dumps(cfg, indent=2))
        write_registry(dest_dir, {"maskrcnn.pt": sha, "maskrcnn.onnx": sha_onnx})
    return sha


#: Default (calibrated) score threshold written into the shipped config: the
#: best F1 on the whole-spectrum benchmark set among 0.2-0.5 (tuned there).
SCORE_THRESH = 0.4


def ship(checkpoint, calibration_tiles=400, threads=None):
    """Export a checkpoint as the shipped model and fit its score calibration."""
    import platform

    import torch
    from . import __version__
    from .calibration import fit_calibration
    from .model import load_model, model_config
    if threads:
        torch.set_num_threads(threads)
    ck = torch.load(checkpoint, map_location="cpu", weights_only=True)
    targs = json.loads(ck.get("args", "{}")) if isinstance(ck, dict) else {}
    arch = targs.get("arch", "v1")
    cmd = ("nmrpick-ml train" + ("" if arch == "v1" else f" --arch {arch}")
           + " --steps {steps} --batch-size {batch_size} --lr {lr} --warmup {warmup} --seed {seed}"
           + " --threads 1 --out runs/" + ("main" if arch == "v1" else arch)
           + " [--minutes M --resume to split it over sessions]").format(**targs) if targs else "?"
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
    """``python -m nmrpick_ml.train`` (and ``torchrun -m nmrpick_ml.train``): the same
    click command as ``nmrpick-ml train``."""
    from .cli import train_command
    return train_command.main(args=argv, prog_name="nmrpick-ml train", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
