"""The picking rules (nmrpick_ml.rules) on synthetic spectra made for each decision.

Each case is built from lineshapes whose truth is known, and the picks given to
the rules are the data's own local maxima (what a picker that finds everything
would hand over), so the rules are tested on what they would meet.
"""

import numpy as np
import pytest

from nmrpick_ml import rules
from nmrpick_ml.resample import local_maxima

SHAPE = (96, 160)


def gauss2d(cy, cx, wy, wx, shape=SHAPE):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return np.exp(-4 * np.log(2) * (((y - cy) / wy) ** 2 + ((x - cx) / wx) ** 2))


def truncated(offsets, width, n_acq=24, size=None):
    """Real spectrum of a damped cosine sampled n_acq points, no window: sinc sidelobes."""
    size = size or len(offsets)
    t = np.arange(n_acq)
    line = np.zeros(len(offsets))
    fid = np.exp(-np.pi * width * t / size)
    for k, o in enumerate(offsets):
        line[k] = np.sum(fid * np.cos(2 * np.pi * o * t / size)) - 0.5 * fid[0]
    return line / line[np.argmin(np.abs(offsets))]


def picks_from(data, noise, level=5.0, both=True):
    """Every local maximum (and minimum) above level x noise, as rule input."""
    pos = local_maxima(data, level * noise)
    neg = local_maxima(-data, level * noise) if both else np.zeros((0, 2), int)
    c = np.concatenate([pos, neg]).astype(float)
    h = data[c[:, 0].astype(int), c[:, 1].astype(int)]
    w = np.full((len(c), 2), 3.0)
    return c, w, h, np.full(len(c), 0.8)


def test_duplicate_on_one_peak_is_merged_and_keeps_the_better_score():
    noise = 0.01
    data = 100 * gauss2d(40, 60, 4, 4)
    c = np.array([[40.0, 60.0], [40.6, 61.0]])        # 0.3 FWHH apart, the same peak
    w = np.full((2, 2), 4.0)
    keep, score = rules.merge_duplicates(data, c, w, [100.0, 93.0], [0.5, 0.9], noise)
    assert keep.tolist() == [0]
    assert score[0] == pytest.approx(0.9)


def test_close_pair_with_a_dip_stays_two():
    noise = 0.01
    data = 100 * gauss2d(40, 60, 4, 4) + 70 * gauss2d(40, 65, 4, 4)   # 1.25 FWHH apart: a dip
    c, w, h, s = picks_from(data, noise, both=False)
    assert len(c) == 2
    # the widths measured on an overlapping pair are wider than each line: within one FWHH
    keep, _ = rules.merge_duplicates(data, c, np.full((2, 2), 6.0), h, s, noise)
    assert len(keep) == 2


def test_shoulder_stays_and_a_flank_does_not():
    noise = 0.01
    data = 100 * gauss2d(40, 60, 4, 4) + 40 * gauss2d(40, 63.6, 4, 4)  # no maximum of its own
    assert len(local_maxima(data, 1.0)) == 1
    c = np.array([[40.0, 60.4], [40.0, 63.6]])
    keep, _ = rules.merge_duplicates(data, c, np.full((2, 2), 4.0), [110.0, 60.0], [0.9, 0.6], noise)
    assert len(keep) == 2
    single = 100 * gauss2d(40, 60, 4, 4)
    keep, _ = rules.merge_duplicates(single, np.array([[40.0, 60.0], [40.0, 62.4]]), np.full((2, 2), 4.0),
                                     [100.0, 50.0], [0.9, 0.6], noise)
    assert keep.tolist() == [0]


