"""Whole-spectrum picking with the shipped Mask R-CNN: ppm, seams, negatives, tiling."""

import os

import nmrglue as ng
import numpy as np
import pytest

from conftest import gaussian_spectrum, write_pipe, write_ucsf
from nmrpick_ml import find_peaks, pick, read_spectrum
from nmrpick_ml.tiling import core_bounds, cut_tiles, tile_starts

WEIGHTS = os.path.join(os.path.dirname(__file__), "..", "nmrpick_ml", "weights", "maskrcnn.pt")
needs_weights = pytest.mark.skipif(not os.path.exists(WEIGHTS), reason="shipped weights not present yet")


def test_tiles_cover_the_spectrum_and_cores_partition_it():
    for n in (100, 128, 129, 300, 1000, 2048):
        starts = tile_starts(n, 128, 24)
        assert starts[0] == 0 and starts[-1] == max(0, n - 128)
        if len(starts) > 1:
            assert min(b + 128 - a for a, b in zip(starts[1:], starts[:-1])) >= 24  # overlaps
        cores = core_bounds(starts, n, 128)
        assert cores[0][0] == 0 and cores[-1][1] == n
        assert all(c1[1] == c2[0] for c1, c2 in zip(cores, cores[1:]))
    x = np.zeros((3, 50, 300), np.float32)
    tiles, origins, _ = cut_tiles(x, 128, 24)
    assert tiles.shape == (3, 3, 128, 128) and origins[-1] == (0, 172)   # padded, edge-aligned


@needs_weights
@pytest.mark.parametrize("fmt", ["pipe", "ucsf"])
def test_peak_at_known_ppm_is_reported_at_that_ppm(tmp_path, fmt):
    truth = np.array([(40.3, 90.6, 300.0, 3.0, 4.0), (80.7, 170.2, 80.0, 2.6, 3.4)])
    data = gaussian_spectrum((128, 256), truth, seed=4)
    path = (write_pipe(tmp_path / "k.ft2", data) if fmt == "pipe"
            else write_ucsf(tmp_path / "k.ucsf", data))
    spec = read_spectrum(path)
    peaks = pick(spec.dic, spec.data, spec.uc, method="maskrcnn")
    if fmt == "pipe":
        dic, d = ng.pipe.read(str(path))
        uc = [ng.pipe.make_uc(dic, d, dim=i) for i in range(2)]
    else:
        dic, d = ng.sparky.read(str(path))
        uc = [ng.sparky.make_uc(dic, d, dim=i) for i in range(2)]
    for y, x, *_ in truth:
        ppm_n, ppm_h = uc[0].ppm(y), uc[1].ppm(x)   # 15N, 1H
        dist = np.hypot((peaks.Y_PPM - ppm_n) / 0.2, (peaks.X_PPM - ppm_h) / 0.02)
        assert dist.min() <= 1.0, (ppm_n, ppm_h, peaks[["Y_PPM", "X_PPM"]])
    assert len(peaks) == 2


@needs_weights
def test_peak_straddling_a_tile_seam_is_reported_once():
    # 256 x 256 with tile 128 / overlap 24: tiles start at 0, 64, 128 and the
    # core boundaries lie at 96 and 160 on each axis; put peaks right on them
    starts = tile_starts(256, 128, 24)
    seams = [c[1] for c in core_bounds(starts, 256, 128)[:-1]]
    truth = np.array([(seams[0], seams[0], 100.0, 5.0, 5.0), (seams[1] - 0.5, 40.2, 60.0, 6.0, 4.0),
                      (200.3, seams[1] + 0.3, 150.0, 4.0, 7.0)])
    data = gaussian_spectrum((256, 256), truth, seed=5)
    peaks = pick({}, data, _ucs(data.shape), method="maskrcnn", overlap=24)
    for y, x, *_ in truth:
        near = np.hypot(peaks.Y_AXIS - y, peaks.X_AXIS - x) < 3
        assert near.sum() == 1, (y, x, peaks[["Y_AXIS", "X_AXIS", "SCORE"]])
    assert len(peaks) == 3


