"""The two engines (ONNX Runtime, torch) give the same picks; the ONNX path never imports torch."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TRUTH, gaussian_spectrum, write_pipe

import nmrpick_ml
from nmrpick_ml import synth
from nmrpick_ml._noise import estimate_noise
from nmrpick_ml.normalise import noise_scale, normalise

ONNX = os.path.join(os.path.dirname(nmrpick_ml.__file__), "weights", "maskrcnn.onnx")
pytestmark = pytest.mark.skipif(not os.path.exists(ONNX), reason="no shipped ONNX graph")


@pytest.fixture(scope="module")
def engines():
    return nmrpick_ml.default_picker(engine="onnx"), nmrpick_ml.default_picker(engine="torch")


def test_same_detections_on_the_same_tiles(engines):
    onnx, torch_ = engines
    assert (onnx.engine.name, torch_.engine.name) == ("onnx", "torch")
    assert onnx.config == torch_.config and onnx.weights_sha256 != torch_.weights_sha256
    tiles = [synth.make_spectrum((128, 128), synth.REALISTIC, seed=[4242, i]) for i in range(8)]
    x = [normalise(t.data, noise_scale(t.data, estimate_noise(t.data))) for t in tiles]
    n = 0
    for floor in (0.05, 0.4):
        for a, b in zip(onnx.engine.run(x, floor), torch_.engine.run(x, floor)):
            assert len(a["scores"]) == len(b["scores"])
            n += len(a["scores"])
            np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-3)
            np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)
            np.testing.assert_array_equal(np.isnan(a["extents"]), np.isnan(b["extents"]))
    assert n > 50


@pytest.mark.parametrize("negative", [False, True])
def test_same_picks_on_whole_spectra(engines, negative):
    onnx, torch_ = engines
    sim = synth.simulate(shape=(256, 512), n_peaks=60, seed=11, negative=negative)
    noise = estimate_noise(sim.data)
    a = onnx.detect(sim.data, noise, 3 * noise, -3 * noise if negative else None)
    b = torch_.detect(sim.data, noise, 3 * noise, -3 * noise if negative else None)
    assert len(a) == len(b) > 20 and a.n_tiles == b.n_tiles
    np.testing.assert_allclose(a.centre, b.centre, atol=1e-3)
    np.testing.assert_allclose(a.fwhh, b.fwhh, atol=1e-3)
    np.testing.assert_allclose(a.score, b.score, atol=1e-4)
    np.testing.assert_array_equal(a.cluster, b.cluster)


def test_onnx_graph_is_small_and_hash_checked(tmp_path, monkeypatch):
    assert os.path.getsize(ONNX) < 20e6
    from nmrpick_ml import picker, shipped
    from nmrpick_ml.weights import _registry
    assert _registry.SHA256["maskrcnn.onnx"] == shipped.sha256_file(ONNX)
    bad = tmp_path / "maskrcnn.onnx"
    bad.write_bytes(open(ONNX, "rb").read()[:1000])
    monkeypatch.setattr(shipped, "weights_path", lambda name="maskrcnn.pt": tmp_path / name)
    with pytest.raises(nmrpick_ml.ModelIntegrityError, match="sha256 mismatch"):
        picker.load_model(engine="onnx")


_PROBE = """
import sys
from nmrpick_ml.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", code)
"""


@pytest.mark.parametrize("engine", [None, "torch"])
def test_pick_imports_torch_only_with_engine_torch(tmp_path, engine):
    path = write_pipe(tmp_path / "s.ft2", gaussian_spectrum((128, 256), TRUTH, seed=2))
    args = [str(path), "-o", str(tmp_path / "p.tab")] + (["--engine", engine] if engine else [])
    p = subprocess.run([sys.executable, "-c", _PROBE] + args, capture_output=True, text=True,
                       timeout=300)
    last = p.stdout.strip().splitlines()[-1]
    assert last == ("TORCH 0" if engine == "torch" else "NO-TORCH 0"), (p.stdout, p.stderr)
    assert " peaks, " in p.stderr and (tmp_path / "p.tab").exists()


def test_default_tile_fits_the_spectrum_and_detect_times_its_steps(engines):
    from nmrpick_ml._defaults import INFERENCE_TILE
    from nmrpick_ml.picker import DEFAULT_TILE
    onnx, _ = engines
    assert onnx.tile == INFERENCE_TILE and onnx.train_tile == DEFAULT_TILE == 128
    # a spectrum the size of a training tile runs one tile of that size, as before
    for i in range(4):
        t = synth.make_spectrum((128, 128), synth.REALISTIC, seed=[4242, i])
        noise = estimate_noise(t.data)
        a = onnx.detect(t.data, noise, 3 * noise)
        b = onnx.detect(t.data, noise, 3 * noise, tile=128)
        assert a.n_tiles == b.n_tiles and len(a) == len(b)
        np.testing.assert_array_equal(a.centre, b.centre)
    # a larger one at 256-point tiles (the network is fully convolutional): fewer
    # tiles, the same peaks
    sim = synth.simulate(shape=(256, 512), n_peaks=60, seed=11)
    noise = estimate_noise(sim.data)
    timings = {}
    big = onnx.detect(sim.data, noise, 3 * noise, tile=256, timings=timings)
    small = onnx.detect(sim.data, noise, 3 * noise, tile=128)
    assert big.n_tiles == timings["n_tiles"] < small.n_tiles / 2
    d = np.linalg.norm(big.centre[:, None] - small.centre[None], axis=2).min(axis=1)
    assert len(big) > 20 and np.mean(d < 0.5) > 0.9 and abs(len(big) - len(small)) <= 3
    assert set(timings) == {"resample", "ridge noise", "normalise", "tiles", "network",
                            "mask extents", "stitch", "refine", "rules", "thresholds", "n_tiles"}
    assert timings["network"] > 0


def test_graph_level_merge_is_torchvisions():
    # the exported graph merges the RoIAlign levels by a gather (onnx_export._merge_levels)
    # instead of torchvision's scatter into a zero tensor: the same tensor
    torch = pytest.importorskip("torch")
    from torchvision.ops import poolers
    from nmrpick_ml.onnx_export import _merge_levels
    g = torch.Generator().manual_seed(0)
    for n in (0, 1, 7, 40):
        levels = torch.randint(0, 4, (n,), generator=g)
        parts = [torch.randn(int((levels == k).sum()), 3, 5, 5, generator=g) for k in range(4)]
        assert torch.equal(_merge_levels(levels, parts), poolers._onnx_merge_levels(levels, parts))
    onnx = pytest.importorskip("onnx")
    from nmrpick_ml.shipped import model_config
    levels = 4 if (model_config(None).get("arch") or {}).get("stem_level") else 3   # v2: the stride-2 level
    ops = [n.op_type for n in onnx.load(ONNX).graph.node]
    # 1-D inverses only; one RoiAlign per pooled level, for the boxes and the masks
    assert ops.count("ScatterElements") == 2 and ops.count("RoiAlign") == 2 * levels


@pytest.mark.parametrize("arch", ["v1", "v2"])
def test_graph_rpn_gives_torchvisions_proposals(arch):
    # the exported graph decodes only the anchors each level keeps (onnx_export._rpn_proposals):
    # the same proposals as torchvision's RPN, for both architectures (an untrained v2: the
    # equality does not depend on the weights) and tile sizes
    torch = pytest.importorskip("torch")
    from torchvision.models.detection.image_list import ImageList
    from nmrpick_ml.model import ARCHS, build_model
    from nmrpick_ml.onnx_export import _rpn_proposals
    torch.manual_seed(0)
    net = build_model(ARCHS[arch]).eval()
    tiles = [synth.make_spectrum((128, 128), synth.REALISTIC, seed=[4242, i]) for i in range(3)]
    xs = [normalise(t.data, noise_scale(t.data, estimate_noise(t.data))) for t in tiles]
    xs.append(np.pad(xs[0], ((0, 0), (0, 32), (0, 128))))           # 160 x 256
    with torch.no_grad():
        for x in xs:
            t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
            images, feats = ImageList(t, [tuple(t.shape[-2:])]), net.backbone(t)
            ref, ours = net.rpn(images, feats)[0][0], _rpn_proposals(net.rpn, images, feats)[0]
            assert len(ref) == net.rpn.post_nms_top_n()
            assert torch.equal(ref, ours)


@pytest.mark.slow
def test_exported_graph_runs_as_torch(tmp_path):
    # a graph exported by this code (the shipped one may be older) against torch
    torch = pytest.importorskip("torch")
    from nmrpick_ml.engines import OnnxEngine, TorchEngine
    from nmrpick_ml.model import load_network
    from nmrpick_ml.onnx_export import export_onnx
    net, _, _ = load_network()
    export_onnx(net, tmp_path / "g.onnx")
    tiles = [synth.make_spectrum((128, 128), synth.REALISTIC, seed=[4243, i]) for i in range(3)]
    x = [normalise(t.data, noise_scale(t.data, estimate_noise(t.data))) for t in tiles]
    onnx_, torch_, n = OnnxEngine(tmp_path / "g.onnx", threads=1), TorchEngine(net), 0
    for batch in (x, [np.pad(x[0], ((0, 0), (0, 128), (0, 0)))]):      # and a 256 x 128 tile
        for a, b in zip(onnx_.run(batch, 0.05), torch_.run(batch, 0.05)):
            assert len(a["scores"]) == len(b["scores"])
            n += len(a["scores"])
            np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-3)
            np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-4)
    assert n > 30


def test_speed_benchmark_pairs_a_models_two_files(tmp_path):
    # bench --speed --weights X.onnx runs the torch engine on X.pt beside it, and the other way round
    from nmrpick_ml.bench import speed_weights
    onnx_, pt = tmp_path / "maskrcnn.onnx", tmp_path / "maskrcnn.pt"
    onnx_.write_bytes(b"x")
    assert speed_weights(onnx_) == (str(onnx_), None)       # no torch file: its columns are n/a
    pt.write_bytes(b"x")
    assert speed_weights(onnx_) == (str(onnx_), str(pt))
    assert speed_weights(pt) == (str(onnx_), str(pt))
    assert speed_weights(None) == (None, None)


def test_network_per_tile_table_runs_each_tile_size(engines, tmp_path):
    from nmrpick_ml.bench import network_per_tile
    sim = synth.simulate(shape=(256, 512), n_peaks=60, seed=11)
    path = write_pipe(tmp_path / "s.ft2", sim.data)
    onnx, _ = engines
    rows = network_per_tile([("shipped", onnx)], str(path), str(tmp_path), tiles=(128, 256))
    assert [r[:2] for r in rows] == [("shipped", 128), ("shipped", 256)]
    (_, _, n128, ms128, ext128, tot128, pick128, p128), (_, _, n256, ms256, _, tot256, _, p256) = rows
    assert n256 < n128 / 2 and ms256 > ms128 > 0 and ext128 >= 0
    assert tot128 == pytest.approx(n128 * (ms128 + ext128)) and pick128 > tot128
    assert p128 > 20 and abs(p256 - p128) <= 3