def test_sidelobes_of_a_strong_peak_are_rejected_a_real_weak_peak_is_kept():
    rng = np.random.default_rng(0)
    y = np.arange(SHAPE[0]) - 40.0
    x = np.arange(SHAPE[1]) - 60.0
    prof_y, prof_x = truncated(y, 0.5), truncated(x, 0.5, n_acq=32)
    data = 2000 * np.outer(prof_y, prof_x)
    data += 200 * gauss2d(40, 130, 3, 3)                # real, on the same row, 5x its lobes there
    data += 30 * gauss2d(75, 20, 3, 3)                  # real, nowhere near
    data += rng.normal(0, 1.0, SHAPE)
    c, w, h, s = picks_from(data, 1.0)
    # the input holds sidelobes, of both signs, on the row and the column of the strong peak
    on_row = (np.abs(c[:, 0] - 40) < 1) & (np.abs(c[:, 1] - 60) > 2) & (np.abs(c[:, 1] - 130) > 2)
    on_col = (np.abs(c[:, 1] - 60) < 1) & (np.abs(c[:, 0] - 40) > 2)
    assert on_row.sum() >= 4 and on_col.sum() >= 4 and (h < 0).sum() >= 4
    keep = rules.reject_artefacts(data, c, w, h, 1.0)
    kept = {(int(a), int(b)) for a, b in c[keep]}
    assert {(40, 60), (40, 130), (75, 20)} <= kept
    assert not np.any(keep & (on_row | on_col))
    # off both axes (a lobe of a lobe) only noise-level picks are left: the noise
    # threshold decides those, not the parent's artefacts
    real = np.array([(int(a), int(b)) in {(40, 60), (40, 130), (75, 20)} for a, b in c])
    assert np.all(np.abs(h[keep & ~real]) < 8.0)


def test_ridge_picks_are_rejected_a_real_peak_in_the_ridge_column_is_kept():
    rng = np.random.default_rng(1)
    data = 3000 * gauss2d(20, 80, 3, 3)
    ridge = np.convolve(rng.normal(0, 1, SHAPE[0] + 2), [0.5, 1.0, 0.5], "same")[1:-1]
    data[:, 78:83] += 15 * ridge[:, None] * np.exp(-4 * np.log(2) * ((np.arange(78, 83) - 80) / 3) ** 2)
    data += 400 * gauss2d(70, 80, 3, 3)                 # a real peak in the same column
    data += rng.normal(0, 1.0, SHAPE)
    c, w, h, s = picks_from(data, 1.0, both=False)
    ridge_picks = (np.abs(c[:, 1] - 80) <= 2) & (np.abs(c[:, 0] - 20) > 3) & (np.abs(c[:, 0] - 70) > 3)
    assert ridge_picks.sum() >= 3
    keep = rules.reject_artefacts(data, c, w, h, 1.0)
    kept = {(int(a), int(b)) for a, b in c[keep]}
    assert (20, 80) in kept and (70, 80) in kept
    assert not np.any(keep & ridge_picks)


def test_sidebands_are_a_symmetric_pair_a_real_peak_on_the_row_is_kept():
    # decoupling sidebands: 0.5 % of the parent, 40 points either side on its row
    rng = np.random.default_rng(5)
    data = 5000 * gauss2d(48, 80, 3, 3)
    data += 25 * (gauss2d(48, 40, 3, 3) + gauss2d(48, 120, 3, 3))
    data += 25 * gauss2d(48, 135, 3, 3)                  # real: no partner at x = 25
    data += 12 * gauss2d(20, 80, 3, 3)                   # real, on the column, quiet there
    data += rng.normal(0, 1.0, SHAPE)
    c, w, h, s = picks_from(data, 1.0, level=8.0, both=False)
    keep = rules.reject_artefacts(data, c, w, h, 1.0)
    kept = {(int(round(a)), int(round(b))) for a, b in c[keep]}
    assert kept == {(48, 80), (48, 135), (20, 80)}


def test_real_peaks_on_a_strong_peaks_quiet_line_are_kept():
    # a parent without artefacts (Gaussian): weak real peaks on its row and column
    # stay, also where the mirrored offset falls on the flank of another peak and
    # where other peaks' tails raise the line's spread on one side only
    rng = np.random.default_rng(6)
    data = 4000 * gauss2d(48, 80, 3, 3)
    truth = [(48, 130, 20), (48, 26, 30), (48, 150, 7), (48, 156, 40), (10, 80, 8), (90, 80, 6)]
    for cy, cx, a in truth:
        data += a * gauss2d(cy, cx, 3, 3)
    data += rng.normal(0, 1.0, SHAPE)
    c = np.array([(cy, cx) for cy, cx, _ in [(48, 80, 0)] + truth], float)
    h = data[c[:, 0].astype(int), c[:, 1].astype(int)]
    keep = rules.reject_artefacts(data, c, np.full((len(c), 2), 3.0), h, 1.0)
    assert keep.all()


def _multiplet(offsets, heights, cx=80.0, cy=48.0, lw=2.5, wy=4.0):
    return sum(hh * gauss2d(cy, cx + o, wy, lw) for o, hh in zip(offsets, heights))


