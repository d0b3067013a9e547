"""The processed recipe: acquisition and processing simulated as NMRPipe does it.

Exactness against closed forms that do not use the simulator's own code: the
FFT of the windowed, zero-filled FID; the analytic FWHH of an exponentially
processed Lorentzian; the sinc sidelobes of a truncated line; the noise
correlation that the window predicts; ppm through nmrglue's unit conversion.
"""

import dataclasses
import json

import nmrglue as ng
import numpy as np
import pandas as pd
import pytest

from nmrpick_ml import processing as P
from nmrpick_ml import synth

CLEAN = dataclasses.replace(
    synth.PROCESSED, p_empty=0.0, p_noise_free=1.0, p_t1=0.0, p_sidebands=0.0, p_water=0.0,
    p_baseline=0.0, p_wrong_c0=0.0, phase_deg=0.0, p_strong=0.0, p_negative_spectrum=0.0,
    p_multiplet=0.0, scale_decades=(0.0, 0.0), border=0.0)


def _fid_spectrum(ax, nu, r2):
    """The reference: window x FID, first point scaled, zero-filled FFT, phased real part."""
    n = np.arange(ax.n_acq)
    w = P.window_array(ax).copy()
    w[0] *= ax.c0
    fid = w * np.exp(-r2 * n * ax.dt + 2j * np.pi * nu * n / ax.size)
    return (np.exp(1j * ax.phase) * np.fft.fft(fid, n=ax.size)).real


@pytest.mark.parametrize("window", [P.Window("none"), P.Window("em", lb=4.0),
                                    P.Window("sp", off=0.35, end=0.98, power=1.0),
                                    P.Window("sp", off=0.5, end=1.0, power=2.0),
                                    P.Window("gm", lb=3.0, gb=9.0),
                                    # a Gaussian that decays to 1e-16 within the acquisition (its
                                    # Fourier-series terms), and one centred before t = 0
                                    P.Window("gm", lb=20.0, gb=120.0), P.Window("gm", lb=-15.0, gb=60.0)])
def test_closed_form_equals_fft_of_the_processed_fid(window):
    ax = P.Axis(n_acq=257, sw=4000.0, size=1024, window=window, c0=0.5, phase=0.04)
    ref = _fid_spectrum(ax, 300.37, 25.0)
    got = P.line_profile(ax, np.arange(ax.size) - 300.37, 25.0)
    np.testing.assert_allclose(got, ref, atol=1e-9 * np.abs(ref).max())


def test_exponential_lorentzian_has_the_analytic_fwhh():
    # a fully decayed FID (no truncation): FWHH = R2 / pi + LB in Hz
    for r2, lb in [(20.0, 3.0), (60.0, 1.0), (8.0, 10.0)]:
        ax = P.Axis(n_acq=8192, sw=5000.0, size=32768, window=P.Window("em", lb=lb))
        prof = P.line_profile(ax, np.arange(-400, 400) + 0.0, r2)
        h = prof.max()
        above = np.nonzero(prof >= h / 2)[0]
        i0, i1 = above[0], above[-1]
        # linear interpolation of the two crossings on the grid
        left = i0 - (prof[i0] - h / 2) / (prof[i0] - prof[i0 - 1])
        right = i1 + (prof[i1] - h / 2) / (prof[i1] - prof[i1 + 1])
        fwhh_hz = (right - left) * ax.hz_per_point
        assert fwhh_hz == pytest.approx(r2 / np.pi + lb, rel=0.02)
        lo, hi = P.half_widths(ax, [r2])
        assert (lo[0] + hi[0]) * ax.hz_per_point == pytest.approx(r2 / np.pi + lb, rel=0.005)


def test_truncated_unapodised_line_has_sinc_sidelobes():
    # no window, no decay, 64 points zero-filled 16x: the real part of the FT of a
    # one-sided boxcar of length AQ is AQ sinc(2 f AQ), whose lobes sit at the sinc's
    # extrema: -0.217 at 2 f AQ = 1.430 and +0.128 at 2.459
    n, zf = 64, 16
    ax = P.Axis(n_acq=n, sw=1000.0, size=n * zf, window=P.Window("none"), c0=0.5)
    d = np.linspace(0, 4 * zf, 40001)
    prof = P.line_profile(ax, d, 1e-6)
    prof /= prof[0]
    # the discrete boxcar with a halved first point spans (n - 1/2) dwell times
    units = 2 * d * (n - 0.5) / ax.size  # offsets in units of 1/(2 AQ)
    first = np.argmin(np.where(units < 2, prof, np.inf))
    assert units[first] == pytest.approx(1.4303, abs=0.005)
    assert prof[first] == pytest.approx(-0.2172, abs=0.01)
    second = np.argmax(np.where((units > 2) & (units < 3), prof, -np.inf))
    assert units[second] == pytest.approx(2.4590, abs=0.005)
    assert prof[second] == pytest.approx(0.1284, abs=0.01)
    # and the simulator puts them in the spectrum: a lone peak's column
    rng = np.random.default_rng(0)
    s = synth.make_spectrum((128, 128), CLEAN, rng=rng, n_peaks=1)
    ax0 = s.meta["axes"][0]
    assert s.data.shape == (128, 128)
    assert ax0["window"] in P.WINDOWS


