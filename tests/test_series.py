"""Pseudo-3D series (nmrpick_ml.series): shared shapes, one height per plane, decays."""


import numpy as np
import pytest

from conftest import REALDATA, make_udic, write_pipe
from nmrpick_ml import NmrpickError
from nmrpick_ml.fit import profile
from nmrpick_ml.series import (LONG_COLUMNS, fit_decay, pick_series, read_delays, read_series,
                               simulate_series)

T1 = REALDATA / "fitnmr_t1_miniprotein_15N_hsqc"


def _pair_series(seed=0, second=(26.0, 32.4)):
    """Two overlapping peaks (0.8 FWHH apart, or the second at ``second``) with different
    rates, 8 planes."""
    rng = np.random.default_rng(seed)
    t = np.array([0.01, 0.03, 0.05, 0.08, 0.12, 0.16, 0.22, 0.30])
    y, x = np.mgrid[0:48, 0:64]
    shape = [(24.0, 30.0, 3.0, 4.0, 400.0, 8.0), (*second, 3.0, 4.0, 300.0, 20.0)]
    planes = np.stack([sum(a * np.exp(-r * tq) * profile(y, cy, wy, 0.5) * profile(x, cx, wx, 0.5)
                           for cy, cx, wy, wx, a, r in shape) + rng.normal(0, 1, y.shape)
                       for tq in t])
    peaks = {"Y_AXIS": np.array([24.3, 25.8]), "X_AXIS": np.array([30.2, 32.0]),
             "Y_LW": np.array([3.2, 3.2]), "X_LW": np.array([3.6, 3.6])}
    return planes, t, shape, peaks


def test_overlapping_pair_keeps_its_own_decays():
    planes, t, shape, peaks = _pair_series()
    res = pick_series(planes, peaks=peaks, delays=t, decay="exp")
    assert list(res.long.columns[:len(LONG_COLUMNS)]) == list(LONG_COLUMNS)
    assert len(res.long) == 2 * len(t) and res.long.PLANE.tolist()[:8] == list(range(8))
    r = res.decay.sort_values("INDEX").R.to_numpy()
    assert r[0] == pytest.approx(8.0, rel=0.05) and r[1] == pytest.approx(20.0, rel=0.05)
    h = res.long[res.long.INDEX == 1].HEIGHT.to_numpy()
    assert np.allclose(h, 400 * np.exp(-8 * t), rtol=0.03)
    assert (res.wide.Z_A0 == 1).all() and res.wide.columns.tolist()[-5:] == [
        "I0", "I0_ERR", "R", "R_ERR", "DECAY_CHI2"]


def test_pair_picked_as_one_found_on_the_reference_keeps_its_decays():
    """A pair 0.6 FWHH apart with one pick for the two: the reference (sum) fit finds the
    second (the residual search, or the blend split where no residual maximum stands out),
    and every plane fits both, each with its own decay."""
    planes, t, shape, _ = _pair_series(1, second=(25.2, 31.6))
    one = {"Y_AXIS": np.array([24.6]), "X_AXIS": np.array([30.8]), "Y_LW": np.array([3.6]),
           "X_LW": np.array([4.8])}
    res = pick_series(planes, peaks=one, delays=t, decay="exp")
    assert res.info["n_peaks"] == 2 and res.reference.FIT_ADDED.tolist() == [0, 1]
    w = res.wide
    order = [int(np.argmin((w.Y_AXIS - cy) ** 2 + (w.X_AXIS - cx) ** 2)) for cy, cx, *_ in shape]
    assert sorted(order) == [0, 1]
    r = res.decay.R.to_numpy()[order]
    assert r[0] == pytest.approx(8.0, rel=0.08) and r[1] == pytest.approx(20.0, rel=0.08)


