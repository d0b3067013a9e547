"""Synthetic spectra: exact FWHH masks, recipes, reproducibility, files."""

import dataclasses
import time

import nmrglue as ng
import numpy as np
import pandas as pd
import pytest

from nmrpick_ml import synth

NO_ARTEFACTS = dataclasses.replace(
    synth.REALISTIC, p_empty=0.0, p_noise_free=1.0, p_ridge=0.0, p_baseline=0.0, p_wiggle=0.0,
    p_negative_spectrum=0.0, scale_decades=(0.0, 0.0), border=0.0)


@pytest.mark.parametrize("kind", [synth.GAUSS, synth.LORENTZ])
def test_lineshape_fwhh_matches_analytic(kind):
    # Gaussian: FWHH = 2 sqrt(2 ln 2) sigma; Lorentzian: FWHH = 2 gamma
    sigma, gamma = 2.3, 3.1
    w = 2 * np.sqrt(2 * np.log(2)) * sigma if kind == synth.GAUSS else 2 * gamma
    x = np.linspace(-20, 20, 400001)
    f = synth.lineshape(x, 0.0, w, kind)
    ref = np.exp(-x ** 2 / (2 * sigma ** 2)) if kind == synth.GAUSS else 1 / (1 + (x / gamma) ** 2)
    np.testing.assert_allclose(f, ref, atol=1e-12)
    above = x[f >= 0.5]
    assert above.max() - above.min() == pytest.approx(w, abs=1e-3)


@pytest.mark.parametrize("shapes", [(synth.GAUSS, synth.GAUSS), (synth.GAUSS, synth.LORENTZ),
                                    (synth.LORENTZ, synth.LORENTZ)])
def test_masks_equal_analytic_half_height_region(shapes):
    rng = np.random.default_rng(5)
    for _ in range(20):
        cy, cx = rng.uniform(20, 100, 2)
        wy, wx = rng.uniform(1.5, 20, 2)
        p = dict(cen=np.array([[cy, cx]]), wid=np.array([[wy, wx]]), amp=np.array([1.0]),
                 shp=np.array([shapes]), eta=np.array([0.5]), snr=np.array([np.inf]), noise=0.0)
        s = synth._render((128, 128), p, NO_ARTEFACTS, rng)
        y, x = np.mgrid[0:128, 0:128]

        def f(d, w, kind):
            if kind == synth.GAUSS:
                sig = w / (2 * np.sqrt(2 * np.log(2)))
                return np.exp(-d ** 2 / (2 * sig ** 2))
            return 1 / (1 + (d / (w / 2)) ** 2)
        analytic = f(y - cy, wy, shapes[0]) * f(x - cx, wx, shapes[1]) >= 0.5
        assert np.array_equal(s.masks[0], analytic)
        # the data of a lone peak is >= half its maximum exactly on the mask
        assert np.array_equal(s.data >= 0.5 * np.float32(1.0) - 1e-6, analytic) or \
            np.sum(s.masks[0] != (s.data >= 0.5)) <= 2  # float32 rounding at the edge
        ys, xs = np.nonzero(analytic)
        assert tuple(s.box[0]) == (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)


def test_overlapping_peaks_keep_their_own_masks():
    p = dict(cen=np.array([[60.0, 60.0], [60.0, 64.0]]), wid=np.array([[8.0, 8.0], [8.0, 8.0]]),
             amp=np.array([1.0, 0.5]), shp=np.zeros((2, 2), int), eta=np.full(2, 0.5),
             snr=np.full(2, np.inf), noise=0.0)
    s = synth._render((128, 128), p, NO_ARTEFACTS, np.random.default_rng(0))
    assert (s.masks[0] & s.masks[1]).any()           # masks may overlap
    assert s.masks[0].sum() == s.masks[1].sum()      # same shape: same area, whatever the amplitude
    assert not s.resolved()[1]                       # the weaker one sits on the other's flank


def test_paper_recipe_is_the_papers_data():
    for i in range(50):
        s = synth.make_spectrum((128, 128), synth.PAPER, seed=[7, i])
        assert 1 <= len(s.amp) <= 4
        assert np.all(s.amp == 1.0) and s.noise == 0.0
        assert np.all(np.any(s.shape == synth.GAUSS, axis=1))   # G x G or G x L
        assert not np.any(s.shape == synth.VOIGT)
        assert np.all(s.target)
        # masks never overlap
        assert s.masks.sum(axis=0).max() <= 1


def test_realistic_recipe_covers_its_ranges():
    tiles = synth.make_tiles(300, seed=11)
    k = np.array([len(t.amp) for t in tiles])
    assert (k == 0).any() and k.max() >= 20                         # empty and crowded tiles
    fw = np.concatenate([t.fwhh for t in tiles])
    assert fw.min() < 2.0 and fw.max() > 15.0
    snr = np.concatenate([t.snr[np.isfinite(t.snr)] for t in tiles])
    assert snr.max() / snr.min() > 1000                              # over 3 decades
    assert any((t.amp < 0).any() for t in tiles)                     # signed peaks
    scales = [np.abs(t.data).max() for t in tiles if len(t.amp)]
    assert max(scales) / min(scales) > 1e6                           # arbitrary overall scale
    assert any(((t.centre < 0) | (t.centre > 127)).any() for t in tiles)  # cut by the border
    shapes = np.concatenate([t.shape for t in tiles]).ravel()
    assert set(np.unique(shapes)) == {synth.GAUSS, synth.LORENTZ, synth.VOIGT}


def test_fixed_seed_set_regenerates_to_the_same_checksum():
    a = synth.checksum(synth.make_tiles(20, seed=3))
    b = synth.checksum(synth.make_tiles(20, seed=3))
    c = synth.checksum(synth.make_tiles(20, seed=4))
    assert a == b and a != c


def test_tile_generation_is_fast():
    t0 = time.perf_counter()
    synth.make_tiles(100, seed=0)
    assert time.perf_counter() - t0 < 5.0   # the benchmark figure is for 1000 tiles


@pytest.mark.parametrize("ext", [".ft2", ".ucsf"])
def test_write_spectrum_round_trips_with_ppm(tmp_path, ext):
    s = synth.simulate(shape=(128, 256), n_peaks=12, seed=2)
    path = tmp_path / f"sim{ext}"
    written = synth.write_spectrum(path, s)
    assert len(written) == 2
    if ext == ".ucsf":
        dic, data = ng.sparky.read(str(path))
        uc = [ng.sparky.make_uc(dic, data, dim=i) for i in range(2)]
    else:
        dic, data = ng.pipe.read(str(path))
        uc = [ng.pipe.make_uc(dic, data, dim=i) for i in range(2)]
    np.testing.assert_array_equal(data, s.data)
    truth = pd.read_csv(tmp_path / "sim_peaks.csv")
    assert len(truth) == 12
    for _, row in truth.iterrows():
        assert uc[0].ppm(row.Y_AXIS) == pytest.approx(row.Y_PPM, abs=1e-4)
        assert uc[1].ppm(row.X_AXIS) == pytest.approx(row.X_PPM, abs=1e-5)
    # an HSQC: 15N on axis 0 (100-136 ppm), 1H on axis 1
    assert 95 < truth.Y_PPM.mean() < 140 and 5 < truth.X_PPM.mean() < 11