@pytest.mark.parametrize("name, offsets, heights, j, n", [
    ("d", (-4.0, 4.0), (100, 100), 8.0, 2),
    ("t", (-6.0, 0.0, 6.0), (50, 100, 50), 6.0, 3),
    ("dd", (-7.0, -3.0, 3.0, 7.0), (100, 100, 100, 100), 10.0, 4),
])
def test_multiplets_become_one_pick_at_the_centre(name, offsets, heights, j, n):
    hz = 1.5                                               # Hz per point: J 6-15 Hz
    data = _multiplet(offsets, heights)
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1] = 2.5
    assert len(c) == n
    r = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)
    assert len(r["score"]) == 1
    assert r["centre"][0] == pytest.approx([48.0, 80.0], abs=0.05)
    assert r["n_lines"][0] == n
    assert r["j_hz"][0] == pytest.approx(j * hz, rel=0.05)
    kept = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz, multiplets="keep")
    assert len(kept["score"]) == n and np.all(kept["n_lines"] == n)


def test_a_pair_on_different_rows_or_too_far_apart_is_not_a_multiplet():
    hz = 1.5
    data = 100 * gauss2d(46.0, 76.0, 4, 2.5) + 100 * gauss2d(49.0, 84.0, 4, 2.5)   # 0.75 FWHH apart in y
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1] = 2.5
    w[:, 0] = 4.0
    assert len(rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)["score"]) == 2
    far = _multiplet((-10.0, 10.0), (100, 100))            # 20 points = 30 Hz: beyond 18 Hz
    c, w, h, s = picks_from(far, 0.01, both=False)
    w[:, 1] = 2.5
    assert len(rules.apply_rules(far, c, w, h, s, noise=0.01, hz_per_point=hz)["score"]) == 2
    unequal = _multiplet((-4.0, 4.0), (100, 20))           # 5:1 is no doublet
    c, w, h, s = picks_from(unequal, 0.01, both=False)
    w[:, 1] = 2.5
    assert len(rules.apply_rules(unequal, c, w, h, s, noise=0.01, hz_per_point=hz)["score"]) == 2


def test_two_peaks_of_two_carbons_on_one_row_are_no_doublet():
    # J-like spacing and heights, one row, but indirect-axis widths 4 and 6: two nuclei
    hz = 1.5
    data = 100 * gauss2d(48, 76, 4.0, 2.5) + 70 * gauss2d(48, 84, 6.0, 2.5)
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1], w[:, 0] = 2.5, 5.0
    assert len(rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)["score"]) == 2
    same = 100 * gauss2d(48, 76, 4.0, 2.5) + 70 * gauss2d(48, 84, 4.0, 2.5)   # one carbon: a d
    c, w, h, s = picks_from(same, 0.01, both=False)
    w[:, 1], w[:, 0] = 2.5, 4.0
    assert rules.apply_rules(same, c, w, h, s, noise=0.01, hz_per_point=hz)["n_lines"].tolist() == [2]


def test_a_doublet_whose_line_a_neighbour_overlaps_along_the_column_is_still_one():
    # a doublet (wy 4) and another carbon's singlet 5 points above its first line, which
    # widens that line's column on one side: the widths are read on the free side
    hz = 1.5
    data = _multiplet((-4.0, 4.0), (100, 100)) + 80 * gauss2d(53.0, 75.0, 4.0, 2.5)
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1], w[:, 0] = 2.5, 4.0
    assert len(c) == 3
    r = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)
    assert sorted(r["n_lines"].tolist()) == [1, 2]
    d = r["centre"][int(np.argmax(r["n_lines"]))]
    assert d == pytest.approx([48.0, 80.0], abs=0.3)


def test_a_dd_read_as_two_doublets_sharing_a_line_is_one_multiplet():
    # a dd (J 17.3 and 6.3 Hz at 4.27 Hz per point: lines 1.5 and 4.1 points apart) of
    # unequal lines, its fourth no maximum of its own: three maxima, read from the top
    # line as a doublet and from another as a second doublet through the same middle line
    hz = 4.27
    xs = 80 + np.array([-2.77, -1.29, 1.29, 2.77])
    data = sum(hh * gauss2d(48, x, 1.8, 1.2) for x, hh in zip(xs, (80, 100, 100, 60)))
    c, w, h, s = picks_from(data, 0.01, level=10, both=False)
    w[:, 1], w[:, 0] = 1.2, 1.8
    assert len(c) == 3
    r = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)
    assert len(r["score"]) == 1 and r["n_lines"].tolist() == [3]
    assert r["centre"][0] == pytest.approx([48.0, 80.0], abs=1.0)


