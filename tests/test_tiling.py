"""Tiling: the area searched does not depend on the inference tile."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import gaussian_spectrum
from nmrpick_ml._noise import estimate_noise
from nmrpick_ml.tiling import SEAM_SLACK, ActiveGrid, core_bounds, cut_tiles, tile_starts


@settings(max_examples=40, deadline=None)
@given(n0=st.integers(20, 400), n1=st.integers(20, 400), tile=st.sampled_from([32, 64, 128]),
       seed=st.integers(0, 10_000), n_marks=st.integers(0, 6))
def test_active_grid_marks_the_tiles_holding_a_point_and_keeps_their_cores(n0, n1, tile, seed,
                                                                           n_marks):
    rng = np.random.default_rng(seed)
    marked = np.zeros((n0, n1), bool)
    marked[rng.integers(0, n0, n_marks), rng.integers(0, n1, n_marks)] = True
    grid = ActiveGrid(marked, tile, 16)
    sy, sx = tile_starts(n0, tile, 16), tile_starts(n1, tile, 16)
    by, bx = core_bounds(sy, n0, tile), core_bounds(sx, n1, tile)
    for iy, y0 in enumerate(sy):
        for ix, x0 in enumerate(sx):
            holds = bool(marked[y0:y0 + tile, x0:x0 + tile].any())
            assert grid.active[iy, ix] == holds
            # at the grid's own tile, a tile is run exactly when it is active
            assert grid.covers((by[iy], bx[ix])) == holds
    # cut at the grid's tile, the tiles run are the active ones (as before the grid)
    _, origins, _ = cut_tiles(np.zeros((1, n0, n1), np.float32), tile, 16, keep=grid, stack=False)
    assert len(origins) == int(grid.active.sum())
    # a point is held when it lies in an active core widened by SEAM_SLACK
    for cy, cx in rng.uniform(-1, [n0, n1], (50, 2)):
        want = any(grid.active[iy, ix]
                   and lo - 0.5 - SEAM_SLACK <= cy < hi - 0.5 + SEAM_SLACK
                   and xlo - 0.5 - SEAM_SLACK <= cx < xhi - 0.5 + SEAM_SLACK
                   for iy, (lo, hi) in enumerate(by) for ix, (xlo, xhi) in enumerate(bx))
        assert grid.holds(cy, cx) == want


def test_larger_tiles_run_every_active_core():
    marked = np.zeros((300, 700), bool)
    marked[[10, 150, 290], [650, 300, 20]] = True
    grid = ActiveGrid(marked, 128, 24)
    _, origins, cores = cut_tiles(np.zeros((1, 300, 700), np.float32), 256, 24, keep=grid,
                                  stack=False)
    # every active grid core lies in the union of the cores of the tiles run
    for (iy, ix) in zip(*np.nonzero(grid.active)):
        (ylo, yhi), (xlo, xhi) = grid.ybounds[iy], grid.xbounds[ix]
        cy, cx = (ylo + yhi) / 2, (xlo + xhi) / 2
        assert any(a <= cy < b and c <= cx < d for (a, b), (c, d) in cores)
    assert len(origins) < 6        # of the 6 tiles of 256 here; the empty one is not run


@pytest.mark.parametrize("seed", [0, 1])
def test_picks_do_not_depend_on_the_inference_tile(seed):
    # one strong peak and weak (4 sigma) ones in an area that no 128-point tile
    # with a point above the skip level reaches, but a 256-point tile does: the
    # larger tile must not search (and pick noise in) the area the smaller skips
    from nmrpick_ml.picker import default_picker
    truth = np.array([(60.0, 60.0, 200.0, 3.0, 4.0)] + [(y, x, 4.0, 3.0, 4.0) for y, x in [
        (30, 150), (80, 170), (130, 140), (180, 175), (220, 160), (110, 185)]])
    data = gaussian_spectrum((256, 512), truth, seed=seed)
    noise = estimate_noise(data)
    picker = default_picker()
    small = picker.detect(data, noise, 3 * noise, tile=128)
    big = picker.detect(data, noise, 3 * noise, tile=256)
    assert big.n_tiles < small.n_tiles
    assert len(big) == len(small) >= 1
    np.testing.assert_allclose(big.centre, small.centre, atol=0.5)
