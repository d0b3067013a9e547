"""Peak picking of 2D spectra: :func:`pick`.

``method="nmrglue"`` is nmrglue's connected-segment threshold picker
(:mod:`nmrpick_ml._classical`). ``method="maskrcnn"`` is the Mask R-CNN path
(tiling + model); it imports torch inside the branch only.
"""

import warnings

import numpy as np

# the defaults live in one place (_defaults), quoted by --help and the README
from ._defaults import DEFAULT_OVERLAP, DEFAULT_SNR, MODEL_SNR
from ._errors import NmrpickError
from ._noise import estimate_noise
from ._validate import (PEAK_DTYPE, check_choice, check_number, check_spectrum, check_uc,
                        empty_peaks, is_constant)

__all__ = ["pick", "noise_threshold", "METHODS", "DEFAULT_SNR", "MODEL_SNR"]

#: Picking methods.
METHODS = ("nmrglue", "maskrcnn")


def pick(dic, data, uc=None, *, pthres=None, nthres=None, snr=None, method="maskrcnn",
         score_threshold=None, tile=128, overlap=None, batch_size=8, device="cpu",
         model=None, table=True, as_frame=False, progress=None, info=None):
    """Pick the peaks of a 2D spectrum.

    A drop-in for ``nmrglue.analysis.peakpick.pick`` on the ``dic, data, uc``
    triple that nmrglue's readers give, returning positions in points, ppm and
    linewidths in points and Hz.

    Parameters
    ----------
    dic : dict
        Parameter dictionary of the spectrum (NMRPipe, Sparky, Bruker or our
        ``.npy`` sidecar); used to build ``uc`` when it is None.
    data : ndarray of shape (N1, N2)
        Real, finite spectrum; axis 0 indirect, axis 1 direct.
    uc : sequence of nmrglue unit_conversion, one per axis, optional
        Built from ``dic`` when None (``make_uc``/``guess_udic`` +
        ``uc_from_udic``).
    pthres : float, optional
        Positive threshold in data units. Default ``snr`` x noise, with the
        noise from :func:`nmrpick_ml._noise.estimate_noise`.
    nthres : float, optional
        Negative threshold (a negative value) to pick negative peaks too; None
        (default) picks no negative peaks. ``nthres=-pthres`` is symmetric.
    snr : float, optional
        Threshold as a multiple of the noise when ``pthres`` is None; default
        8 for 'nmrglue' (:data:`DEFAULT_SNR`) and 3 for 'maskrcnn'
        (:data:`MODEL_SNR`: there the threshold is only a floor, the network
        and its score decide).
    method : {'maskrcnn', 'nmrglue'}, optional
        Picker. 'maskrcnn' (default) is the shipped Mask R-CNN (tiles, network,
        refinement on the data, calibrated SCORE); 'nmrglue' is nmrglue's
        connected-segment threshold picker with parameter estimates.
    score_threshold : float, optional
        Drop peaks whose SCORE is below this (0..1). For 'maskrcnn' the default
        comes from the model's config; threshold picks all score 1.0.
    tile, overlap, batch_size, device, model
        Mask R-CNN settings (tile size and overlap in points, tiles per batch,
        torch device, a loaded model or weights path); unused by 'nmrglue'.
    progress : callable, optional
        ``progress(done, total)`` called as tiles are processed ('maskrcnn').
    info : dict, optional
        Filled with what was used: noise, thresholds, resampling factors,
        number of tiles, score threshold, model version ('maskrcnn').
    table : bool, optional
        True (default): a table. False: nmrglue's own ``(locations,
        cluster_ids, scales, amps)`` for the 'nmrglue' method.
    as_frame : bool, optional
        Return a pandas DataFrame instead of a record array.

    Returns
    -------
    peaks : numpy.recarray (or pandas.DataFrame)
        One row per peak, columns:

        ==========  ==================================================
        Y_AXIS      position on axis 0, points (0-based, fractional)
        X_AXIS      position on axis 1, points (0-based, fractional)
        cID         cluster id (peaks above threshold that touch share it)
        Y_LW, X_LW  full width at half height, points
        VOL         volume estimate (nmrglue: amplitude x widths)
        Y_PPM       position on axis 0, ppm
        X_PPM       position on axis 1, ppm
        Y_LW_HZ     Y_LW in Hz (points x sw/size)
        X_LW_HZ     X_LW in Hz
        HEIGHT      peak height, data units (maskrcnn: the refined maximum;
                    nmrglue: the data at the rounded centre)
        SCORE       confidence 0..1; 1.0 for threshold picks, which carry
                    no confidence of their own
        ==========  ==================================================

        Zero rows (with all columns) when nothing is found.

    Raises
    ------
    NmrpickError
        ``data`` not real 2-D, empty, or with NaN/Inf values; wrong number of
        ``uc``; a bad threshold or option.

    Warns
    -----
    UserWarning
        A constant (for example all-zero) spectrum: it has no peaks.

    Examples
    --------
    >>> import nmrglue as ng
    >>> udic = ng.fileiobase.create_blank_udic(2)
    >>> for i, n in enumerate((32, 64)):
    ...     udic[i].update(size=n, sw=1000.0, obs=100.0, car=500.0, complex=False)
    >>> uc = [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]
    >>> y, x = np.mgrid[0:32, 0:64]
    >>> rng = np.random.default_rng(0)
    >>> data = 100 * np.exp(-((y - 10) ** 2 + (x - 40) ** 2) / 8.0) + rng.normal(0, 1, y.shape)
    >>> peaks = pick({}, data, uc, method="nmrglue")
    >>> len(peaks), peaks.Y_AXIS[0], peaks.X_AXIS[0], peaks.SCORE[0]
    (1, np.float64(10.0), np.float64(40.0), np.float64(1.0))
    >>> peaks = pick({}, data, uc)                        # the Mask R-CNN
    >>> len(peaks), round(float(peaks.Y_AXIS[0]), 1), round(float(peaks.X_AXIS[0]), 1)
    (1, 10.0, 40.0)
    """
    data = check_spectrum(data)
    if uc is None:
        from .io import uc_from_dic
        uc = uc_from_dic(dic, data)
    uc = check_uc(uc, data.shape)
    check_choice(method, "method", METHODS)
    if snr is None:
        snr = DEFAULT_SNR if method == "nmrglue" else MODEL_SNR
    snr = check_number(snr, "snr", low=0, low_open=True)
    pthres = check_number(pthres, "pthres", low=0, low_open=True, allow_none=True)
    nthres = check_number(nthres, "nthres", allow_none=True)
    if nthres is not None and nthres >= 0:
        raise NmrpickError(f"`nthres` must be negative (peaks below it are picked); got {nthres!r}")
    score_threshold = check_number(score_threshold, "score_threshold", low=0, high=1,
                                   allow_none=True)
    tile = check_number(tile, "tile", low=8, integer=True)
    overlap = check_number(overlap, "overlap", low=0, integer=True, allow_none=True)
    if overlap is not None and overlap >= tile:
        raise NmrpickError(f"`overlap` must be smaller than `tile` ({tile}); got {overlap}")
    batch_size = check_number(batch_size, "batch_size", low=1, integer=True)

    if is_constant(data):
        warnings.warn(f"`data` is constant (every value {float(data.flat[0]):g}): no peaks",
                      UserWarning, stacklevel=2)
        return ([], [], [], []) if not table else _finish(empty_peaks(), as_frame)
    noise = None
    if pthres is None:
        noise, pthres = noise_threshold(data, snr)

    if method == "nmrglue":
        from ._classical import pick_nmrglue
        if not table:
            return pick_nmrglue(data, pthres, nthres, table=False)
        points = pick_nmrglue(data, pthres, nthres)
        peaks = _to_table(points, data, uc, score=1.0)
    elif method == "maskrcnn":
        if not table:
            raise NmrpickError("`table=False` is only available with method='nmrglue'")
        net = _get_model(model, device)
        if score_threshold is None:
            score_threshold = float(net.config.get("score_thresh", 0.5))
        from ._maskrcnn import detect
        if noise is None:
            noise = estimate_noise(data)
        det = detect(data, model=net, noise=noise, pthres=pthres, nthres=nthres, tile=tile,
                     overlap=DEFAULT_OVERLAP if overlap is None else overlap,
                     batch_size=batch_size, min_score=score_threshold, progress=progress)
        pts = np.zeros(len(det["score"]), dtype=[(n, float) for n in (
            "Y_AXIS", "X_AXIS", "Y_LW", "X_LW", "VOL", "HEIGHT", "SCORE")] + [("cID", int)])
        pts["Y_AXIS"], pts["X_AXIS"] = det["centre"][:, 0], det["centre"][:, 1]
        pts["Y_LW"], pts["X_LW"] = det["fwhh"][:, 0], det["fwhh"][:, 1]
        pts["VOL"], pts["HEIGHT"], pts["SCORE"] = det["volume"], det["height"], det["score"]
        pts["cID"] = det["cluster"] + 1
        peaks = _to_table(pts, data, uc)
        if info is not None:
            info.update(noise=noise, pthres=pthres, nthres=nthres, factors=det["factors"].tolist(),
                        n_tiles=det["n_tiles"], score_threshold=score_threshold,
                        model_version=net.config.get("version", "user weights"))
    if score_threshold is not None:
        peaks = peaks[peaks.SCORE >= score_threshold]
    return _finish(peaks, as_frame)