def test_a_far_weaker_peak_beside_a_doublet_is_not_its_outer_line():
    # a doublet (100, 100) and, one J beyond its outer line on the same row, a peak of 3
    # (300 noise sd, but 3 % of the lines: no line of a first-order multiplet is that weak)
    hz = 1.5
    data = _multiplet((-4.0, 4.0, 12.0), (100, 100, 3))
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1] = 2.5
    assert len(c) == 3
    r = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)
    assert sorted(r["n_lines"].tolist()) == [1, 2]
    weak = int(np.argmin(r["height"]))
    assert r["centre"][weak] == pytest.approx([48.0, 92.0], abs=0.1)
    # an outer line of a third of the lowest found line still joins the multiplet
    data = _multiplet((-4.0, 4.0, 12.0), (100, 100, 30))
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 1] = 2.5
    r = rules.apply_rules(data, c, w, h, s, noise=0.01, hz_per_point=hz)
    assert len(r["score"]) == 1


def test_the_undershoot_beside_a_strong_line_is_no_negative_peak():
    # a one-sided dip 1.3 FWHH beside a strong positive line (as linear prediction
    # or a phase error leave it); a real negative peak further out stays
    y = np.arange(SHAPE[0])[:, None]
    data = 3000 * gauss2d(40, 60, 3, 3) - 90 * np.exp(-4 * np.log(2) * ((y - 44.0) / 2.0) ** 2) * \
        np.exp(-4 * np.log(2) * ((np.arange(SHAPE[1]) - 60) / 3.0) ** 2)
    data -= 200 * gauss2d(40, 120, 3, 3)
    data += np.random.default_rng(7).normal(0, 1.0, SHAPE)
    neg = -data
    c, w, h, s = picks_from(neg, 1.0, level=8.0, both=False)
    assert len(c) == 2
    r = rules.rule_step(dict(centre=c, fwhh=w, height=h, score=s), neg, 1.0)
    assert [tuple(int(v) for v in p) for p in r["centre"]] == [(40, 120)]


def test_no_rule_eats_isolated_real_peaks():
    rng = np.random.default_rng(3)
    data = rng.normal(0, 1.0, SHAPE)
    truth = [(15, 20, 50), (15, 90, 500), (50, 40, 12), (50, 130, 3000), (80, 70, 200), (80, 150, 25)]
    for cy, cx, a in truth:
        data += a * gauss2d(cy, cx, 3, 3)
    c, w, h, s = picks_from(data, 1.0, level=8.0, both=False)
    r = rules.apply_rules(data, c, w, h, s, noise=1.0, hz_per_point=5.0)
    got = sorted((int(round(a)), int(round(b))) for a, b in r["centre"])
    assert got == sorted((cy, cx) for cy, cx, _ in truth)


def test_bad_multiplets_option():
    with pytest.raises(ValueError, match="multiplets"):
        rules.apply_rules(np.zeros((8, 8)), np.zeros((0, 2)), np.zeros((0, 2)), [], [], noise=1.0,
                          multiplets="split")


def test_rule_step_one_sign_at_a_time_negative_sidelobes_are_not_negative_picks():
    # the negative pass sees the data negated: the positive peak's negative lobes are
    # "peaks" there, and the positive peak itself is the other sign's parent
    y = np.arange(SHAPE[0]) - 40.0
    x = np.arange(SHAPE[1]) - 60.0
    data = 2000 * np.outer(truncated(y, 0.5), truncated(x, 0.5, n_acq=32))
    data -= 150 * gauss2d(75, 120, 3, 3)                # a real negative peak
    data += np.random.default_rng(4).normal(0, 1.0, SHAPE)
    neg = -data
    c, w, h, s = picks_from(neg, 1.0, both=False)
    assert len(c) >= 5
    refined = dict(centre=c, fwhh=w, height=h, score=s, index=np.arange(len(c)))
    r = rules.rule_step(refined, neg, 1.0, hz_per_point=5.0)
    got = [tuple(int(v) for v in p) for p in r["centre"]]
    assert (75, 120) in got
    real = got.index((75, 120))
    assert r["index"][real] == int(np.argmin(np.hypot(*(c - (75, 120)).T)))
    # no lobe on the positive peak's row or column is a negative pick; off both axes
    # (a lobe of a lobe) only noise-level maxima may stay: the noise threshold decides
    others = np.delete(r["centre"], real, axis=0)
    assert not np.any((np.abs(others[:, 0] - 40) < 1) | (np.abs(others[:, 1] - 60) < 1))
    assert np.all(np.delete(r["height"], real) < 8.0)
    assert np.all(r["n_lines"] == 1) and np.isnan(r["j_hz"]).all()


