"""Resampling (nmrpick_ml.resample): no maxima that the data do not have."""

import numpy as np

from nmrpick_ml import resample as rs


def sharp_spectrum(seed):
    """Lines a point or two wide (truncation-limited), with negative feet, and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:64]
    d = rng.normal(0, 1.0, (48, 64))
    for _ in range(6):
        cy, cx = rng.uniform(4, 44), rng.uniform(4, 60)
        a = rng.uniform(50, 3000)
        d += a * np.sinc((y - cy) / 1.2) * np.sinc((x - cx) / 1.1)
    return d


def test_spline_and_zero_fill_ring_monotone_does_not():
    from scipy.ndimage import zoom
    d = sharp_spectrum(1)
    f = (4.0, 4.0)
    orig = rs.local_maxima(d, 5.0, cross=True)

    def new_maxima(w):
        back = (np.array(d.shape) - 1) / (np.array(w.shape) - 1)
        m = rs.local_maxima(w, 5.0) * back
        return int(sum(np.min(np.hypot(*(orig - p).T)) > 1.0 for p in m))
    assert new_maxima(zoom(d, f, order=3, mode="nearest", grid_mode=False)) > 0
    assert new_maxima(rs.zero_fill(d, (4, 4))) > 0
    assert new_maxima(rs.monotone(d, f)) == 0


def test_zero_fill_keeps_points_and_interpolates_a_zero_filled_line():
    # a line processed with zero-filling x2: zero-fill x4 gives what a longer zero-fill gives
    n, n_acq = 64, 32
    t = np.arange(n_acq)
    fid = np.exp(2j * np.pi * 20.3 * t / n - t / 12.0) * np.cos(np.pi * t / (2 * n_acq)) ** 2
    spec = np.fft.fft(fid, n).real
    fine = np.fft.fft(fid, 4 * n).real
    z = rs.zero_fill(np.tile(spec, (3, 1)), (1, 4))[1]
    assert np.allclose(z[::4], spec, atol=1e-9)
    inner = slice(8, 4 * (n - 1) - 8)       # away from the ends (the straight-line correction)
    assert np.max(np.abs(z[inner] - fine[: 4 * (n - 1) + 1][inner])) < 0.02 * np.max(fine)


def test_resample_is_monotone():
    d = sharp_spectrum(2)
    assert np.array_equal(rs.resample(d, (2.0, 3.0)), rs.monotone(d, (2.0, 3.0)))
    assert rs.resample(d, (1.0, 1.0)) is d


def test_the_models_linewidth_range_decides_resampling():
    """v1's range resamples 1-point lines up; a model trained on them (v2's range,
    written into its config.json by the export) picks them as they are."""
    from nmrpick_ml.model import LINEWIDTHS
    d = sharp_spectrum(3)
    fwhh = rs.typical_fwhh(d, 1.0)
    assert np.all(fwhh < rs.LW_LOW)
    v1 = rs.choose_factors(d, 1.0, lw_range=rs.linewidth_range({}))
    assert np.all(v1 > 2.0)
    np.testing.assert_array_equal(v1, rs.choose_factors(d, 1.0))      # v1's is the default
    v2 = rs.choose_factors(d, 1.0, lw_range=rs.linewidth_range({"linewidths": LINEWIDTHS["v2"]}))
    np.testing.assert_array_equal(v2, [1.0, 1.0])
    # too broad for either: brought down to the target
    assert rs.resample_factors(np.array([40.0, 5.0]), rs.linewidth_range({"linewidths": LINEWIDTHS["v2"]}))[0] == 0.1


def test_the_picker_reads_the_range_from_its_config():
    from nmrpick_ml.model import LINEWIDTHS
    from nmrpick_ml.picker import Picker, default_picker
    shipped = default_picker()
    d = sharp_spectrum(4).astype(np.float32)
    as_v2 = Picker(shipped.engine, dict(shipped.config, linewidths=LINEWIDTHS["v2"]))
    as_v1 = Picker(shipped.engine, dict(shipped.config, linewidths=LINEWIDTHS["v1"]))
    assert as_v2.detect(d, 1.0, 5.0).factors == (1.0, 1.0)
    assert all(f > 2.0 for f in as_v1.detect(d, 1.0, 5.0).factors)
    # the shipped config's own range decides for the shipped picker
    own = shipped.config["linewidths"]["low"] <= 1.0
    assert (shipped.detect(d, 1.0, 5.0).factors == (1.0, 1.0)) == own