def noise_threshold(data, snr=None, method="nmrglue"):
    """The noise of ``data`` and the default positive threshold ``snr`` x noise.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    snr : float, optional
        Multiple of the noise; default :data:`DEFAULT_SNR` (8) for 'nmrglue'
        and :data:`MODEL_SNR` (3) for 'maskrcnn'.
    method : str, optional
        The picking method the threshold is for.

    Returns
    -------
    noise, pthres : float
        Robust noise standard deviation (:func:`nmrpick_ml._noise.estimate_noise`)
        and the threshold, both in data units.

    Examples
    --------
    >>> noise, thr = noise_threshold(np.random.default_rng(0).normal(0, 2.0, (64, 64)))
    >>> round(thr / noise, 6)
    8.0
    """
    if snr is None:
        snr = DEFAULT_SNR if method == "nmrglue" else MODEL_SNR
    snr = check_number(snr, "snr", low=0, low_open=True)
    noise = estimate_noise(data)
    return noise, snr * noise


def _finish(peaks, as_frame):
    if as_frame:
        import pandas as pd
        return pd.DataFrame.from_records(np.asarray(peaks), columns=list(PEAK_DTYPE.names))
    return peaks


def _to_table(peaks_points, data, uc, score=None):
    """Add units to peaks found in points: the full :data:`PEAK_DTYPE` table.

    Parameters
    ----------
    peaks_points : structured array or DataFrame
        Must have ``Y_AXIS, X_AXIS`` (0-based points). Optional: ``cID``
        (default: each peak its own cluster, 1..n), ``Y_LW, X_LW`` (FWHH in
        points, default NaN = not estimated), ``VOL`` (default NaN),
        ``SCORE`` (else ``score``).
    data : ndarray of shape (N1, N2)
    uc : sequence of two nmrglue unit_conversion
    score : float, optional
        SCORE of every peak when ``peaks_points`` has no SCORE column.

    Returns
    -------
    peaks : numpy.recarray with :data:`PEAK_DTYPE`
        HEIGHT is ``data`` at the rounded (clipped) centre; ppm from
        ``uc[i].ppm(points)``; Hz widths = points x ``|uc.hz(1) - uc.hz(0)|``
        (= sw / size).
    """
    names = (peaks_points.dtype.names if hasattr(peaks_points, "dtype")
             and peaks_points.dtype.names else tuple(getattr(peaks_points, "columns", ())))
    n = len(peaks_points)
    out = np.zeros(n, dtype=PEAK_DTYPE).view(np.recarray)
    if n == 0:
        return out

    def col(name, default):
        return np.asarray(peaks_points[name], dtype=float) if name in names else default

    if "SCORE" not in names and score is None:
        raise ValueError("_to_table: peaks_points has no SCORE column and no score= was given")
    out.Y_AXIS = col("Y_AXIS", None)
    out.X_AXIS = col("X_AXIS", None)
    out.cID = np.asarray(peaks_points["cID"]) if "cID" in names else np.arange(1, n + 1)
    out.Y_LW = col("Y_LW", np.nan)
    out.X_LW = col("X_LW", np.nan)
    out.VOL = col("VOL", np.nan)
    out.SCORE = col("SCORE", score)
    out.Y_PPM = uc[0].ppm(out.Y_AXIS)
    out.X_PPM = uc[1].ppm(out.X_AXIS)
    out.Y_LW_HZ = out.Y_LW * abs(uc[0].hz(1.0) - uc[0].hz(0.0))
    out.X_LW_HZ = out.X_LW * abs(uc[1].hz(1.0) - uc[1].hz(0.0))
    iy = np.clip(np.rint(out.Y_AXIS).astype(int), 0, data.shape[0] - 1)
    ix = np.clip(np.rint(out.X_AXIS).astype(int), 0, data.shape[1] - 1)
    out.HEIGHT = col("HEIGHT", None) if "HEIGHT" in names else data[iy, ix]
    return out


_MODELS = {}


def _get_model(model, device):
    """A loaded model: ``model`` itself, a weights path, or the shipped weights (cached)."""
    if model is not None and not isinstance(model, (str, bytes)) and not hasattr(model, "__fspath__"):
        if not hasattr(model, "config"):
            model.config = {}
        return model
    key = (None if model is None else str(model), device)
    if key not in _MODELS:
        from .model import load_model
        _MODELS[key] = load_model(None if model is None else model, device=device)
    return _MODELS[key]