def test_rule_step_transposed_direct_axis():
    data = _multiplet((-4.0, 4.0), (100, 100)).T            # direct axis is axis 0 here
    c, w, h, s = picks_from(data, 0.01, both=False)
    w[:, 0] = 2.5
    r = rules.rule_step(dict(centre=c, fwhh=w, height=h, score=s), data, 0.01, hz_per_point=1.5,
                        direct_axis=0)
    assert r["centre"].round(2).tolist() == [[80.0, 48.0]] and r["n_lines"].tolist() == [2]
    r = rules.rule_step(dict(centre=c, fwhh=w, height=h, score=s), data, 0.01, hz_per_point=1.5)
    assert len(r["score"]) == 2                              # along axis 1 it is no doublet


def test_strong_coupling_cross_peaks_are_rejected_a_real_peak_at_a_crossing_is_kept():
    # protons A (row 30, column 60) and B (row 70, column 80) strongly coupled: weak
    # cross peaks at (F1_A, F2_B) = (30, 80) and (F1_B, F2_A) = (70, 60), 3 % of them
    rng = np.random.default_rng(8)
    hz = 5.0                                             # 20 points = 100 Hz apart: J / dnu = 0.18
    data = 5000 * gauss2d(30, 60, 3, 3) + 4000 * gauss2d(70, 80, 3, 3)
    data += 150 * gauss2d(30, 80, 3, 3) + 120 * gauss2d(70, 60, 3, 3)
    # a third strong peak C and a real weak peak on C's row and B's column, with
    # nothing at the mirror image (F1_B, F2_C) = (70, 130)
    data += 3000 * gauss2d(20, 130, 3, 3) + 100 * gauss2d(20, 80, 3, 3)
    data += rng.normal(0, 1.0, SHAPE)
    c, w, h, s = picks_from(data, 1.0, level=8.0, both=False)
    assert len(c) == 6
    why = []
    keep = rules.reject_crossings(data, c, w, h, 1.0, hz, why=why)
    kept = {(int(round(a)), int(round(b))) for a, b in c[keep]}
    assert kept == {(30, 60), (70, 80), (20, 130), (20, 80)}
    assert {r for _, r, _, _ in why} == {"crossing"}
    # far apart in shift the admixture is too small to make a 3 % peak: kept
    keep = rules.reject_crossings(data, c, w, h, 1.0, hz * 20)
    assert keep.all()


def test_sidebands_told_by_one_offset_from_several_parents_a_lone_weak_peak_is_kept():
    # one-sided decoupling sidebands: 0.4-0.6 % of each parent, 35 points to the right
    rng = np.random.default_rng(9)
    data = rng.normal(0, 1.0, SHAPE)
    for cy, cx, a in ((15, 30, 6000), (45, 50, 8000), (75, 40, 5000)):
        data += a * gauss2d(cy, cx, 3, 3) + a * 0.005 * gauss2d(cy, cx + 35, 3, 3)
    data += 30 * gauss2d(45, 110, 3, 3)                  # real: 60 points from its parent, once
    c, w, h, s = picks_from(data, 1.0, level=8.0, both=False)
    assert len(c) == 7
    why = []
    keep = rules.reject_sidebands(c, w, h, why=why)
    kept = {(int(round(a)), int(round(b))) for a, b in c[keep]}
    assert kept == {(15, 30), (45, 50), (75, 40), (45, 110)}
    assert len(why) == 3
    # a single parent with a weak peak beside it: nothing repeats, the peak stays
    one = rng.normal(0, 1.0, SHAPE) + 8000 * gauss2d(45, 50, 3, 3) + 40 * gauss2d(45, 85, 3, 3)
    c, w, h, s = picks_from(one, 1.0, level=8.0, both=False)
    assert len(c) == 2 and rules.reject_sidebands(c, w, h).all()


