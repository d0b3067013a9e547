"""The fast stage code computes what the straightforward scipy/numpy code computes."""

import warnings

import numpy as np
from hypothesis import given, settings, strategies as st
from scipy.ndimage import maximum_filter

from nmrpick_ml import _noise
from nmrpick_ml.resample import local_maxima, typical_fwhh
from nmrpick_ml.engines import mask_extents


@settings(max_examples=60, deadline=None)
@given(n0=st.integers(1, 40), n1=st.integers(1, 40), seed=st.integers(0, 10_000),
       cross=st.booleans(), rounded=st.booleans())
def test_local_maxima_equal_a_maximum_filter(n0, n1, seed, cross, rounded):
    d = np.random.default_rng(seed).normal(size=(n0, n1)).astype(np.float32)
    if rounded:
        d = np.round(d)                                 # plateaus: ties with neighbours
    fp = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool) if cross else np.ones((3, 3), bool)
    d64 = d.astype(np.float64)
    want = np.argwhere((d64 == maximum_filter(d64, footprint=fp, mode="nearest")) & (d64 > 0.5))
    np.testing.assert_array_equal(local_maxima(d, 0.5, cross=cross), want)


def test_typical_fwhh_of_known_gaussians():
    y, x = np.mgrid[0:200, 0:300]
    d = np.zeros((200, 300), np.float32)
    k = 4 * np.log(2)
    for cy, cx in [(40, 50), (100, 150), (160, 250), (60, 220)]:
        d += 100 * np.exp(-k * ((y - cy) ** 2 / 3.0 ** 2 + (x - cx) ** 2 / 5.0 ** 2))
    np.testing.assert_allclose(typical_fwhh(d, 1.0), [3.0, 5.0], atol=0.1)


@settings(max_examples=60, deadline=None)
@given(n0=st.integers(1, 40), n1=st.integers(1, 30), seed=st.integers(0, 10_000),
       p_nan=st.sampled_from([0.0, 0.3, 0.9, 1.0]))
def test_column_median_equals_numpys_nanmedian(n0, n1, seed, p_nan):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n0, n1)).astype(np.float32)
    d[rng.random(d.shape) < p_nan] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanmedian(d, axis=0)
    got = _noise._nanmedian1(d.T.copy())
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_mask_extents_are_unchanged_by_the_cached_resize():
    masks = np.zeros((2, 28, 28), np.float32)
    masks[:, 10:18, 6:22] = 1.0
    boxes = np.array([[10.0, 20.0, 18.0, 36.0], [10.0, 20.0, 18.0, 36.0]])
    a = mask_extents(masks, boxes, (64, 64))
    b = mask_extents(masks, boxes, (64, 64))          # second call: cached matrices
    np.testing.assert_array_equal(a, b)
    assert a[0, 0] < a[0, 1] and a[0, 1] <= 17       # rows < columns, inside the box
