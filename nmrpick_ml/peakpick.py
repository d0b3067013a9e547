"""Drop-in for ``nmrglue.analysis.peakpick``: the same ``pick``, run by the Mask R-CNN.

Change one import and keep the script::

    from nmrglue.analysis import peakpick      # before
    from nmrpick_ml import peakpick            # after
    peaks = peakpick.pick(data, pthres=5e5, nthres=-5e5)

:func:`pick` has nmrglue 0.12's signature and returns what nmrglue returns:
with ``table=True`` a ``numpy.recarray`` with nmrglue's columns and dtypes
(``Y_AXIS, X_AXIS, cID, Y_LW, X_LW, VOL`` for a 2-D pick with ``est_params``
and ``cluster``), with ``table=False`` nmrglue's lists. Peaks are found by
:func:`nmrpick_ml.pick` with ``method="maskrcnn"`` (positions in points).

Differences from nmrglue 0.12, all deliberate:

* 2-D data only (ValueError otherwise).
* ``msep``, ``algorithm``, ``lineshapes``, ``diag``, ``c_struc`` and
  ``c_ndil`` tune nmrglue's own segmentation; the network does not use them.
  They are accepted (``algorithm`` must still be one of nmrglue's names) and a
  non-default value gives a UserWarning naming what was ignored (Python's
  default warning filter shows it once per calling line).
* Where nmrglue crashes, this returns a result: no peak beyond the thresholds
  gives an empty table of the same dtype (nmrglue: IndexError in
  ``pack_table``), and negative peaks with ``algorithm='thres'`` or
  ``'thres-fast'`` are picked (nmrglue: AttributeError / ValueError).
* ``table=True`` positions are sub-point (nmrglue's are the integer indices
  of the maxima, as floats); ``table=False`` locations are those positions
  rounded to the nearest point, as integer tuples like nmrglue's, so that
  ``data[loc]`` still works.
* ``X_LW``/``Y_LW`` are measured full widths at half height (points), like
  nmrglue's default Gaussian FWHM estimate; ``VOL`` is the Gaussian volume
  ``height x widths x pi / (4 ln 2)`` rather than nmrglue's sum over the
  segment; ``cID`` groups peaks whose half-height ellipses touch (nmrglue:
  peaks in one connected region above the threshold).
* Thresholds must be meaningful: ``pthres`` > 0 (or None: no positive
  peaks) and ``nthres`` < 0 (or None). ``pick(data, None)`` with no
  ``nthres`` raises ValueError (nmrglue: a TypeError): like nmrglue, this
  drop-in has no default threshold. :func:`nmrpick_ml.pick` has one
  (``pthres=None``: a multiple of the robust noise).

Torch is imported only when a spectrum has something to pick.
"""

import warnings

import numpy as np

from ._errors import NmrpickError
from ._validate import check_number

__all__ = ["pick"]

#: nmrglue's peak picking algorithms (accepted; the network replaces them).
ALGORITHMS = ("thres", "thres-fast", "downward", "connected")

#: Parameters of nmrglue's segmentation that the network does not use.
IGNORED = ("msep", "algorithm", "lineshapes", "diag", "c_struc", "c_ndil")


