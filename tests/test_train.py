"""Training for real, a few steps on CPU: loss goes down, checkpoints resume, DDP replicas agree."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nmrpick_ml import train as T  # noqa: E402


def _args(out, **kw):
    return dict(dict(out=str(out), steps=20, batch_size=2, warmup=3, lr=2e-3, threads=1,
                     quiet=True, seed=3), **kw)


def test_twenty_steps_lower_the_loss_and_resume_round_trips(tmp_path):
    res = T.train(**_args(tmp_path / "a"))
    assert res.steps == 20
    first, last = np.mean(res.losses[:4]), np.mean(res.losses[-4:])
    assert last < 0.7 * first, (first, last)
    assert os.path.getsize(res.weights) > 1e6
    # resume: a run stopped at step 12 and resumed to 20 equals a straight run
    # of 20 steps (same batches, same optimiser and scheduler state)
    b = tmp_path / "b"
    T.train(**_args(b, steps=12))
    ck = torch.load(b / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 12
    # continue the 20-step schedule from the 12-step checkpoint
    res_b = T.train(**_args(b, resume="auto"))
    assert res_b.steps == 20
    # the 12-step run had a 12-step cosine schedule, so compare the schedule-free
    # facts: steps continue from the checkpoint and the log has every step once
    log = [line.split(",")[0] for line in open(b / "train_log.csv").read().splitlines()[1:]]
    assert log == [str(i) for i in range(1, 21)]
    loaded = torch.load(res_b.weights, weights_only=True)
    assert set(loaded) == set(torch.load(res.weights, weights_only=True))


def test_resume_is_exact(tmp_path):
    # stop after 6 of 10 steps (the schedule is fixed by --steps), resume to 10:
    # the weights equal those of an uninterrupted 10-step run
    full = T.train(**_args(tmp_path / "full", steps=10))
    T.train(**_args(tmp_path / "cut", steps=10, minutes=0.0))  # stop after the first step...
    ck = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert ck["step"] == 1
    cut = T.train(**_args(tmp_path / "cut", steps=10, resume="auto"))
    w1 = torch.load(full.weights, weights_only=True)
    w2 = torch.load(cut.weights, weights_only=True)
    for k in w1:
        if w1[k].dtype.is_floating_point:
            torch.testing.assert_close(w1[k], w2[k], rtol=1e-4, atol=1e-5)


def test_weights_only_resume_file_continues_with_a_rewarmed_optimiser(tmp_path):
    # the file committed between sessions: weights and step, no optimiser (< 20 MB)
    T.train(**_args(tmp_path / "a", steps=4))
    resume = tmp_path / "resume.pt"
    T.save_resume(str(tmp_path / "a" / "checkpoint.pt"), str(resume))
    ck = torch.load(resume, weights_only=True)
    assert "optimizer" not in ck and ck["step"] == 4
    assert os.path.getsize(resume) < 20e6
    # a fresh folder (a new machine): training continues from step 4 to 8
    res = T.train(**_args(tmp_path / "b", steps=8, resume=str(resume)))
    assert res.steps == 8 and len(res.losses) >= 4
    log = open(tmp_path / "b" / "train_log.csv").read().splitlines()
    steps = [int(r.split(",")[0]) for r in log[1:]]
    lrs = [float(r.split(",")[2]) for r in log[1:]]
    assert steps == [5, 6, 7, 8]
    # re-warm-up: the schedule's learning rate times (k + 1) / REWARM_STEPS after k steps
    expected = [2e-3 * T._lr_factor(4 + k, 3, 8) * min(1.0, (k + 1) / T.REWARM_STEPS)
                for k in range(1, 5)]
    np.testing.assert_allclose(lrs, expected, rtol=0.01)
    assert lrs[0] < 0.05 * 2e-3 * T._lr_factor(5, 3, 8)
    ck2 = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ck2["lr_offset"] == [4, True]


def test_train_command_line_shows_its_defaults():
    from click.testing import CliRunner

    from nmrpick_ml.cli import main
    res = CliRunner().invoke(main, ["train", "--help"])
    assert res.exit_code == 0
    for opt, default in (("--steps", T.DEFAULTS["steps"]), ("--batch-size", T.DEFAULTS["batch_size"]),
                         ("--arch", T.DEFAULTS["arch"]), ("--p-realistic", T.DEFAULTS["p_realistic"])):
        assert opt in res.output
        assert f"default: {default}" in res.output.replace("\n", " ").replace("  ", " ")


@pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "torchrun")), reason="torchrun not installed")
def test_ddp_two_processes_on_cpu_end_with_identical_weights(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "nmrpick_ml.train", "--out", str(out), "--steps", "3", "--batch-size", "1",
           "--warmup", "1", "--threads", "1", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    replicas = json.load(open(out / "replicas.json"))
    assert len(replicas) == 2 and replicas[0] == replicas[1]
    assert "identical weights: True" in p.stdout


def test_export_ships_torch_and_onnx_weights_that_agree(tmp_path):
    # a v2 checkpoint exported as the package would ship it: both files, their
    # hashes in the registry, and the same picks from either engine
    import ast

    from nmrpick_ml import synth
    from nmrpick_ml._noise import estimate_noise
    from nmrpick_ml.picker import load_model
    from nmrpick_ml.shipped import sha256_file
    T.train(**_args(tmp_path / "run", steps=2, batch_size=1))
    dest = tmp_path / "weights"
    dest.mkdir()
    T.export_weights(str(tmp_path / "run" / "checkpoint.pt"), dest_dir=str(dest))
    reg = ast.literal_eval(open(dest / "_registry.py").read().split("SHA256 = ", 1)[1])
    assert reg == {"maskrcnn.pt": sha256_file(dest / "maskrcnn.pt"),
                   "maskrcnn.onnx": sha256_file(dest / "maskrcnn.onnx")}
    cfg = json.load(open(dest / "config.json"))
    assert cfg["arch"]["stem_level"] is True and cfg["steps"] == 2
    t = synth.make_spectrum((128, 128), synth.PROCESSED, seed=[3, 1])
    noise = estimate_noise(t.data)
    a = load_model(str(dest / "maskrcnn.pt"), engine="torch").detect(t.data, noise, 3 * noise,
                                                                      score_threshold=0.05)
    b = load_model(str(dest / "maskrcnn.onnx"), engine="onnx").detect(t.data, noise, 3 * noise,
                                                                       score_threshold=0.05)
    assert len(a.score) == len(b.score)
    np.testing.assert_allclose(a.centre, b.centre, atol=1e-3)
