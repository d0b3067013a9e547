"""pick(method="nmrglue"): the classical path, its table and its input checks."""

import functools
import warnings

import numpy as np
import nmrglue as ng
import pytest

from conftest import gaussian_spectrum, make_udic
from nmrpick_ml import NmrpickError
from nmrpick_ml._classical import pick_nmrglue
from nmrpick_ml._noise import estimate_noise
from nmrpick_ml.io import read_spectrum
from nmrpick_ml.peaks import PEAK_DTYPE, Peaks
from nmrpick_ml.picking import DEFAULT_SNR, noise_threshold
from nmrpick_ml.picking import pick as _pick

# this file tests the classical path; the package default is the Mask R-CNN
pick = functools.partial(_pick, method="nmrglue")


def ucs(shape):
    udic = make_udic(shape)
    return [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]


def assert_found(peaks, truth, min_snr=20.0, tol=1.0):
    """Every true peak of at least ``min_snr`` sigma has a pick within ``tol`` points."""
    for cy, cx, amp, _, _ in truth:
        if amp < min_snr:
            continue
        d = np.maximum(np.abs(peaks.Y_AXIS - cy), np.abs(peaks.X_AXIS - cx))
        assert d.size and d.min() <= tol, f"true peak at ({cy}, {cx}) not found"


def test_finds_true_peaks_with_units(pipe_2d):
    path, truth = pipe_2d
    spec = read_spectrum(path)
    peaks = pick(spec.dic, spec.data, spec.uc)
    assert isinstance(peaks, np.recarray) and peaks.dtype == PEAK_DTYPE
    assert_found(peaks, truth)
    assert len(peaks) <= len(truth) + 2          # 8 sigma: (almost) no noise picks
    np.testing.assert_allclose(peaks.Y_PPM, spec.uc[0].ppm(peaks.Y_AXIS))
    np.testing.assert_allclose(peaks.X_PPM, spec.uc[1].ppm(peaks.X_AXIS))
    hz_per_pt = [sw / n for sw, n in zip(spec.sw_hz, spec.data.shape)]
    np.testing.assert_allclose(peaks.Y_LW_HZ, peaks.Y_LW * hz_per_pt[0])
    np.testing.assert_allclose(peaks.X_LW_HZ, peaks.X_LW * hz_per_pt[1])
    iy, ix = np.rint(peaks.Y_AXIS).astype(int), np.rint(peaks.X_AXIS).astype(int)
    np.testing.assert_array_equal(peaks.HEIGHT, spec.data[iy, ix])
    assert np.all(peaks.SCORE == 1.0)
    strong = peaks[np.argmax(peaks.HEIGHT)]
    assert strong.Y_LW == pytest.approx(3.0, rel=0.3) and strong.X_LW == pytest.approx(4.0, rel=0.3)
    # uc built from the dic gives the same table
    again = pick(spec.dic, spec.data)
    np.testing.assert_array_equal(again.X_PPM, peaks.X_PPM)


def test_same_peaks_as_nmrglue():
    data = gaussian_spectrum((64, 96), np.array([(20.0, 30.0, 80.0, 3.0, 3.0),
                                                 (40.0, 70.0, 50.0, 3.0, 4.0)]), seed=4)
    thr = 10.0
    ref = ng.peakpick.pick(data, thr, algorithm="connected", est_params=True, cluster=True,
                           table=True)
    ours = pick_nmrglue(data, thr)
    for name in ("Y_AXIS", "X_AXIS", "cID", "Y_LW", "X_LW", "VOL"):
        np.testing.assert_allclose(ours[name], ref[name], err_msg=name)
    lists = pick({}, data, ucs(data.shape), pthres=thr, table=False)
    ref_lists = ng.peakpick.pick(data, thr, algorithm="connected", est_params=True,
                                 cluster=True, table=False)
    assert [tuple(loc) for loc in lists[0]] == [tuple(loc) for loc in ref_lists[0]]
    assert list(lists[1]) == list(ref_lists[1])


def test_default_threshold_is_snr_times_noise():
    data = gaussian_spectrum((64, 64), np.array([(30.0, 30.0, 9.0, 3.0, 3.0)]), seed=5)
    noise, thr = noise_threshold(data)
    assert noise == pytest.approx(estimate_noise(data)) and thr == pytest.approx(DEFAULT_SNR * noise)
    uc = ucs(data.shape)
    assert len(pick({}, data, uc)) == 1                 # 9 sigma > 8
    assert len(pick({}, data, uc, snr=12)) == 0         # 9 sigma < 12
    assert len(pick({}, data, uc, pthres=5 * noise)) >= 1