def pick(data, pthres, nthres=None, msep=None, algorithm="connected", est_params=True,
         lineshapes=None, edge=None, diag=False, c_struc=None, c_ndil=0, cluster=True,
         table=True, axis_names=("A", "Z", "Y", "X"), *, model=None, device="cpu",
         score_threshold=None, fit=False):
    """Pick the peaks of a 2-D spectrum, as ``nmrglue.analysis.peakpick.pick`` does.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
        Real spectrum (axis 0 indirect, axis 1 direct); 2-D only.
    pthres : float or None
        Minimum height of positive peaks (data units, > 0); None picks no
        positive peaks.
    nthres : float, optional
        Negative threshold (a negative value): peaks below it are picked too.
        None (default) picks no negative peaks.
    msep, algorithm, lineshapes, diag, c_struc, c_ndil : optional
        nmrglue's segmentation settings. Accepted for compatibility and
        ignored (a UserWarning names any non-default one); ``algorithm`` must
        be one of 'thres', 'thres-fast', 'downward', 'connected'.
    est_params : bool, optional
        True (default): linewidths and volumes (``*_LW``, ``VOL`` or
        ``scales``, ``amps``).
    edge : sequence of 2 numbers, optional
        Added to every location (the corner of the region picked), as nmrglue.
    cluster : bool, optional
        True (default): cluster ids (``cID`` or ``cluster_ids``).
    table : bool, optional
        True (default): a record array. False: nmrglue's lists.
    axis_names : sequence of str, optional
        The last two name the columns (axis 0, axis 1); default ``Y``, ``X``.
    model : Picker or str, optional
        A :class:`~nmrpick_ml.picker.Picker` (:func:`nmrpick_ml.load_model`)
        or a weights path; default the shipped weights.
        (Keyword-only, not in nmrglue.)
    device : str, optional
        Torch device, default 'cpu'. (Keyword-only, not in nmrglue.)
    score_threshold : float, optional
        Minimum network score 0..1; default from the model's config.
        (Keyword-only, not in nmrglue.)
    fit : bool, optional
        Fit the picks with lineshapes (:func:`nmrpick_ml.fit.fit_peaks`): the
        positions, ``*_LW`` (``scales``) and ``VOL`` (``amps``) are then the
        fitted centres, FWHH and analytic volumes, and peaks the residual
        search adds are included. (Keyword-only, not in nmrglue.)

    Returns
    -------
    table : numpy.recarray, when ``table`` is True
        One row per peak, positive peaks first, each in raster order; columns
        (with the default ``axis_names``):

        ======  =====  ====================================================
        Y_AXIS  float  position on axis 0, points (0-based, sub-point) + edge
        X_AXIS  float  position on axis 1, points + edge
        cID     int    cluster id from 1 (only when ``cluster``)
        Y_LW    float  full width at half height on axis 0, points
                       (only when ``est_params``)
        X_LW    float  same on axis 1 (only when ``est_params``)
        VOL     float  volume, data units x points^2 (only when ``est_params``)
        ======  =====  ====================================================

        Zero rows, same columns, when nothing is found.
    locations, cluster_ids, scales, amps : lists, when ``table`` is False
        As nmrglue returns them for the flags given: ``(locations,
        cluster_ids, scales, amps)``, ``(locations, scales, amps)``,
        ``(locations, cluster_ids)`` or ``locations`` alone. ``locations``:
        tuples of two numpy.int64 (nearest point, + edge); ``cluster_ids``:
        numpy.int32; ``scales``: tuples of two floats (FWHH, points); ``amps``:
        volumes as scalars of the data's float type.

    Raises
    ------
    ValueError
        ``data`` not 2-D, complex or not finite; ``pthres`` <= 0 or ``nthres``
        >= 0; both None (nothing to pick; nmrglue has no default threshold
        either); unknown ``algorithm``; ``edge`` or ``axis_names`` of the wrong
        length. (:class:`~nmrpick_ml.NmrpickError` is a ValueError.)
    ModelIntegrityError
        The weights are missing or damaged (only when there is something to
        pick).

    Warns
    -----
    UserWarning
        A non-default ``msep``, ``algorithm``, ``lineshapes``, ``diag``,
        ``c_struc`` or ``c_ndil``: ignored.

    See Also
    --------
    nmrpick_ml.pick : the same picker with ppm, Hz, heights and scores.

    Examples
    --------
    Nothing above the threshold: an empty table with nmrglue's columns (and
    no model is loaded).

    >>> t = pick(np.zeros((64, 64)), pthres=1.0)
    >>> len(t), t.dtype.names
    (0, ('Y_AXIS', 'X_AXIS', 'cID', 'Y_LW', 'X_LW', 'VOL'))
    >>> pick(np.zeros((64, 64)), pthres=1.0, table=False)
    ([], [], [], [])

    A spectrum with a peak (uses the shipped weights):

    >>> y, x = np.mgrid[0:64, 0:64]
    >>> d = 100 * np.exp(-((y - 20) ** 2 + (x - 30) ** 2) / 8.0)
    >>> d += np.random.default_rng(0).normal(0, 1, d.shape)
    >>> t = pick(d, pthres=20.0)                     # doctest: +SKIP
    >>> round(t.Y_AXIS[0]), round(t.X_AXIS[0])       # doctest: +SKIP
    (20, 30)
    """
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise NmrpickError(f"`data` must be a 2-D array: nmrpick_ml.peakpick picks 2-D "
                           f"spectra only (nmrglue.analysis.peakpick does 1-D and N-D); got "
                           f"shape {arr.shape}")
    pthres = check_number(pthres, "pthres", low=0, low_open=True, allow_none=True)
    nthres = check_number(nthres, "nthres", allow_none=True)
    if nthres is not None and nthres >= 0:
        raise NmrpickError(f"`nthres` must be negative (peaks below it are picked); got {nthres!r}")
    if pthres is None and nthres is None:
        # nmrglue has no default threshold either (it fails with a TypeError here);
        # nmrpick_ml.pick(dic, data, pthres=None) is the one with a noise-based default
        raise NmrpickError("`pthres` and `nthres` are both None: nothing to pick. nmrglue's "
                           "pick has no default threshold; give pthres (e.g. 8 x the noise), "
                           "or use nmrpick_ml.pick, whose pthres=None means a noise-based "
                           "default")
    if algorithm not in ALGORITHMS:
        raise NmrpickError(f"`algorithm` must be one of {', '.join(map(repr, ALGORITHMS))}; "
                           f"got {algorithm!r}")
    if edge is not None and len(edge) != 2:
        raise NmrpickError(f"`edge` must hold one value per axis (2); got {edge!r}")
    names = [str(a) for a in axis_names]
    if len(names) < 2:
        raise NmrpickError(f"`axis_names` must hold at least 2 names (the last two name the "
                           f"axes); got {axis_names!r}")
    defaults = (("msep", msep is None), ("algorithm", algorithm == "connected"),
                ("lineshapes", lineshapes is None), ("diag", not diag),
                ("c_struc", c_struc is None), ("c_ndil", c_ndil == 0))
    ignored = [name for name, is_default in defaults if not is_default]
    if ignored:
        warnings.warn(f"nmrpick_ml.peakpick.pick ignores {', '.join(ignored)} (nmrglue's "
                      "segmentation settings; the Mask R-CNN finds and separates the peaks "
                      "itself)", UserWarning, stacklevel=2)
    from ._validate import check_spectrum
    arr = check_spectrum(arr)

    centre, fwhh, vol, cid = _find(arr, pthres, nthres, model, device, score_threshold, fit)
    if table:
        if edge is not None:
            centre = centre + np.asarray(edge, dtype=float)
        return _pack(names[-2:], centre, cid, fwhh, vol, cluster, est_params)
    return _lists(centre, cid, fwhh, vol, arr.dtype.type, cluster, est_params, edge)


