"""nmrpick_ml.peakpick as a drop-in for nmrglue.analysis.peakpick.

One script body (:func:`user_script`) runs unchanged with either module on
the same spectrum, and what comes back must have the same structure: record
array dtypes (names and kinds), Python/numpy types, and the shapes of the
``table=False`` tuples. Then the cases where nmrglue 0.12 crashes.
Tests that run the network take the ``shipped_model`` fixture.
"""

import inspect
import subprocess
import sys
import warnings

import numpy as np
import pytest
from nmrglue.analysis import peakpick as ng_peakpick

from conftest import TRUTH, gaussian_spectrum
from nmrpick_ml import peakpick

PTHRES = 20.0       # data units; the test spectrum has unit noise


def user_script(pp, data):
    """What a user's nmrglue script does with ``pp.pick``; returns every result by name."""
    return {
        "table": pp.pick(data, PTHRES),
        "table, no cluster": pp.pick(data, PTHRES, cluster=False),
        "table, no params": pp.pick(data, PTHRES, est_params=False),
        "table, bare": pp.pick(data, PTHRES, est_params=False, cluster=False),
        "table, axis names": pp.pick(data, PTHRES, axis_names=["F1", "F2"]),
        "table, edge": pp.pick(data, PTHRES, edge=(100, 200)),
        "lists": pp.pick(data, PTHRES, table=False),
        "lists, no cluster": pp.pick(data, PTHRES, table=False, cluster=False),
        "lists, no params": pp.pick(data, PTHRES, table=False, est_params=False),
        "lists, bare": pp.pick(data, PTHRES, table=False, est_params=False, cluster=False),
        "lists, edge": pp.pick(data, PTHRES, table=False, edge=(100, 200)),
    }


def structure(obj):
    """Type structure of a pick result, without the values."""
    if isinstance(obj, np.ndarray):
        return (type(obj).__name__, type(obj.dtype).__name__, obj.dtype.type.__name__,
                [(n, obj.dtype[n].kind, obj.dtype[n].itemsize) for n in obj.dtype.names])
    if isinstance(obj, tuple):
        return ("tuple", len(obj), [structure(e) for e in obj])
    if isinstance(obj, list):
        first = obj[0] if obj else None
        inner = (("tuple", len(first), sorted({type(v).__name__ for v in first}))
                 if isinstance(first, tuple) else type(first).__name__)
        return ("list", inner)
    return type(obj).__name__


def found_within(positions, truth, tol=1.0):
    """True where each true peak (y, x) has a position within ``tol`` points."""
    pos = np.asarray(positions, dtype=float).reshape(-1, 2)
    return np.array([len(pos) > 0 and np.max(np.abs(pos - t), axis=1).min() <= tol
                     for t in truth])


# --------------------------------------------------------------------------- #
# without the network
# --------------------------------------------------------------------------- #

def test_signature_is_nmrglues():
    ours = list(inspect.signature(peakpick.pick).parameters.values())
    theirs = list(inspect.signature(ng_peakpick.pick).parameters.values())
    for a, b in zip(ours, theirs):
        assert (a.name, a.kind) == (b.name, b.kind)
        default = list(a.default) if isinstance(a.default, tuple) else a.default
        assert default == b.default, a.name
    assert all(p.kind is p.KEYWORD_ONLY for p in ours[len(theirs):])   # our extras


def test_nothing_above_threshold_is_empty_where_nmrglue_crashes():
    data = gaussian_spectrum((48, 64), np.array([(20.0, 30.0, 50.0, 3.0, 3.0)]))
    high = float(data.max()) + 1.0
    with pytest.raises(IndexError):
        ng_peakpick.pick(data, high)                       # nmrglue 0.12: pack_table crash
    for kw in ({}, {"cluster": False}, {"est_params": False},
               {"est_params": False, "cluster": False}, {"axis_names": ("F1", "F2")}):
        ours = peakpick.pick(data, high, **kw)
        theirs = ng_peakpick.pick(data, 40.0, **kw)        # a peak: nmrglue's dtype
        assert len(ours) == 0
        assert structure(ours) == structure(theirs), kw
        assert ours.dtype == theirs.dtype, kw
    for kw in ({}, {"cluster": False}, {"est_params": False},
               {"est_params": False, "cluster": False}):
        assert peakpick.pick(data, high, table=False, **kw) == \
            ng_peakpick.pick(data, high, table=False, **kw)
    with pytest.raises(ValueError, match="both None"):     # nothing asked for: as nmrglue,
        peakpick.pick(data, None, None)                    # no default threshold