def test_a_real_peak_on_a_crowded_row_above_the_parents_envelope_is_kept():
    # the row of a strong peak crowded with real peaks on both sides (as in a protein
    # spectrum): its spread is theirs, and a peak higher than any lobe or sideband
    # of the parent can be there (its envelope) is no artefact of it
    rng = np.random.default_rng(10)
    data = 4000 * gauss2d(48, 80, 3, 3) + rng.normal(0, 1.0, SHAPE)
    for cx, a in ((100, 400), (106, 300), (112, 500), (118, 350), (131, 450), (137, 300),
                  (60, 400), (54, 300), (48, 500), (42, 350), (29, 450), (23, 300)):
        data += a * gauss2d(48, cx, 3, 3)
    data += 250 * gauss2d(48, 124.5, 3, 3)
    c = np.array([(48.0, 80.0), (48.0, 124.5)])
    h = np.array([4000.0, 250.0])
    keep = rules.reject_artefacts(data, c, np.full((2, 2), 3.0), h, 1.0)
    assert keep.all()


def lorentz2d(cy, cx, wy, wx, shape=SHAPE):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return 1 / (1 + 4 * ((y - cy) / wy) ** 2) / (1 + 4 * ((x - cx) / wx) ** 2)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_real_peak_on_the_smooth_tail_of_a_strong_peak_is_kept(seed):
    # a 10000-sigma Lorentzian: 57 points out on its row its tail is still ~27 sigma
    # and falls steeply, a spread that is no artefact level; a 15-sigma peak on it stays
    rng = np.random.default_rng(seed)
    data = 10000 * lorentz2d(40, 30, 3, 6) + 15 * gauss2d(40, 87, 3, 6) + rng.normal(0, 1.0, SHAPE)
    c = np.array([[40.0, 30.0], [40.0, 87.0]])
    h = data[40, [30, 87]]
    keep = rules.reject_artefacts(data, c, np.array([[3.0, 6.0], [3.0, 6.0]]), h, 1.0)
    assert keep.tolist() == [True, True]
    # the same spot with only the tail and the noise: no maximum stands out there, and
    # what the noise makes on that row 4 sd above the tail is left to the thresholds
    bare = 10000 * lorentz2d(40, 30, 3, 6) + rng.normal(0, 1.0, SHAPE)
    assert bare[40, 87] < data[40, 87] - 10


def test_a_crossing_needs_a_mirror_peak_not_the_flank_of_a_broad_one():
    # A (30, 60) and B (70, 80) strong; a real weak peak at (30, 80); at the mirror
    # spot (70, 60) there is no peak, only the flank of a broad peak C at (70, 45)
    rng = np.random.default_rng(9)
    data = 5000 * gauss2d(30, 60, 3, 3) + 4000 * gauss2d(70, 80, 3, 3) + 150 * gauss2d(30, 80, 3, 3)
    data += 500 * lorentz2d(70, 45, 3, 25) + rng.normal(0, 1.0, SHAPE)
    c = np.array([[30.0, 60.0], [70.0, 80.0], [30.0, 80.0], [70.0, 45.0]])
    w = np.array([[3.0, 3.0], [3.0, 3.0], [3.0, 3.0], [3.0, 25.0]])
    h = data[c[:, 0].astype(int), c[:, 1].astype(int)]
    assert 0.03 / 5 < data[70, 60] / 4000 < 0.03 * 5      # the flank has the mirror's size
    keep = rules.reject_crossings(data, c, w, h, 1.0, 5.0)
    assert keep.all()
    # with a real mirror peak there, the pair is a crossing again
    data += 120 * gauss2d(70, 60, 3, 3)
    h = data[c[:, 0].astype(int), c[:, 1].astype(int)]
    keep = rules.reject_crossings(data, c, w, h, 1.0, 5.0)
    assert keep.tolist() == [True, True, False, True]


def test_the_fast_level_is_in_noise_units_whatever_the_noise_correlation():
    from nmrpick_ml.resample import monotone
    rng = np.random.default_rng(11)
    white = rng.normal(0, 2.0, (128, 256))
    assert 0.8 < rules.noise_fast_ratio(white, 2.0, 1, 9) <= 1.0
    smooth = monotone(white, (3.0, 3.0))          # interpolated: correlated along both axes
    assert rules.noise_fast_ratio(smooth, float(np.std(smooth)), 1, 9) < 0.6


