"""The classical threshold picker: nmrglue's ``peakpick.pick``, guarded.

nmrglue 0.12 ``pick(..., table=True)`` raises IndexError in ``pack_table``
when no peak passes the threshold; here the lists are taken with
``table=False`` and packed only when there is at least one peak, so an empty
result is an empty, well-typed table and no other IndexError is masked.
"""

import numpy as np
import nmrglue as ng

__all__ = ["pick_nmrglue", "classical_peaks", "NMRGLUE_DTYPE"]

#: Columns of nmrglue's table for a 2D pick with est_params and cluster.
NMRGLUE_DTYPE = np.dtype([("Y_AXIS", "f8"), ("X_AXIS", "f8"), ("cID", "i8"),
                          ("Y_LW", "f8"), ("X_LW", "f8"), ("VOL", "f8")])


def pick_nmrglue(data, pthres, nthres=None, *, table=True):
    """Pick peaks above ``pthres`` (and below ``nthres``) with nmrglue.

    Runs ``nmrglue.peakpick.pick(data, pthres, nthres, algorithm='connected',
    est_params=True, cluster=True)`` with Gaussian lineshapes.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    pthres : float
        Positive threshold (data units).
    nthres : float, optional
        Negative threshold (a negative value); None picks no negative peaks.
    table : bool, optional
        True: a record array with nmrglue's columns ``Y_AXIS, X_AXIS, cID,
        Y_LW, X_LW, VOL`` (points, 0-based; linewidths FWHH in points; zero rows
        when nothing passes). False: nmrglue's ``(locations, cluster_ids,
        scales, amps)`` lists, as ``pick(..., table=False)`` returns them.

    Examples
    --------
    >>> y, x = np.mgrid[0:32, 0:32]
    >>> d = np.exp(-((y - 10) ** 2 + (x - 20) ** 2) / 4.0)
    >>> t = pick_nmrglue(d, 0.5)
    >>> (t.Y_AXIS[0], t.X_AXIS[0]), len(pick_nmrglue(d, 2.0))
    ((np.float64(10.0), np.float64(20.0)), 0)
    """
    locations, cluster_ids, scales, amps = ng.peakpick.pick(
        data, pthres, nthres, algorithm="connected", est_params=True, cluster=True,
        table=False)
    if not table:
        return locations, cluster_ids, scales, amps
    if len(locations) == 0:
        return np.zeros(0, dtype=NMRGLUE_DTYPE).view(np.recarray)
    rec = ng.peakpick.pack_table(locations, cluster_ids, scales, amps,
                                 axis_names=["Y", "X"])
    out = np.zeros(len(rec), dtype=NMRGLUE_DTYPE)
    for name in NMRGLUE_DTYPE.names:
        out[name] = rec[name]
    return out.view(np.recarray)


def classical_peaks(data, pthres, nthres=None, *, noise=None):
    """nmrglue's threshold picks as :class:`~nmrpick_ml.peaks.Peaks`.

    Positions, widths (FWHH, points), volumes and cluster ids are nmrglue's;
    HEIGHT is the data at the rounded centre; every SCORE is 1.0 (threshold
    picks carry no confidence of their own).

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    pthres : float
    nthres : float, optional
        A negative value; None picks no negative peaks.
    noise : float, optional
        The noise the thresholds came from (kept in the result).
    """
    from .peaks import Peaks
    return Peaks.from_records(pick_nmrglue(data, pthres, nthres), data, score=1.0,
                              method="nmrglue", noise=noise, pthres=float(pthres),
                              nthres=None if nthres is None else float(nthres))