@pytest.mark.parametrize("window", [P.Window("sp", off=0.4, end=0.99, power=2.0),
                                    P.Window("em", lb=8.0), P.Window("none")])
def test_processed_noise_has_the_correlation_the_window_predicts(window):
    ax0 = P.Axis(n_acq=100, sw=2000.0, size=512, window=window)
    ax1 = P.Axis(n_acq=600, sw=8000.0, size=2048, window=P.Window("sp", off=0.5, power=2.0))
    rng = np.random.default_rng(1)
    acc = np.zeros(5)
    for _ in range(12):
        z = P.processed_noise(rng, (256, 256), (ax0, ax1))
        v = np.mean(z * z)
        acc += [v, np.mean(z[1:] * z[:-1]) / v, np.mean(z[2:] * z[:-2]) / v,
                np.mean(z[:, 1:] * z[:, :-1]) / v, np.mean(z[1:, 1:] * z[:-1, :-1]) / v]
    acc /= 12
    pred0 = P.noise_autocorrelation(ax0, [1, 2])
    pred1 = P.noise_autocorrelation(ax1, [1])[0]
    assert acc[0] == pytest.approx(1.0, abs=0.05)          # unit variance
    assert acc[1] == pytest.approx(pred0[0], abs=0.03)
    assert acc[2] == pytest.approx(pred0[1], abs=0.03)
    assert acc[3] == pytest.approx(pred1, abs=0.03)
    # States processing: the correlation is separable across the axes, as in real spectra
    assert acc[4] == pytest.approx(pred0[0] * pred1, abs=0.03)


def test_realism_noise_correlation_does_not_depend_on_the_noise_estimate():
    # the realism figure is scaled by the quiet points' own rms: a noise estimate
    # 0.7x too low (as estimate_noise reads strongly correlated noise) leaves it
    # at the window's prediction
    from nmrpick_ml._realism import measure
    ax0 = P.Axis(n_acq=100, sw=2000.0, size=400, window=P.Window("sp", off=0.45, power=2.0))
    ax1 = P.Axis(n_acq=200, sw=8000.0, size=400, window=P.Window("sp", off=0.0, power=1.0))
    z = P.processed_noise(np.random.default_rng(2), (256, 256), (ax0, ax1))
    pred0, pred1 = P.noise_autocorrelation(ax0, [1, 2]), P.noise_autocorrelation(ax1, [1, 2])
    for scale in (1.0, 0.7):
        m = measure(z, noise=scale)
        assert m["noise_corr0"] == pytest.approx(pred0[0], abs=0.05)
        assert m["noise_corr0_2"] == pytest.approx(pred0[1], abs=0.05)
        assert m["noise_corr1"] == pytest.approx(pred1[0], abs=0.05)
        assert m["noise_corr1_2"] == pytest.approx(pred1[1], abs=0.05)


def _axis_from_meta(m):
    w = P.Window(m["window"], off=m["off"], end=m["end"], power=m["power"], lb=m["lb"], gb=m["gb"])
    return P.Axis(n_acq=m["n_acq"], sw=m["sw_hz"], size=m["size"], window=w, c0=m["c0"],
                  phase=np.deg2rad(m["phase_deg"]))


def test_a_single_peak_lands_at_its_chemical_shift(tmp_path):
    # no phase error: the row and column through a lone peak are the FFT of its
    # processed FID (computed here independently), and that FID's spectrum,
    # zero-filled 64x further, peaks at the true centre within 0.01 point; the
    # truth's ppm is nmrglue's ppm of that centre in the written file
    for seed in range(3):
        s = synth.simulate((128, 256), n_peaks=1, seed=seed, recipe=CLEAN, crowded=False, noise=False)
        cy, cx = s.centre[0]
        iy, ix = int(round(cy)), int(round(cx))
        for a, (nu, line) in enumerate([(cy, s.data[:, ix]), (cx, s.data[iy, :])]):
            ax = _axis_from_meta(s.meta["axes"][a])
            r2 = s.meta["r2"][0, a]
            ref = _fid_spectrum(ax, nu, r2)[: len(line)]
            scale = np.dot(ref, line) / np.dot(ref, ref)
            np.testing.assert_allclose(line, scale * ref, atol=2e-6 * np.abs(line).max())
            fine = _fid_spectrum(dataclasses.replace(ax, size=ax.size * 64), nu * 64, r2)
            i = int(np.argmax(fine))
            ym, y0, yp = fine[i - 1], fine[i], fine[i + 1]
            apex = (i + 0.5 * (ym - yp) / (ym - 2 * y0 + yp)) / 64
            assert apex == pytest.approx(nu, abs=0.01)
        path = tmp_path / f"one{seed}.ft2"
        synth.write_spectrum(path, s)
        dic, data = ng.pipe.read(str(path))
        uc = [ng.pipe.make_uc(dic, data, dim=i) for i in range(2)]
        truth = pd.read_csv(tmp_path / f"one{seed}_peaks.csv")
        for a, col in enumerate(("Y_PPM", "X_PPM")):
            step = abs(uc[a].ppm(1) - uc[a].ppm(0))
            assert uc[a].ppm(s.centre[0, a]) == pytest.approx(truth[col][0], abs=1e-3 * step)
            # and the data's maximum sits on that ppm (within the point it falls in)
            assert abs(uc[a].ppm(np.unravel_index(np.argmax(data), data.shape)[a]) - truth[col][0]) <= step