@needs_weights
def test_negative_peaks_only_when_asked_and_with_negative_height():
    truth = np.array([(30.0, 40.0, 100.0, 3.0, 4.0), (80.0, 150.0, -100.0, 3.0, 4.0)])
    data = gaussian_spectrum((128, 256), truth, seed=6)
    uc = _ucs(data.shape)
    pos = pick({}, data, uc, method="maskrcnn")
    both = pick({}, data, uc, method="maskrcnn", nthres=-8.0)
    assert len(pos) == 1 and pos.HEIGHT[0] > 0
    assert len(both) == 2 and sorted(np.sign(both.HEIGHT)) == [-1, 1]
    neg = both[both.HEIGHT < 0][0]
    assert abs(neg.Y_AXIS - 80) < 0.5 and abs(neg.X_AXIS - 150) < 0.5


@needs_weights
def test_widths_heights_and_frame():
    truth = np.array([(60.2, 100.7, 500.0, 4.0, 6.0)])
    data = gaussian_spectrum((128, 256), truth, noise=1.0, seed=7)
    df = pick({}, data, _ucs(data.shape), method="maskrcnn", as_frame=True)
    assert list(df.columns[:6]) == ["Y_AXIS", "X_AXIS", "cID", "Y_LW", "X_LW", "VOL"]
    r = df.iloc[0]
    assert abs(r.Y_LW - 4.0) < 0.4 and abs(r.X_LW - 6.0) < 0.6
    assert abs(r.HEIGHT - 500) < 25 and 0 < r.SCORE <= 1
    found = find_peaks(data, method="maskrcnn")                  # what was used
    assert found.n_tiles >= 1 and found.noise == pytest.approx(1.0, rel=0.2)
    assert len(found) == len(df) and np.allclose(found.centre[:, 0], df.Y_AXIS)


def _ucs(shape):
    udic = ng.fileiobase.create_blank_udic(2)
    for i, n in enumerate(shape):
        udic[i].update(size=n, sw=2000.0 * (i + 1), obs=60.8 if i == 0 else 600.13,
                       car=118.0 * 60.8 if i == 0 else 4.7 * 600.13, complex=False)
    return [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]


def test_multiplets_auto_keeps_lines_on_15n_and_merges_them_on_13c():
    # a 1H doublet (J 12 Hz at 1.5 Hz per point) on one row, and an isolated singlet
    y, x = np.mgrid[0:96, 0:160]

    def g(cy, cx):
        return np.exp(-4 * np.log(2) * (((y - cy) / 4.0) ** 2 + ((x - cx) / 2.5) ** 2))

    rng = np.random.default_rng(3)
    data = (100 * (g(48, 76) + g(48, 84)) + 80 * g(20, 130)
            + rng.normal(0, 0.5, y.shape)).astype(np.float32)
    kw = dict(method="maskrcnn", hz_per_point=1.5)
    runs = {(mode, labels): find_peaks(data, multiplets=mode, labels=labels, **kw)
            for mode in ("auto", "merge", "keep") for labels in (("15N", "1H"), ("13C", "1H"))}
    merged = runs[("merge", ("13C", "1H"))]
    kept = runs[("keep", ("13C", "1H"))]
    assert len(merged) < len(kept) and np.nanmax(merged.j_hz) == pytest.approx(12, rel=0.1)
    for labels, mode in ((("15N", "1H"), "keep"), (("13C", "1H"), "merge")):
        auto = runs[("auto", labels)]
        assert np.array_equal(auto.centre, runs[(mode, labels)].centre)
    # the transposed file: the indirect axis is axis 1
    t = find_peaks(np.ascontiguousarray(data.T), multiplets="auto", labels=("1H", "15N"),
                   direct_axis=0, **kw)
    assert len(t) == len(kept)
