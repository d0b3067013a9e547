"""The picking core: a shared Picker is never changed by a pick, Peaks, noise once."""

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TRUTH, gaussian_spectrum, write_pipe

import nmrpick_ml
from nmrpick_ml import Peaks, Picker, find_peaks
from nmrpick_ml.peaks import PEAK_DTYPE


def _network_settings(picker):
    """Every setting of the torch network a pick could touch, and a hash of its weights."""
    net = picker.engine.network
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    rh, rpn, tr = net.roi_heads, net.rpn, net.transform
    return dict(score_thresh=rh.score_thresh, nms=rh.nms_thresh, per_img=rh.detections_per_img,
                min_size=tr.min_size, max_size=tr.max_size, rpn_post=dict(rpn._post_nms_top_n),
                rpn_pre=dict(rpn._pre_nms_top_n), training=net.training, weights=h.hexdigest(),
                config=dict(picker.config))


def test_two_score_thresholds_on_one_shared_picker(shipped_model):
    picker = nmrpick_ml.default_picker(engine="torch")        # the engine with settings to clobber
    assert isinstance(picker, Picker) and picker is nmrpick_ml.default_picker(engine="torch")
    before = _network_settings(picker)
    data = gaussian_spectrum((128, 256), TRUTH, seed=3)
    noise = nmrpick_ml._noise.estimate_noise(data)
    # rules=False: the rule steps merge and drop picks by their neighbours, so with them the
    # strict pick need not be the loose one cut at 0.9
    lo = picker.detect(data, noise, 3 * noise, score_threshold=0.05, rules=False)
    hi = picker.detect(data, noise, 3 * noise, score_threshold=0.9, rules=False)
    assert _network_settings(picker) == before
    # the network's own floor is what the shipped model built it with
    assert before["score_thresh"] == 0.05 and before["min_size"] == (128,)
    # both right: the strict pick is the loose one above 0.9, and the peaks are found
    assert len(hi) < len(lo) and lo.score.min() >= 0.05 and hi.score.min() >= 0.9
    sel = lo.score >= 0.9
    np.testing.assert_array_equal(hi.centre, lo.centre[sel])
    np.testing.assert_array_equal(hi.score, lo.score[sel])
    for p in (lo, hi):
        assert p.score_threshold in (0.05, 0.9) and p.noise == noise
    strong = TRUTH[TRUTH[:, 2] >= 30]
    for cy, cx, *_ in strong:        # every strong true peak within a point, at both floors
        for p in (lo, hi):
            assert np.min(np.hypot(p.centre[:, 0] - cy, p.centre[:, 1] - cx)) < 1.0, (cy, cx)
    # concurrent callers with different floors get what each gets alone
    with ThreadPoolExecutor(2) as ex:
        a, b = ex.map(lambda s: picker.detect(data, noise, 3 * noise, score_threshold=s,
                                              rules=False),
                      (0.05, 0.9))
    np.testing.assert_array_equal(a.centre, lo.centre)
    np.testing.assert_array_equal(b.centre, hi.centre)
    assert _network_settings(picker) == before


def test_peaks_table_and_selection():
    data = gaussian_spectrum((64, 96), np.array([(20.0, 30.0, 80.0, 3.0, 3.0),
                                                 (40.0, 70.0, -50.0, 3.0, 4.0)]), seed=4)
    found = find_peaks(data, method="nmrglue", nthres=-10.0)
    assert isinstance(found, Peaks) and len(found) == 2 and found.method == "nmrglue"
    assert sorted(found.sign) == [-1, 1] and found.noise == pytest.approx(1.0, rel=0.2)
    assert found.pthres == pytest.approx(8 * found.noise) and found.nthres == -10.0
    from conftest import make_udic
    import nmrglue as ng
    uc = [ng.fileiobase.uc_from_udic(make_udic(data.shape), i) for i in range(2)]
    t = found.to_table(uc)
    assert t.dtype == PEAK_DTYPE and list(t.HEIGHT) == list(found.height)
    np.testing.assert_allclose(t.Y_PPM, uc[0].ppm(found.centre[:, 0]))
    again = nmrpick_ml.pick({}, data, uc, method="nmrglue", nthres=-10.0)
    for name in PEAK_DTYPE.names:     # field by field: J_HZ is NaN (no multiplet), NaN == NaN here
        np.testing.assert_array_equal(again[name], t[name])
    neg = found.select(found.sign < 0)
    assert len(neg) == 1 and neg.noise == found.noise and neg.height[0] < 0


def test_config_is_validated_at_load(tmp_path):
    from nmrpick_ml.picker import validate_config
    assert validate_config({})["overlap"] == nmrpick_ml.tiling.DEFAULT_OVERLAP
    for bad in ({"tile": 4}, {"tile": 128, "overlap": 128}, {"score_thresh": 1.5},
                {"calibration": {"raw": [0, 1], "calibrated": [1, 0]}}, {"arch": [1]},
                {"linewidths": {"low": 3, "high": 16, "target": 2}}, {"linewidths": [0, 24, 4]}):
        with pytest.raises(nmrpick_ml.ModelIntegrityError, match="config.json"):
            validate_config(bad)


def _count_noise_estimates(monkeypatch):
    """Wrap the one noise estimator wherever the package bound it; count the calls."""
    from nmrpick_ml import _noise
    real, calls = _noise.estimate_noise, []

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)
    for name, mod in list(sys.modules.items()):
        if name.startswith("nmrpick_ml") and getattr(mod, "estimate_noise", None) is real:
            monkeypatch.setattr(mod, "estimate_noise", counted)
    return calls


@pytest.mark.parametrize("method", ["maskrcnn", "nmrglue"])
def test_cli_estimates_the_noise_once_per_spectrum(shipped_model, tmp_path, monkeypatch, method):
    import nmrpick_ml.cli  # noqa: F401  (import everything the command imports first)
    import nmrpick_ml.io, nmrpick_ml.picking, nmrpick_ml.resample, nmrpick_ml.normalise  # noqa: E401,F401
    paths = [write_pipe(tmp_path / f"s{i}.ft2", gaussian_spectrum((128, 256), TRUTH, seed=i))
             for i in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    calls = _count_noise_estimates(monkeypatch)
    r = CliRunner().invoke(nmrpick_ml.cli.main, [str(p) for p in paths]
                           + ["-o", str(out), "--method", method, "--negative"])
    assert r.exit_code == 0, r.output
    assert len(calls) == 2                      # two spectra, one estimate each
    assert sorted(p.name for p in out.iterdir()) == ["s0.tab", "s1.tab"]
