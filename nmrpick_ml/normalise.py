"""The network's input: spectrum data in noise units (the one normalisation).

Shared by training (``train.py``), the picker (``picker.py``) and the
benchmarks, so that the network always sees what it was trained on. Nothing
here imports torch.
"""

from __future__ import annotations

import numpy as np

from ._noise import NOISE_FLOOR_FRACTION, estimate_noise

__all__ = ["noise_scale", "normalise"]


def noise_scale(data, noise=None):
    """The scale that :func:`normalise` divides by: the noise, floored.

    ``noise`` (from :func:`nmrpick_ml._noise.estimate_noise` of the *whole*
    spectrum) is floored at ``1e-4 * max|data|`` so that noise-free spectra
    (the paper's protocol) work too.
    """
    peak = float(np.max(np.abs(data))) if np.size(data) else 0.0
    if noise is None:
        noise = estimate_noise(data)
    s = max(float(noise), NOISE_FLOOR_FRACTION * peak)
    return s if s > 0 else 1.0


def normalise(data, noise):
    """Network input from spectrum data in noise units (the one normalisation).

    The data are divided by the noise scale of the whole spectrum (so the file's
    arbitrary intensity scale drops out) and compressed with a signed asinh at
    three scales, one per channel: ``asinh(z)``, ``asinh(z/10)``, ``asinh(z/100)``.
    Weak peaks (z ~ 5) stay visible in the first channel, strong ones keep
    their shape in the last. Never quantised.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    noise : float
        Scale from :func:`noise_scale` (data units).

    Returns
    -------
    ndarray of shape (3, N1, N2), float32

    Examples
    --------
    >>> x = normalise(np.array([[0.0, 10.0]]), 1.0)
    >>> x.shape, round(float(x[0, 0, 1]), 3)
    ((3, 1, 2), 2.998)
    """
    data = np.asarray(data)
    out = np.empty((3,) + data.shape, np.float32)   # one allocation: large spectra
    np.divide(data, noise, out=out[0], casting="unsafe")
    np.divide(out[0], np.float32(10.0), out=out[1])
    np.divide(out[0], np.float32(100.0), out=out[2])
    return np.arcsinh(out, out=out)