def test_synthetic_series_rates_and_calibrated_errors():
    planes, tr = simulate_series((128, 256), 24, seed=3)
    rng = np.random.default_rng(0)
    ok = tr["amp"] * np.exp(-tr["rate"] * tr["delays"][0]) >= 10
    start = tr["centre"][ok] + rng.normal(0, 0.2, (ok.sum(), 2))       # picks 0.2 point off
    peaks = {"Y_AXIS": start[:, 0], "X_AXIS": start[:, 1], "Y_LW": tr["fwhh"][ok, 0] * 1.1,
             "X_LW": tr["fwhh"][ok, 1] * 0.9}
    res = pick_series(planes, peaks=peaks, delays=tr["delays"], decay="exp")
    from nmrpick_ml import metrics
    w = res.wide
    m = metrics.match_peaks(np.column_stack([w.Y_AXIS, w.X_AXIS]), tr["centre"], tr["fwhh"])
    pi, tj = m.pairs[:, 0], m.pairs[:, 1]
    strong = tr["amp"][tj] * np.exp(-tr["rate"][tj] * tr["delays"][0]) >= 50
    assert strong.sum() >= 8
    rel = np.abs(w.R.to_numpy()[pi] - tr["rate"][tj]) / tr["rate"][tj]
    assert np.median(rel[strong]) < 0.05
    z = np.abs(w.R.to_numpy()[pi] - tr["rate"][tj]) / w.R_ERR.to_numpy()[pi]
    assert 0.3 <= np.mean(z <= 1) <= 0.95


