"""Strong negative peaks that a positive-only pick leaves out.

A multiplicity-edited HSQC has its CH2 peaks negative; picked without
``--negative`` they are silently missing. :func:`count_negative_peaks` counts
the negative peaks stronger than a multiple of the noise so that the command
can say so.
"""

import numpy as np

from ._defaults import NEGATIVE_WARN_SNR

__all__ = ["count_negative_peaks"]


def count_negative_peaks(data, noise, snr=NEGATIVE_WARN_SNR, box=None):
    """Number of negative peaks deeper than ``snr`` x ``noise``.

    A negative peak is a local minimum (3 x 3 neighbourhood) below
    ``-snr x noise``; minima closer than 3 points along both axes count once.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    noise : float
        Noise standard deviation (data units).
    snr : float, optional
        Depth, in noise units (default :data:`nmrpick_ml._defaults.NEGATIVE_WARN_SNR`).
    box : ((y0, y1), (x0, x1)), optional
        Only minima inside these point ranges count (a picked region).

    Returns
    -------
    int

    Examples
    --------
    >>> d = np.zeros((32, 32)); d[5, 5] = -50.0; d[20, 20] = -10.0; d[25, 8] = 80.0
    >>> count_negative_peaks(d, 1.0)
    1
    """
    from scipy import ndimage
    if not noise > 0:
        return 0
    d = np.asarray(data, dtype=np.float32)
    deep = d < -snr * noise
    if not deep.any():
        return 0
    minima = deep & (d == ndimage.minimum_filter(d, size=3, mode="nearest"))
    if box is not None:
        (y0, y1), (x0, x1) = box
        inside = np.zeros_like(minima)
        inside[max(int(np.ceil(y0)), 0):int(np.floor(y1)) + 1,
               max(int(np.ceil(x0)), 0):int(np.floor(x1)) + 1] = True
        minima &= inside
    # plateaus and near-twin minima: one per connected group after a small dilation
    _, n = ndimage.label(ndimage.binary_dilation(minima, iterations=1))
    return int(n)