def test_masks_are_the_half_height_region_of_each_peak_alone():
    rng = np.random.default_rng(3)
    for i in range(30):
        s = synth.make_spectrum((128, 128), CLEAN, rng=rng, n_peaks=1)
        if not len(s.amp) or not s.masks[0].any():
            continue
        # noise-free, one peak: its mask is where the data reach half its height
        half = s.data >= 0.5 * s.amp[0]
        assert np.sum(half != s.masks[0]) <= 2          # float32 rounding on the edge


def test_multiplet_is_one_instance_centred_on_the_shift():
    r = dataclasses.replace(CLEAN, p_small=1.0, p_multiplet=1.0)
    rng = np.random.default_rng(7)
    seen = set()
    for _ in range(60):
        s = synth.make_spectrum((128, 128), r, rng=rng, n_peaks=1)
        m = s.meta["multiplet"][0]
        seen.add(m)
        n_lines = {"s": 1, "d": 2, "t": 3, "q": 4, "dd": 4}[m]
        assert s.meta["n_lines"][0] == n_lines
        if not s.masks[0].any():
            continue
        ys, xs = np.nonzero(s.masks[0])
        half = s.fwhh[0, 1] / 2
        if s.centre[0, 1] - half < 1 or s.centre[0, 1] + half > 126:
            continue                                  # cut by the border
        # the instance's box is symmetric about the chemical shift (within a point)
        assert abs((xs.min() + xs.max()) / 2 - s.centre[0, 1]) <= 1.0
        assert s.fwhh[0, 1] >= s.meta["line_fwhh"][0, 1]
    assert {"d", "t", "q", "dd"} <= seen


def test_targets_exclude_artefacts_and_weak_or_negative_peaks():
    rng = np.random.default_rng(11)
    for _ in range(40):
        s = synth.make_spectrum((128, 128), synth.PROCESSED, rng=rng)
        if not len(s.amp):
            continue
        t = s.target
        assert np.all(s.amp[t] > 0)
        if s.noise > 0:
            assert np.all(s.snr[t] >= synth.PROCESSED.target_snr)
        # only peaks are instances: sidebands and water are in the data, never in the list
        assert set(s.meta["kind"]) <= {"peak", "solvent"}


def test_processed_recipe_is_deterministic():
    a = synth.make_tiles(5, seed=4, recipe=synth.PROCESSED)
    b = synth.make_tiles(5, seed=4, recipe=synth.PROCESSED)
    assert synth.checksum(a) == synth.checksum(b)
    c = synth.make_tiles(5, seed=5, recipe=synth.PROCESSED)
    assert synth.checksum(a) != synth.checksum(c)


def test_simulate_cli_writes_processed_spectrum_truth_and_processing(tmp_path):
    from click.testing import CliRunner

    from nmrpick_ml.cli import main
    out = tmp_path / "p.ft2"
    res = CliRunner().invoke(main, ["simulate", str(out), "--recipe", "processed", "--size",
                                    "128x256", "--peaks", "30", "--seed", "2"])
    assert res.exit_code == 0, res.output
    dic, data = ng.pipe.read(str(out))
    assert data.shape == (128, 256)
    truth = pd.read_csv(tmp_path / "p_peaks.csv")
    for col in ("Y_PPM", "X_PPM", "Y_LW", "X_LW", "HEIGHT", "SNR", "MULTIPLET", "N_LINES",
                "J1_HZ", "KIND", "RESOLVED", "TARGET"):
        assert col in truth.columns
    assert len(truth) == 30
    proc = json.loads((tmp_path / "p_processing.json").read_text())
    assert [a["nucleus"] for a in proc["axes"]][1] == "1H"
    assert proc["axes"][0]["window"] in P.WINDOWS
    # the file's ppm axis is the truth's: the strongest true peak is a maximum of the data
    i = int(np.argmax(truth.HEIGHT))
    y, x = int(round(truth.Y_AXIS[i])), int(round(truth.X_AXIS[i]))
    win = data[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3]
    assert data.max() == pytest.approx(win.max()) or win.max() > 0.5 * truth.HEIGHT[i]