def test_lineshape_misfit_moves_heights_together_and_leaves_r_errors_calibrated():
    """A Gaussian model on pseudo-Voigt peaks (300 sigma): the misfit, many noise variances,
    grows with each plane's height and is the same pattern in every plane. It biases the
    heights by one fraction (an error of I0), so R's errors stay those of the noise: the
    z-scores of R over 4 noise draws of 6 peaks have a spread near 1 (scaling every
    plane's errors by the cluster's chi-square, as before, gave 0.36)."""
    from nmrpick_ml.synth import correlated_noise
    rng = np.random.default_rng(5)
    t = np.array([0.01, 0.03, 0.05, 0.08, 0.12, 0.16, 0.22, 0.30])
    cen = np.array([[20.0 + 60 * (i // 3), 25.0 + 80 * (i % 3)] for i in range(6)])
    y, x = np.arange(96.0), np.arange(224.0)
    py, px = profile(y[None], cen[:, :1], 3.0, 0.5), profile(x[None], cen[:, 1:], 4.0, 0.3)
    peaks = {"Y_AXIS": cen[:, 0] + 0.2, "X_AXIS": cen[:, 1] - 0.2, "Y_LW": np.full(6, 3.3),
             "X_LW": np.full(6, 3.6)}
    z, corr, chi2 = [], [], []
    for _ in range(4):
        rate = rng.uniform(5, 25, 6)
        planes = np.stack([(py * (300.0 * np.exp(-rate * tq))[:, None]).T @ px
                           + correlated_noise(rng, (96, 224), [0.3, 0.3]) for tq in t])
        res = pick_series(planes, peaks=peaks, delays=t, decay="exp", shape="gaussian")
        d = res.decay
        z += list((d.R.to_numpy() - rate) / d.R_ERR.to_numpy())
        chi2 += list(res.wide.CHI2_RED)
        h = res.long.HEIGHT.to_numpy().reshape(6, 8)
        he = res.long.HEIGHT_ERR.to_numpy().reshape(6, 8)
        assert np.all(h[:, 0] < 300.0 * np.exp(-rate * t[0]))        # the misfit's bias: low
        assert np.all(he[:, 0] > he[:, -1])             # the misfit in the strong planes only
    assert np.median(chi2) > 3
    assert 0.7 <= np.std(z) <= 1.35


def test_free_positions_follow_a_titration():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:40, 0:48]
    shifts = [0.0, 0.8, 1.6, 2.4]
    planes = np.stack([200 * profile(y, 20.0, 3.0, 0.5) * profile(x, 20.0 + s, 3.5, 0.5)
                       + rng.normal(0, 1, y.shape) for s in shifts])
    res = pick_series(planes, reference="first", free_positions=True,
                      peaks={"Y_AXIS": [20.0], "X_AXIS": [20.0], "Y_LW": [3.0], "X_LW": [3.5]})
    assert np.allclose(res.long.X_AXIS.to_numpy(), 20.0 + np.array(shifts), atol=0.05)
    shared = pick_series(planes, reference="first",
                         peaks={"Y_AXIS": [20.0], "X_AXIS": [20.0], "Y_LW": [3.0], "X_LW": [3.5]})
    assert np.ptp(shared.long.X_AXIS.to_numpy()) == 0


def test_decay_fit_and_delay_lists(tmp_path):
    t = np.array([0.0, 0.05, 0.1, 0.2, 0.4])
    d = fit_decay(t, [50 * np.exp(-3 * t)], [np.full(5, 0.1)])
    assert d.R[0] == pytest.approx(3.0, abs=1e-6) and d.R_ERR[0] > 0
    f = tmp_path / "vdlist"
    f.write_text("10m\n20m\n# comment\n0.5\n\n2u\n")
    assert np.allclose(read_delays(f), [0.01, 0.02, 0.5, 2e-6])
    (tmp_path / "bad").write_text("ten\n")
    with pytest.raises(NmrpickError, match="not a number"):
        read_delays(tmp_path / "bad")
    with pytest.raises(NmrpickError, match="delays"):
        pick_series(np.zeros((3, 8, 8)), delays=[1, 2], decay="exp")
    with pytest.raises(NmrpickError, match="two or more"):
        pick_series(np.zeros((1, 8, 8)))


def test_read_series_pseudo3d_and_2d_files(tmp_path):
    import nmrglue as ng
    planes, _ = simulate_series((32, 48), 3, seed=1)
    planes = planes.astype(np.float32)
    got = read_series(write_pipe(tmp_path / "series.ft2", planes))          # NMRPipe 3-D stream
    assert len(got) == len(planes) and np.allclose(got[2].data, planes[2])
    ucsf = tmp_path / "series.ucsf"
    ng.sparky.write(str(ucsf), ng.sparky.create_dic(make_udic(planes.shape)), planes)
    assert len(read_series(ucsf)) == len(planes)                            # UCSF 3-D
    files = [write_pipe(tmp_path / f"p{i}.ft2", p) for i, p in enumerate(planes)]
    assert np.allclose(read_series(files)[1].data, planes[1])              # 2-D files in order
    with pytest.raises(NmrpickError, match="2-D spectrum; a series needs"):
        read_series(files[0])
    with pytest.raises(NmrpickError, match="one shape"):
        read_series([files[0], write_pipe(tmp_path / "small.ft2", planes[0][:16])])


@pytest.mark.skipif(not T1.is_dir(), reason="shared real data not present")
def test_real_t1_two_planes_agree_with_per_plane_fits():
    from nmrpick_ml.fit import fit_peaks
    spectra = read_series([T1 / "1.ft2", T1 / "2.ft2"])
    res = pick_series(spectra, method="nmrglue", snr=20)
    k = res.info["n_peaks"]
    assert k >= 5 and len(res.long) == 2 * k
    ref = res.reference
    for q, spec in enumerate(spectra):
        single = fit_peaks(spec.data, np.column_stack([ref.Y_AXIS, ref.X_AXIS]),
                           np.column_stack([ref.Y_LW, ref.X_LW]), cluster=ref.cID,
                           residual_search=False)
        lq = res.long[res.long.PLANE == q].sort_values("INDEX")
        e = np.hypot(lq.HEIGHT_ERR.to_numpy(), single.height_err)
        assert np.mean(np.abs(lq.HEIGHT.to_numpy() - single.height) <= e) >= 0.8


def test_series_command_writes_long_wide_and_plots(tmp_path):
    from click.testing import CliRunner
    from nmrpick_ml.cli import main
    import pandas as pd
    planes, tr = simulate_series((64, 128), 6, seed=2)
    path = write_pipe(tmp_path / "t2.ft2", planes.astype(np.float32))
    (tmp_path / "vdlist").write_text("\n".join(f"{t * 1000:g}m" for t in tr["delays"]) + "\n")
    out, wide, plots = tmp_path / "s.csv", tmp_path / "w.tab", tmp_path / "plots"

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])
    r = run("series", path, "-o", out, "--wide", wide, "--delays", tmp_path / "vdlist", "--decay",
            "exp", "--method", "nmrglue", "--snr", "15", "--plot-series", plots)
    assert r.exit_code == 0, r.output
    long = pd.read_csv(out)
    assert list(long.columns[:10]) == list(LONG_COLUMNS) and set(long.PLANE) == set(range(8))
    k = long.INDEX.nunique()
    assert k >= 1 and len(long) == 8 * k
    text = wide.read_text()
    assert "VARS   INDEX X_PPM" in text and " R R_ERR " in text
    assert len(list(plots.glob("peak_*.png"))) == k
    # bad input: one Error line, exit 2, nothing written
    bad = tmp_path / "s.tab"
    r = run("series", path, "-o", bad, "--method", "nmrglue")
    assert r.exit_code == 2 and "Error:" in r.output and not bad.exists()
    r = run("series", write_pipe(tmp_path / "one.ft2", planes[0].astype(np.float32)), "-o",
            tmp_path / "x.csv", "--method", "nmrglue")
    assert r.exit_code == 2 and "a series needs" in r.output and not (tmp_path / "x.csv").exists()