def _find(data, pthres, nthres, model, device, score_threshold, fit=False):
    """centre (k, 2), fwhh (k, 2), volume (k,), cluster id (k,): positive peaks
    first, each sign in raster order."""
    empty = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0, int))
    pos = pthres is not None and bool(np.any(data >= pthres))
    neg = nthres is not None and bool(np.any(data <= nthres))
    if not (pos or neg):          # nothing reaches a threshold: no peak, no model needed
        return empty
    from .picking import find_peaks
    sign = 1.0
    opts = dict(method="maskrcnn", model=model, device=device, score_threshold=score_threshold)
    if pos:
        peaks = find_peaks(data, pthres=pthres, nthres=nthres if neg else None, **opts)
    else:                          # negative peaks only: the positive ones of -data
        sign = -1.0
        peaks = find_peaks(-data, pthres=-nthres, **opts)
    if fit and len(peaks):
        from .fit import fit_peaks
        r = fit_peaks(data if sign > 0 else -data, peaks.centre, peaks.fwhh, peaks.height,
                      cluster=peaks.cluster, noise=peaks.noise, threshold=peaks.pthres)
        peaks = peaks.replace(centre=r.centre, fwhh=r.fwhh, height=r.height, volume=r.volume,
                              score=np.ones(len(r)), cluster=r.cluster + 1, j_hz=None, n_lines=None)
    height = sign * peaks.height
    order = np.lexsort((peaks.centre[:, 1], peaks.centre[:, 0], height < 0))
    return (peaks.centre[order], peaks.fwhh[order], sign * peaks.volume[order],
            peaks.cluster[order])


def _pack(anames, centre, cid, fwhh, vol, cluster, est_params):
    """nmrglue's ``pack_table`` layout: AXIS columns, cID, LW columns, VOL."""
    dt = [(f"{a}_AXIS", float) for a in anames]
    if cluster:
        dt.append(("cID", np.dtype("int")))       # as nmrglue's append_column(..., 'int')
    if est_params:
        dt += [(f"{a}_LW", float) for a in anames] + [("VOL", float)]
    out = np.zeros(len(centre), dtype=dt).view(np.recarray)
    for i, a in enumerate(anames):
        out[f"{a}_AXIS"] = centre[:, i]
        if est_params:
            out[f"{a}_LW"] = fwhh[:, i]
    if cluster:
        out["cID"] = cid
    if est_params:
        out["VOL"] = vol
    return out


def _lists(centre, cid, fwhh, vol, ftype, cluster, est_params, edge):
    """nmrglue's ``table=False`` lists for the flags given."""
    locations = [tuple(np.rint(c).astype(np.int64)) for c in centre]
    if edge is not None:           # nmrglue's add_edge, with its types
        locations = [tuple(i + j for i, j in zip(edge, loc)) for loc in locations]
    out = [locations]
    if cluster:
        out.append([np.int32(c) for c in cid])
    if est_params:
        out.append([tuple(float(w) for w in f) for f in fwhh])
        out.append([ftype(v) for v in vol])
    return out[0] if len(out) == 1 else tuple(out)