def test_no_peaks_gives_typed_empty_table():
    data = np.random.default_rng(2).normal(0, 1, (32, 48))
    peaks = pick({}, data, ucs(data.shape))
    assert isinstance(peaks, np.recarray) and len(peaks) == 0 and peaks.dtype == PEAK_DTYPE
    frame = pick({}, data, ucs(data.shape), as_frame=True)
    assert len(frame) == 0 and list(frame.columns) == list(PEAK_DTYPE.names)
    assert pick({}, data, ucs(data.shape), table=False) == ([], [], [], [])


@pytest.mark.parametrize("value", [0.0, 3.5])
def test_constant_spectrum_warns_and_is_empty(value):
    data = np.full((32, 48), value, np.float32)
    with pytest.warns(UserWarning, match="constant"):
        peaks = pick({}, data, ucs(data.shape))
    assert len(peaks) == 0 and peaks.dtype == PEAK_DTYPE


def test_negative_peaks():
    truth = np.array([(15.0, 20.0, 60.0, 3.0, 3.0), (40.0, 60.0, -60.0, 3.0, 3.0)])
    data = gaussian_spectrum((64, 96), truth, seed=6)
    uc = ucs(data.shape)
    pos = pick({}, data, uc)
    assert len(pos) == 1 and pos.HEIGHT[0] > 0
    noise, thr = noise_threshold(data)
    both = pick({}, data, uc, nthres=-thr)
    assert len(both) == 2 and (both.HEIGHT < 0).sum() == 1
    neg = both[both.HEIGHT < 0][0]
    assert (neg.Y_AXIS, neg.X_AXIS) == (40.0, 60.0)


def test_as_frame_and_score_threshold(pipe_2d):
    spec = read_spectrum(pipe_2d[0])
    frame = pick(spec.dic, spec.data, spec.uc, as_frame=True, score_threshold=0.5)
    assert list(frame.columns) == list(PEAK_DTYPE.names) and len(frame) >= 6


def test_to_table_for_other_pickers():
    data = gaussian_spectrum((32, 32), np.array([(10.0, 12.0, 50.0, 3.0, 3.0)]), seed=7)
    pts = np.array([(10.2, 11.6, 0.9)], dtype=[("Y_AXIS", "f8"), ("X_AXIS", "f8"),
                                                ("SCORE", "f8")])
    t = Peaks.from_records(pts, data).to_table(ucs(data.shape))
    assert t.dtype == PEAK_DTYPE and t.cID[0] == 1 and t.SCORE[0] == 0.9
    assert np.isnan(t.Y_LW[0]) and t.HEIGHT[0] == data[10, 12]
    with pytest.raises(ValueError, match="no SCORE"):
        Peaks.from_records(pts[["Y_AXIS", "X_AXIS"]], data)


def test_package_level_pick_is_callable():
    import nmrpick_ml
    import nmrpick_ml.picking                    # the module of the function
    from nmrpick_ml import pick as api_pick
    assert callable(nmrpick_ml.pick) and nmrpick_ml.pick is nmrpick_ml.picking.pick
    data = gaussian_spectrum((32, 32), np.array([(10.0, 12.0, 50.0, 3.0, 3.0)]), seed=7)
    assert len(api_pick({}, data, ucs(data.shape))) == 1
    assert len(nmrpick_ml.pick({}, data, ucs(data.shape))) == 1


def test_input_checks():
    good = np.zeros((16, 16))
    good[8, 8] = 1.0
    uc = ucs(good.shape)
    with pytest.raises(NmrpickError, match=r"`data` must be a real 2-D array; got shape \(16,\)"):
        pick({}, np.zeros(16), uc)
    with pytest.raises(NmrpickError, match="complex"):
        pick({}, good.astype(complex), uc)
    bad = good.copy()
    bad[0, :3] = np.nan
    bad[1, 0] = np.inf
    with pytest.raises(NmrpickError, match=r"`data` has 4 NaN/Inf values \(of 256\)"):
        pick({}, bad, uc)
    with pytest.raises(NmrpickError, match="`uc` must hold one unit conversion per axis .* got 1"):
        pick({}, good, uc[:1])
    with pytest.raises(NmrpickError, match="`snr` must be > 0; got -1"):
        pick({}, good, uc, snr=-1)
    with pytest.raises(NmrpickError, match="`nthres` must be negative"):
        pick({}, good, uc, nthres=5.0)
    with pytest.raises(NmrpickError, match="`method` must be one of"):
        pick({}, good, uc, method="magic")
    with pytest.raises(NmrpickError, match="`score_threshold` must be <= 1"):
        pick({}, good, uc, score_threshold=2)
    with pytest.raises(NmrpickError, match="only available with method='nmrglue'"):
        pick({}, good, uc, method="maskrcnn", table=False)
    with pytest.raises(TypeError, match="`data` must be a numeric array"):
        pick({}, np.array([["a", "b"], ["c", "d"]]), uc)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pick({}, good, uc)                           # a valid call warns nothing
