"""The --plot picture, checked through the figure's own properties: axes limits
and labels, contour levels, marker counts and kinds, labels, title."""

import numpy as np
import nmrglue as ng
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba

from conftest import gaussian_spectrum, make_udic, write_bruker, write_pipe
from nmrpick_ml import pick, read_spectrum
from nmrpick_ml._plot import (NEG_MARKER, NEGATIVE, POSITIVE, contour_levels, peak_figure,
                              signal_box)
from nmrpick_ml.io import Spectrum


def _spectrum(data, path="/x/hsqc.ft2", **kw):
    uc = tuple(ng.fileiobase.uc_from_udic(make_udic(data.shape), i) for i in range(2))
    return Spectrum(dic={}, data=data, uc=uc, labels=("15N", "1H"), obs_mhz=(60.8, 600.13),
                    sw_hz=(2000.0, 8000.0), format="pipe", path=path, **kw)


def _scatters(ax):
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _contours(ax):
    return [c for c in ax.collections if hasattr(c, "levels")]


def test_plot_reads_like_an_nmr_plot():
    truth = np.array([(10.0, 20.0, 80.0, 3.0, 3.0), (25.0, 45.0, -60.0, 3.0, 3.0)])
    data = gaussian_spectrum((40, 64), truth, seed=8)
    spec = _spectrum(data)
    peaks = pick({}, data, spec.uc, pthres=8.0, nthres=-8.0, method="nmrglue")
    fig = peak_figure(spec, peaks, 1.0)
    ax, cbar = fig.axes
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 > x1 and y0 > y1                   # ppm decreasing to the right and downwards
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("1H (ppm)", "15N (ppm)")
    assert fig.get_suptitle() == "hsqc.ft2: 2 peaks"
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2"]      # by INDEX
    pos, neg = _contours(ax)
    assert pos.levels[0] == pytest.approx(5.0) and neg.levels[-1] == pytest.approx(-5.0)
    assert tuple(pos.get_edgecolor()[0]) == to_rgba(POSITIVE)
    assert tuple(neg.get_edgecolor()[0]) == to_rgba(NEGATIVE)
    # one positive pick (circle, black edge), one negative (triangle, red edge)
    sp, sn = _scatters(ax)
    assert len(sp.get_offsets()) == 1 and len(sn.get_offsets()) == 1
    assert tuple(sn.get_edgecolor()[0]) == to_rgba(NEGATIVE)
    assert sn.get_paths()[0].vertices.shape != sp.get_paths()[0].vertices.shape
    assert np.allclose(np.concatenate([sp.get_array(), sn.get_array()]), peaks.SCORE)
    assert sp.get_clim() == (0.0, 1.0) and cbar.get_ylabel() == "SCORE"
    assert "\u25cb positive, red-edged \u25bd negative" in ax.get_title()
    assert ax.get_legend() is None                         # a legend box would hide picks


def test_contour_levels_from_noise_and_contour_start():
    data = np.zeros((8, 8))
    data[2, 2], data[5, 5] = 1000.0, -50.0
    pos, neg = contour_levels(data, 2.0, start=5.0)
    assert pos[0] == 10.0 and pos[-1] <= 1000.0 and 2 <= len(pos) <= 12
    assert np.all(np.diff(pos) > 0) and np.allclose(pos[1:] / pos[:-1], pos[1] / pos[0])
    assert neg[-1] == -10.0 and neg[0] >= -50.0
    assert contour_levels(data, 2.0, start=20.0)[0][0] == 40.0
    assert len(contour_levels(data, 2.0, start=600.0)[0]) == 0      # nothing above 1200


def test_zooms_to_the_signal_and_to_a_region():
    truth = np.array([(60.0, 150.0, 200.0, 3.0, 3.0), (70.0, 170.0, 150.0, 3.0, 3.0)])
    data = gaussian_spectrum((128, 256), truth, seed=3)
    spec = _spectrum(data)
    peaks = pick({}, data, spec.uc, pthres=10.0, method="nmrglue")
    ax = peak_figure(spec, peaks, 1.0).axes[0]
    (y0, y1), (x0, x1) = signal_box(data, 1.0, peaks)
    assert 40 < y0 < 60 and 70 < y1 < 90 and 130 < x0 < 150 and 170 < x1 < 190
    assert ax.get_xlim() == pytest.approx((spec.uc[1].ppm(x0), spec.uc[1].ppm(x1)))
    assert ax.get_ylim() == pytest.approx((spec.uc[0].ppm(y0), spec.uc[0].ppm(y1)))
    x_ppm, y_ppm = spec.uc[1].ppm(np.array([20.0, 200.0])), spec.uc[0].ppm(np.array([10.0, 100.0]))
    for region in (f"{x_ppm[0]}:{x_ppm[1]},{y_ppm[1]}:{y_ppm[0]}",
                   f"15N={y_ppm[0]}:{y_ppm[1]},1H={x_ppm[1]}:{x_ppm[0]}"):
        ax = peak_figure(spec, peaks, 1.0, region=region).axes[0]
        assert ax.get_xlim() == pytest.approx(tuple(x_ppm), abs=1e-6)
        assert ax.get_ylim() == pytest.approx(tuple(y_ppm), abs=1e-6)


def test_labels_do_not_pile_up():
    # 60 peaks in a tight 6 x 10 grid 4 points apart: labels cannot all have room
    truth = np.array([(20.0 + 4 * i, 40.0 + 4 * j, 100.0, 2.0, 2.0)
                      for i in range(6) for j in range(10)])
    data = gaussian_spectrum((128, 512), truth, seed=5)
    spec = _spectrum(data)
    peaks = pick({}, data, spec.uc, pthres=30.0, method="nmrglue")
    assert len(peaks) == 60
    fig = peak_figure(spec, peaks, 1.0, region="X=-100:100,Y=-1000:1000")   # all of it
    ax = fig.axes[0]
    assert sum(len(s.get_offsets()) for s in _scatters(ax)) == 60      # every pick drawn
    n_lab = len(ax.texts)
    assert 0 < n_lab < 60 and f"({n_lab} of 60, where there is room)" in ax.get_title()
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_transposed_file_puts_the_direct_axis_along_x(tmp_path):
    data = gaussian_spectrum((32, 64), np.array([(12.0, 40.0, 80.0, 3.0, 3.0)]), seed=2)
    normal = write_pipe(tmp_path / "n.ft2", data)
    dic, d = ng.pipe.read(str(normal))
    ng.pipe.write(str(tmp_path / "t.ft2"), *ng.pipe_proc.tp(dic, d, auto=True))
    for name in ("n.ft2", "t.ft2"):
        spec = read_spectrum(tmp_path / name)
        peaks = pick(spec.dic, spec.data, spec.uc, pthres=20.0, method="nmrglue")
        fig = peak_figure(spec, peaks, 1.0, region="1H=-100:100,15N=-1000:1000")
        ax = fig.axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("1H (ppm)", "15N (ppm)"), name
        (x,) = _scatters(ax)[0].get_offsets()
        assert x[0] == pytest.approx(spec.uc[1 if name == "n.ft2" else 0].ppm(40.0), abs=0.05)


def test_bruker_title_names_the_experiment(tmp_path):
    data = gaussian_spectrum((32, 64), np.array([(12.0, 40.0, 80.0, 3.0, 3.0)]), seed=2)
    spec = read_spectrum(write_bruker(tmp_path / "arbo" / "14", data))
    fig = peak_figure(spec, pick(spec.dic, spec.data, spec.uc, snr=20, method="nmrglue"), 1.0)
    assert fig.get_suptitle() == "arbo/14/pdata/1: 1 peak"