def test_ridge_picks_on_a_resampled_grid_are_still_rejected():
    # the ridge case on a grid zoomed x3 (as the picker does for 1-point lines): the
    # ridge and the noise are smooth there, and the point-to-point level is small.
    # t1 noise is white from one t1 increment to the next, as the noise is, and the
    # indirect axis's processing (and here the zoom) correlates both alike
    from nmrpick_ml.resample import monotone
    rng = np.random.default_rng(1)
    data = 3000 * gauss2d(20, 80, 3, 3)
    ridge = rng.normal(0, 1, SHAPE[0])
    data[:, 78:83] += 15 * ridge[:, None] * np.exp(-4 * np.log(2) * ((np.arange(78, 83) - 80) / 3) ** 2)
    data += 400 * gauss2d(70, 80, 3, 3)
    data += rng.normal(0, 1.0, SHAPE)
    z = monotone(data, (3.0, 3.0)).astype(np.float64)
    c, w, h, s = picks_from(z, 1.0, both=False)
    w = np.full_like(w, 9.0)
    ridge_picks = (np.abs(c[:, 1] - 240) <= 6) & (np.abs(c[:, 0] - 60) > 9) & (np.abs(c[:, 0] - 210) > 9)
    assert ridge_picks.sum() >= 3
    keep = rules.reject_artefacts(z, c, w, h, 1.0)
    kept = {(int(round(a / 3)), int(round(b / 3))) for a, b in c[keep]}
    assert (20, 80) in kept and (70, 80) in kept
    # the ridge's maxima go; one of its tallest (3 of its sd here) may be left
    assert np.sum(keep & ridge_picks) <= 1 and np.sum(ridge_picks) >= 10


def test_a_multiplet_found_from_a_pick_just_outside_its_outer_line_keeps_that_pick():
    # the one pick of a doublet sits 0.9 point outside its line's maximum (a narrow FWHH
    # given to it), higher than the lines: the multiplet is still built on it
    hz = 1.5
    data = _multiplet((-4.0, 4.0), (100, 100))
    r = rules.apply_rules(data, [[48.0, 75.1]], [[4.0, 1.0]], [120.0], [0.9], noise=0.01,
                          hz_per_point=hz)
    assert len(r["score"]) == 1 and r["n_lines"].tolist() == [2]
    assert r["centre"][0] == pytest.approx([48.0, 80.0], abs=0.05)


def sine_bell(offsets, n_acq, size):
    """Real spectrum of an undamped cosine under a sine-bell-squared window that starts at
    zero (no shift): a line of about no area, flanked by the other sign."""
    t = np.arange(n_acq)
    w = np.sin(np.pi * t / n_acq) ** 2
    line = np.array([np.sum(w * np.cos(2 * np.pi * o * t / size)) - 0.5 * w[0] for o in offsets])
    return line / np.max(np.abs(line))


@pytest.mark.parametrize("apex", [40.0, 40.3])
def test_the_flanks_of_a_line_of_no_area_are_no_peaks_of_the_other_sign(apex):
    # a negative CH2 line narrower than a point, its window starting at zero: positive
    # flanks of up to half its height a point either side (both on the grid's apex,
    # one much lower than the other off it); a real positive peak 3 points from a
    # broad negative one, 1.5x lower, with no mirror image, stays
    y = np.arange(SHAPE[0])
    prof_x = np.exp(-4 * np.log(2) * ((np.arange(SHAPE[1]) - 60) / 3.0) ** 2)
    line = sine_bell(y - apex, SHAPE[0], SHAPE[0])
    data = -3000 * line[:, None] * prof_x[None, :]
    assert data[41, 60] > 1000 and data[39, 60] > 300          # the flanks
    data += -300 * gauss2d(70, 120, 4, 4) + 200 * gauss2d(73, 120, 4, 4)
    data += np.random.default_rng(11).normal(0, 1.0, SHAPE)
    c, _, h, s = picks_from(data, 1.0, level=8.0)
    w = np.where(np.abs(c[:, [1]] - 60) < 2, [0.8, 3.0], [4.0, 4.0])
    why = []
    keep = rules.reject_artefacts(data, c, w, h, 1.0, why=why)
    kept = {(int(a), int(b), int(np.sign(v))) for (a, b), v in zip(c[keep], h[keep])}
    assert (int(round(apex)), 60, -1) in kept                  # the line
    assert not any(b == 60 and sg > 0 for _, b, sg in kept)   # no flank of it
    assert {sg for _, b, sg in kept if b == 120} == {1, -1}   # the real pair of two signs
    assert any(r == "flank" for _, r, _, _ in why)