def test_ignored_parameters_warn_and_are_validated():
    zeros = np.zeros((32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        peakpick.pick(zeros, 1.0, algorithm="connected", msep=None, diag=False, c_ndil=0)
    with pytest.warns(UserWarning, match="ignores msep, algorithm, diag, c_ndil"):
        peakpick.pick(zeros, 1.0, msep=(2, 2), algorithm="thres", diag=True, c_ndil=1)
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        peakpick.pick(zeros, 1.0, algorithm="fast")


@pytest.mark.parametrize("shape", [(64,), (4, 32, 32), (2, 2, 8, 8)])
def test_2d_only(shape):
    with pytest.raises(ValueError, match=r"2-D spectra only .*; got shape \(" + str(shape[0])):
        peakpick.pick(np.ones(shape), 0.5)


@pytest.mark.parametrize("kw, match", [
    ({"pthres": 0.0}, "`pthres` must be > 0"),
    ({"pthres": 1.0, "nthres": 1.0}, "`nthres` must be negative"),
    ({"pthres": 1.0, "edge": (1, 2, 3)}, "`edge` must hold one value per axis"),
    ({"pthres": 1.0, "axis_names": ["X"]}, "`axis_names` must hold at least 2"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        peakpick.pick(np.zeros((16, 16)), **kw)


def test_import_and_empty_pick_never_import_torch():
    code = ("import sys, numpy as np\n"
            "from nmrpick_ml import peakpick\n"
            "peakpick.pick(np.zeros((32, 32)), 1.0)\n"
            "print('torch' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


# --------------------------------------------------------------------------- #
# with the network
# --------------------------------------------------------------------------- #

def test_same_script_same_structure(shipped_model):
    data = gaussian_spectrum()
    theirs = user_script(ng_peakpick, data)
    ours = user_script(peakpick, data)
    for name in theirs:
        assert structure(ours[name]) == structure(theirs[name]), name
        if isinstance(theirs[name], np.ndarray):
            assert ours[name].dtype == theirs[name].dtype, name
    strong = TRUTH[TRUTH[:, 2] >= 20][:, :2]
    t = ours["table"]
    assert found_within(np.column_stack([t.Y_AXIS, t.X_AXIS]), strong).all()
    assert np.all(t.cID >= 1) and np.all(t.Y_LW > 0) and np.all(t.VOL > 0)
    e = ours["table, edge"]
    assert np.allclose(e.Y_AXIS - 100, t.Y_AXIS) and np.allclose(e.X_AXIS - 200, t.X_AXIS)
    locs = ours["lists"][0]
    assert [tuple(int(v) for v in loc) for loc in locs] == \
        [(int(round(y)), int(round(x))) for y, x in zip(t.Y_AXIS, t.X_AXIS)]
    assert [data[loc] for loc in locs]                      # usable as indices, as nmrglue's
    assert [tuple(np.add(loc, (100, 200))) for loc in locs] == ours["lists, edge"][0]


@pytest.mark.parametrize("algorithm", ["thres", "thres-fast"])
def test_negative_peaks_where_nmrglue_crashes(shipped_model, algorithm):
    truth = np.array([(20.3, 40.7, 80.0, 3.0, 4.0), (60.2, 150.4, -90.0, 3.0, 4.0),
                      (100.6, 90.1, -60.0, 3.5, 3.0)])
    data = gaussian_spectrum((128, 256), truth, seed=3)
    with pytest.raises((AttributeError, ValueError)):       # nmrglue 0.12
        ng_peakpick.pick(data, PTHRES, -PTHRES, msep=(2, 2), algorithm=algorithm)
    with pytest.warns(UserWarning, match="ignores msep, algorithm"):
        t = peakpick.pick(data, PTHRES, -PTHRES, msep=(2, 2), algorithm=algorithm)
    assert found_within(np.column_stack([t.Y_AXIS, t.X_AXIS]), truth[:, :2]).all()
    assert list(np.sign(t.VOL)) == [1.0, -1.0, -1.0]        # positive first, as nmrglue
    neg = peakpick.pick(data, None, -PTHRES)                # negative peaks only
    assert len(neg) == 2 and np.all(neg.VOL < 0)
    assert neg.dtype == ng_peakpick.pick(data, None, -PTHRES).dtype
