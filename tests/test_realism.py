"""Tests of nmrpick_ml._realism: measure() recovers known linewidths, SNR and ridge."""

from pathlib import Path

import numpy as np
import pytest

from nmrpick_ml import _realism
from nmrpick_ml._realism import measure
from nmrpick_ml.synth import GAUSS, LORENTZ, VOIGT, lineshape

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def _known(seed=0, shape=(256, 256), fwhh=(3.0, 5.0), kinds=(GAUSS, LORENTZ, VOIGT),
           ridge=0.01, baseline=0.0):
    """Isolated peaks on a grid (sub-point centres), white noise 1, a t1 ridge of
    rms ``ridge`` x height in the column of the strongest peak (SNR 1000)."""
    rng = np.random.default_rng(seed)
    n0, n1 = shape
    y0 = np.arange(n0, dtype=float)[:, None]
    x0 = np.arange(n1, dtype=float)[None, :]
    data = rng.normal(0.0, 1.0, shape) + baseline
    heights = []
    k = 0
    for cy in range(24, n0 - 20, 40):
        for cx in range(24, n1 - 20, 40):
            c = (cy + rng.uniform(-0.5, 0.5), cx + rng.uniform(-0.5, 0.5))
            amp = 1000.0 if k == 0 else float(rng.uniform(250, 600))
            kind = kinds[k % len(kinds)]
            data += amp * lineshape(y0, c[0], fwhh[0], kind) * lineshape(x0, c[1], fwhh[1], kind)
            heights.append(amp)
            k += 1
    # ridge of the strongest peak (at ~ (24, 24)): along axis 0, across its x profile
    cx = 24.0
    prof = lineshape(x0, cx, fwhh[1], GAUSS)
    data += ridge * 1000.0 * rng.normal(0, 1, (n0, 1)) * prof
    return data, np.array(heights)


def test_measure_known_widths_snr_ridge():
    data, heights = _known()
    m = measure(data)
    assert m["noise"] == pytest.approx(1.0, rel=0.1)
    assert len(m["fwhh0"]) >= 15
    assert np.median(m["fwhh0"]) == pytest.approx(3.0, rel=0.10)
    assert np.median(m["fwhh1"]) == pytest.approx(5.0, rel=0.10)
    assert np.all(np.abs(m["fwhh0"] / 3.0 - 1) < 0.25)
    assert m["snr_max"] == pytest.approx(1000.0, rel=0.2)
    assert m["ridge"] == pytest.approx(0.01, rel=0.3)
    assert m["ridge_local"] == pytest.approx(0.01, rel=0.3)
    assert m["baseline_map_absmax"] < 1.0   # the plain median carries Lorentzian tails
    assert abs(m["noise_corr0"]) < 0.15 and abs(m["noise_corr1"]) < 0.15   # white noise
    # without the ridge (whose excursions are maxima above 10x noise too) and without
    # Lorentzian slopes (noise bumps on them are maxima too) the maxima are the peaks
    data, heights = _known(ridge=0.0, kinds=(GAUSS,))
    m = measure(data)
    assert m["n_maxima"] == len(heights)
    assert m["snr_p50"] == pytest.approx(np.median(heights), rel=0.2)
    assert m["ridge"] < 0.002


def test_measure_no_ridge_baseline_and_narrow_lines():
    data, _ = _known(seed=1, fwhh=(1.2, 1.6), kinds=(GAUSS,), ridge=0.0, baseline=2.0)
    m = measure(data)
    assert np.median(m["fwhh0"]) == pytest.approx(1.2, rel=0.10)
    assert np.median(m["fwhh1"]) == pytest.approx(1.6, rel=0.10)
    assert m["ridge"] < 0.002
    assert m["baseline_median"] == pytest.approx(2.0, abs=0.3)
    assert m["baseline_map_range"] < 1.5
    assert abs(m["noise_corr0"]) < 0.05 and abs(m["noise_corr1"]) < 0.05


def test_measure_correlated_noise():
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, (129, 128))
    data = (w[1:] + w[:-1]) / np.sqrt(2)          # lag-1 correlation 0.5 along axis 0
    m = measure(data)
    assert m["noise_corr0"] == pytest.approx(0.5, abs=0.15)
    assert abs(m["noise_corr1"]) < 0.1


def test_measure_empty_and_noise_free():
    m = measure(np.zeros((32, 32)))
    assert m["n_maxima"] == 0 and np.isnan(m["snr_max"])
    y = np.arange(64.0)[:, None]
    clean = 5.0 * lineshape(y, 30.0, 4.0, GAUSS) * lineshape(y.T, 20.0, 6.0, GAUSS)
    m = measure(clean)
    assert m["fwhh0"][0] == pytest.approx(4.0, rel=0.05)
    assert m["fwhh1"][0] == pytest.approx(6.0, rel=0.05)
    with pytest.raises(ValueError):
        measure(np.zeros(5))


@pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real spectra not available at {REALDATA}")
def test_measure_real_spectra_finite():
    n = 0
    for label, data in _realism.load_real(REALDATA):
        m = measure(data)
        n += 1
        assert data.ndim == 2, label
        assert m["noise"] > 0 and m["n_maxima"] > 0, label
        for k in ("snr_max", "snr_p5", "snr_p50", "snr_p95", "ridge", "baseline_median",
                  "baseline_map_range", "noise_corr0", "noise_corr1"):
            assert np.isfinite(m[k]), (label, k)
        assert len(m["fwhh0"]) and np.all(np.isfinite(m["fwhh0"])) and np.all(m["fwhh0"] > 0.3), label
        assert len(m["fwhh1"]) and np.all(np.isfinite(m["fwhh1"])) and np.all(m["fwhh1"] > 0.3), label
    assert n >= 4


def test_lag2_and_sidelobe_figures_on_known_inputs():
    from nmrpick_ml import processing as P
    from nmrpick_ml._realism import _lag, _lag1, _sidelobe
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, (256, 256))
    z = (z + np.roll(z, 1, axis=1)) / np.sqrt(2)         # lag-1 corr 0.5 along axis 1, 0 at lag 2
    quiet = np.ones_like(z, bool)
    assert _lag(z, quiet, 1, 1.0, 1) == pytest.approx(_lag1(z, quiet, 1, 1.0), abs=1e-12)
    assert _lag(z, quiet, 1, 1.0, 1) == pytest.approx(0.5, abs=0.05)
    assert _lag(z, quiet, 1, 1.0, 2) == pytest.approx(0.0, abs=0.05)
    assert _lag(z, quiet, 0, 1.0, 1) == pytest.approx(0.0, abs=0.05)
    # an unapodised truncated line: its first lobe is -0.217 of the peak
    ax = P.Axis(n_acq=32, sw=1000.0, size=256, window=P.Window("none"))
    prof = P.line_profile(ax, np.arange(256) - 100.0, 1e-6)
    lo, hi = P.half_widths(ax, [1e-6])
    assert _sidelobe(prof, 100, lo[0] + hi[0]) == pytest.approx(-0.217, abs=0.01)


def test_processed_realism_table_places_real_values_in_the_distribution(realdata):
    from nmrpick_ml._realism import PROCESSED_FIGURES, processed_realism_table
    text, inside = processed_realism_table(realdata, n=12, seed=3)
    assert "processed recipe, p50 (n=12)" in text
    keys = {k for _, k in inside}
    assert {k for _, k in PROCESSED_FIGURES} >= keys and "fwhh0" in keys
    assert all(isinstance(v, bool) for v in inside.values())
