"""Regions (--region, --exclude, pick(region=, exclude=)) and negative peaks:
what is picked inside a region is what the whole spectrum gives there, the
noise is the whole spectrum's, and --negative leaves the positive picks alone."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import TRUTH, gaussian_spectrum, write_pipe
from nmrpick_ml import NmrpickError, pick, read_spectrum
from nmrpick_ml._negative import count_negative_peaks
from nmrpick_ml.cli import main
from nmrpick_ml.region import parse_region, resolve_regions

LABELS = ("15N", "1H")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("text, expected", [
    ("6.5:10.5,100:135", ((100.0, 135.0), (6.5, 10.5))),          # X (1H) then Y (15N)
    ("10.5:6.5, 135:100", ((100.0, 135.0), (6.5, 10.5))),         # either order of the ends
    ("1H=6.5:10.5,15N=100:135", ((100.0, 135.0), (6.5, 10.5))),
    ("N15=100:135,HN=6.5:10.5", ((100.0, 135.0), (6.5, 10.5))),
    ("Y=100:135", ((100.0, 135.0), None)),
    ("H=4.6:4.8", (None, (4.6, 4.8))),
])
def test_region_forms(text, expected):
    assert parse_region(text, LABELS) == expected


@pytest.mark.parametrize("text, match", [
    ("6.5:10.5", "must be X_LOW:X_HIGH,Y_LOW:Y_HIGH"),
    ("1H=6.5:10.5,100:135", "mixes named and unnamed"),
    ("13C=10:20", "no axis named '13C'"),
    ("1H=a:b", "not a ppm range"),
    ("1H=5:5", "empty"),
    ("1H=5:6,H1=7:8", "given twice"),
])
def test_region_errors(text, match):
    with pytest.raises(NmrpickError, match=match):
        parse_region(text, LABELS)


def test_homonuclear_names_are_ambiguous():
    with pytest.raises(NmrpickError, match="both axes are 1H"):
        parse_region("1H=1:2", ("1H", "1H"))
    assert parse_region("X=1:2,Y=3:4", ("1H", "1H")) == ((3.0, 4.0), (1.0, 2.0))


@pytest.fixture
def spectrum(tmp_path):
    return read_spectrum(write_pipe(tmp_path / "s.ft2", gaussian_spectrum()))


def _ppm_box(spec, y, x):
    """A region text around points y0..y1, x0..x1 (X first)."""
    yp = spec.uc[0].ppm(np.array(y, float))
    xp = spec.uc[1].ppm(np.array(x, float))
    return f"{xp[0]:.5f}:{xp[1]:.5f},{yp[0]:.5f}:{yp[1]:.5f}"


@pytest.mark.parametrize("method", ["nmrglue", "maskrcnn"])
def test_pick_in_a_region_is_the_whole_picks_there(spectrum, method, shipped_model):
    s = spectrum
    kw = dict(method=method, model=shipped_model) if method == "maskrcnn" else dict(method=method)
    whole = pick(s.dic, s.data, s.uc, **kw)
    region = _ppm_box(s, (10, 80), (30, 210))              # holds truth rows 0, 1, 2
    part = pick(s.dic, s.data, s.uc, region=region, **kw)
    inside = (whole.Y_AXIS >= 10) & (whole.Y_AXIS <= 80) & (whole.X_AXIS >= 30) & \
        (whole.X_AXIS <= 210)
    assert len(part) == inside.sum() >= 3
    np.testing.assert_allclose(part.Y_AXIS, whole.Y_AXIS[inside])
    np.testing.assert_allclose(part.X_AXIS, whole.X_AXIS[inside])
    np.testing.assert_allclose(part.HEIGHT, whole.HEIGHT[inside])
    np.testing.assert_allclose(part.SCORE, whole.SCORE[inside])
    # exclude a 1H band through truth row 1 (x = 120.2): that peak goes, the others stay
    band = s.uc[1].ppm(np.array([115.0, 125.0]))
    cut = pick(s.dic, s.data, s.uc, region=region, exclude=[f"1H={band[0]}:{band[1]}"], **kw)
    assert len(cut) == len(part) - 1 and not np.any(np.abs(cut.X_AXIS - 120.2) < 2)


def test_cli_region_exclude_plot_and_noise(spectrum, tmp_path):
    s = spectrum
    region = _ppm_box(s, (10, 80), (30, 210))
    js_all, js_reg = tmp_path / "a.json", tmp_path / "r.json"
    r = run(s.path, "-o", tmp_path / "a.tab", "--method", "nmrglue", "--json-summary", js_all)
    assert r.exit_code == 0, r.output
    png = tmp_path / "r.png"
    r = run(s.path, "-o", tmp_path / "r.tab", "--method", "nmrglue", "--region", region,
            "--exclude", "1H=-50:-40", "--json-summary", js_reg, "--plot", png)
    assert r.exit_code == 0, r.output
    a, b = json.loads(js_all.read_text()), json.loads(js_reg.read_text())
    assert b["noise"] == a["noise"] and b["threshold"] == a["threshold"]   # whole-spectrum noise
    assert 3 <= b["n_peaks"] < a["n_peaks"]
    tab = np.loadtxt(tmp_path / "r.tab", comments=("VARS", "FORMAT", "REMARK", "DATA",
                                                  "NULL"), ndmin=2)
    assert np.all((tab[:, 2] >= 11) & (tab[:, 2] <= 81))      # Y_AXIS, 1-based


def test_cli_bad_region_is_one_error_line(spectrum, tmp_path):
    out = tmp_path / "p.tab"
    for bad, match in (("13C=1:2", "no axis named '13C'"), ("1H=50:60", "outside the spectrum")):
        r = run(spectrum.path, "-o", out, "--method", "nmrglue", "--region", bad)
        assert r.exit_code == 2, r.output
        (line,) = r.stderr.strip().splitlines()
        assert line.startswith("Error: ") and match in line and str(spectrum.path) in line
        assert not out.exists()


def _signed(seed=4):
    truth = TRUTH.copy()
    truth[[1, 3, 5], 2] *= -1                      # three negative peaks (60, 25, 45 sigma)
    return gaussian_spectrum(truth=truth, seed=seed)


def test_count_negative_peaks():
    data = _signed()
    assert count_negative_peaks(data, 1.0) == 3              # 60, 25 and 45 sigma deep
    assert count_negative_peaks(data, 1.0, snr=30) == 2
    assert count_negative_peaks(data, 1.0, box=((0, 50), (0, 255))) == 1
    assert count_negative_peaks(gaussian_spectrum(), 1.0) == 0


def test_cli_warns_about_unpicked_negative_peaks(tmp_path):
    path = write_pipe(tmp_path / "signed.ft2", _signed())
    js = tmp_path / "s.json"
    r = run(path, "-o", tmp_path / "p.tab", "--method", "nmrglue", "--json-summary", js)
    assert r.exit_code == 0
    assert f"Warning: {path}: 3 negative peaks above 20 x noise were not picked: pass " \
           "--negative" in r.stderr
    assert json.loads(js.read_text())["n_negative_unpicked"] == 3
    r = run(path, "-o", tmp_path / "q.tab", "--method", "nmrglue", "--negative")
    assert r.exit_code == 0 and "negative peaks" not in r.stderr


def _narrow_signed(seed=6):
    """Narrow positive peaks and stronger, narrower negative ones: the typical
    linewidth (and so the resampling) differs when measured with the negatives."""
    rng = np.random.default_rng(seed)
    pos = [(20 + 22 * i, 30 + 50 * i, 100.0, 2.0, 2.0) for i in range(5)]
    neg = [(15 + 13 * i, 200 + 7 * (i % 5), -400.0, 1.2, 1.2) for i in range(8)]
    return gaussian_spectrum(truth=np.array(pos + neg), seed=seed)


@pytest.mark.parametrize("make", [_signed, _narrow_signed])
def test_negative_does_not_change_the_positive_picks(tmp_path, shipped_model, make):
    from nmrpick_ml.picking import noise_threshold
    s = read_spectrum(write_pipe(tmp_path / "signed.ft2", make()))
    noise, thr = noise_threshold(s.data, method="maskrcnn")
    pos = pick(s.dic, s.data, s.uc, model=shipped_model)
    both = pick(s.dic, s.data, s.uc, model=shipped_model, nthres=-thr)
    plus = both[both.HEIGHT > 0]
    assert len(both) > len(plus) >= 3
    np.testing.assert_allclose(plus.Y_AXIS, pos.Y_AXIS)
    np.testing.assert_allclose(plus.X_AXIS, pos.X_AXIS)
    np.testing.assert_allclose(plus.SCORE, pos.SCORE)
