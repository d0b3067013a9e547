"""Peak picking of 2D spectra: :func:`pick` and :func:`find_peaks`.

``find_peaks`` is validate -> noise (once) -> pick in points (the network,
:meth:`nmrpick_ml.picker.Picker.detect`, or nmrglue's threshold picker,
:func:`nmrpick_ml._classical.classical_peaks`) -> :class:`~nmrpick_ml.peaks.Peaks`;
``pick`` adds units (:meth:`Peaks.to_table`). The CLI, ``peakpick`` and the
benchmarks call ``find_peaks``, so the noise is estimated once per spectrum.
Torch is imported only on the model path.
"""

import warnings

import numpy as np  # noqa: F401  (the doctests use it)

# the defaults live in one place (_defaults), quoted by --help and the README
from ._defaults import DEFAULT_SNR, MAX_TILE, MODEL_SNR, MULTIPLETS
from ._errors import NmrpickError
from ._noise import estimate_noise
from ._validate import check_choice, check_number, check_spectrum, check_uc, is_constant
from .peaks import PEAK_DTYPE, Peaks, empty_table  # noqa: F401  (PEAK_DTYPE: the schema pick returns)

__all__ = ["pick", "find_peaks", "noise_threshold", "METHODS", "DEFAULT_SNR", "MODEL_SNR"]

#: Picking methods.
METHODS = ("nmrglue", "maskrcnn")


def pick(dic, data, uc=None, *, pthres=None, nthres=None, snr=None, method="maskrcnn",
         score_threshold=None, region=None, exclude=None, tile=None, overlap=None, batch_size=8,
         device="cpu", model=None, engine=None, table=True, as_frame=False, progress=None,
         fit=False, lineshape="pseudo-voigt", multiplets=MULTIPLETS):
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
    region : str, dict or two (low, high) ranges, optional
        Pick only inside these ppm ranges: ``"6.5:10.5,100:135"`` (X = axis
        1, then Y = axis 0, as the table's columns), ``"1H=6.5:10.5,15N=100:135"``
        (by nucleus, from ``dic``; ``X=``/``Y=`` also work; an axis left out is
        whole), ``{"1H": (6.5, 10.5)}`` or ``((6.5, 10.5), (100, 135))`` (X, Y);
        see :mod:`nmrpick_ml.region`. The noise (so the default threshold and
        the network's normalisation) is still measured on the whole spectrum:
        the peaks picked are those the whole spectrum gives inside the region.
    exclude : region or list of regions, optional
        Drop peaks inside any of these (same forms); ``"1H=4.6:4.8"`` is a
        band across the whole other axis (e.g. water).
    tile, overlap, batch_size, device, model
        Mask R-CNN settings (tile size and overlap in points, default from the
        model's config: 128 and 24; tiles per batch; torch device; a
        :class:`~nmrpick_ml.picker.Picker` from :func:`nmrpick_ml.load_model`
        or a weights path); unused by 'nmrglue'.
    engine : {'onnx', 'torch'}, optional
        What runs the network: ONNX Runtime (default, no torch) or torch
        (the reference; needed for ``device`` other than the CPU).
    progress : callable, optional
        ``progress(done, total)`` called as tiles are processed ('maskrcnn').
    multiplets : {'auto', 'merge', 'keep'}, optional
        'maskrcnn': a J-multiplet of the direct axis (lines 2-18 Hz apart,
        symmetric about a centre: :mod:`nmrpick_ml.rules`) is one pick at its
        centre with ``J_HZ`` and ``N_LINES`` ('merge'), or each line a pick
        carrying them ('keep'). 'auto' (default): 'keep' where the indirect
        nucleus is 15N, 'merge' otherwise (:func:`nmrpick_ml.rules.multiplet_mode`).
    table : bool, optional
        True (default): a table. False: nmrglue's own ``(locations,
        cluster_ids, scales, amps)`` for the 'nmrglue' method.
    as_frame : bool, optional
        Return a pandas DataFrame instead of a record array.
    fit : bool, optional
        Fit the picks with lineshapes (:func:`nmrpick_ml.fit.fit_table`):
        positions, widths, heights and volumes become the fitted ones and the
        table gains :data:`nmrpick_ml.fit.FIT_COLUMNS` (standard errors,
        Lorentzian fractions, chi-square, flags). Peaks the fit adds (residual
        search) have SCORE 0 and FIT_ADDED 1.
    lineshape : {'pseudo-voigt', 'gaussian', 'lorentzian'}, optional
        The fit's lineshape per axis.

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
        J_HZ        J coupling of a direct-axis multiplet, Hz (NaN: none)
        N_LINES     lines of that multiplet (1: a singlet)
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
    if not table:
        check_choice(method, "method", METHODS)
        if method != "nmrglue":
            raise NmrpickError("`table=False` is only available with method='nmrglue'")
        opts = _check_options(data, pthres, nthres, snr, method, score_threshold, tile, overlap,
                              batch_size)
        if is_constant(data):
            _warn_constant(data)
            return [], [], [], []
        from ._classical import pick_nmrglue
        pthres = opts["pthres"] if opts["pthres"] is not None else opts["snr"] * estimate_noise(data)
        return pick_nmrglue(data, pthres, opts["nthres"], table=False)
    from .io import direct_axis, labels_from_dic
    direct = direct_axis(dic, data)
    box, excluded = None, ()
    if region is not None or exclude is not None:
        from .region import resolve_regions
        box, excluded = resolve_regions(region, exclude, labels_from_dic(dic, data), uc,
                                        data.shape)
    peaks = find_peaks(data, pthres=pthres, nthres=nthres, snr=snr, method=method,
                       score_threshold=score_threshold, tile=tile, overlap=overlap,
                       batch_size=batch_size, device=device, model=model, engine=engine,
                       progress=progress, region=box, exclude=excluded, multiplets=multiplets,
                       labels=labels_from_dic(dic, data), direct_axis=direct,
                       hz_per_point=abs(uc[direct].hz(1.0) - uc[direct].hz(0.0)),
                       _stacklevel=3)
    if fit:
        from .fit import fit_table
        return fit_table(peaks, data, uc, shape=lineshape, as_frame=as_frame)
    return peaks.to_table(uc, as_frame=as_frame)


def find_peaks(data, *, pthres=None, nthres=None, snr=None, noise=None, method="maskrcnn",
               score_threshold=None, tile=None, overlap=None, batch_size=8, device="cpu",
               model=None, engine=None, progress=None, region=None, exclude=(),
               multiplets=MULTIPLETS, hz_per_point=None, direct_axis=1, labels=None,
               _stacklevel=2):
    """Pick the peaks of a 2D spectrum in points: the core of :func:`pick`.

    validate -> noise (estimated once, unless given) -> the network
    (:meth:`Picker.detect <nmrpick_ml.picker.Picker.detect>`) or nmrglue's
    threshold picker -> score threshold.

    Parameters
    ----------
    data : ndarray of shape (N1, N2)
    noise : float, optional
        The spectrum's robust noise (data units) when the caller has it
        already; estimated here otherwise (when a threshold or the network
        needs it).
    pthres, nthres, snr, method, score_threshold, tile, overlap, batch_size, device, model, engine, progress
        As for :func:`pick`.
    region : ((y0, y1), (x0, x1)), optional
        Keep only peaks whose centre lies inside these point ranges
        (:func:`nmrpick_ml.region.region_points` makes them from ppm); the
        network runs only on the tiles that reach into it. The noise is the
        whole spectrum's.
    exclude : sequence of point boxes, optional
        Drop peaks whose centre lies inside any of them.
    multiplets : {'auto', 'merge', 'keep'}
        As for :func:`pick`; 'auto' is chosen by ``labels``.
    hz_per_point : float, optional
        Hz per point of the direct axis (``|uc.hz(1) - uc.hz(0)|``); without it
        no multiplets are grouped.
    direct_axis : int
        The direct (acquisition) axis: 1, or 0 in a transposed file.
    labels : (str, str), optional
        The nucleus of each axis (:attr:`Spectrum.labels`), for
        ``multiplets='auto'`` (without them: 'merge').

    Returns
    -------
    Peaks
        Positions, widths, heights, volumes, scores and clusters, with what was
        used (noise, thresholds, resampling, tiles, score threshold, model
        version). ``Peaks.to_table(uc)`` is what :func:`pick` returns.

    Raises
    ------
    NmrpickError
        As for :func:`pick`.
    """
    data = check_spectrum(data)
    check_choice(method, "method", METHODS)
    opts = _check_options(data, pthres, nthres, snr, method, score_threshold, tile, overlap,
                          batch_size)
    pthres, nthres, score_threshold = opts["pthres"], opts["nthres"], opts["score_threshold"]
    noise = check_number(noise, "noise", low=0, allow_none=True)
    from .rules import MULTIPLET_MODES, multiplet_mode
    check_choice(multiplets, "multiplets", MULTIPLET_MODES)
    multiplets = multiplet_mode(multiplets, labels, int(direct_axis))
    hz_per_point = check_number(hz_per_point, "hz_per_point", low=0, allow_none=True)
    if is_constant(data):
        _warn_constant(data, _stacklevel + 1)
        return Peaks.from_records(empty_table(), data, method=method, noise=noise, pthres=pthres,
                                  nthres=nthres, score_threshold=score_threshold)
    if noise is None and (pthres is None or method == "maskrcnn"):
        noise = estimate_noise(data)
    if pthres is None:
        pthres = opts["snr"] * noise
    if method == "nmrglue":
        from ._classical import classical_peaks
        peaks = classical_peaks(data, pthres, nthres, noise=noise)
        if score_threshold is not None:
            peaks = peaks.select(peaks.score >= score_threshold).replace(
                score_threshold=score_threshold)
        return _in_region(peaks, region, exclude)
    from .picker import DEFAULT_ENGINE, as_picker
    picker = as_picker(model, device, engine or DEFAULT_ENGINE)
    peaks = picker.detect(data, noise, pthres, nthres, score_threshold=score_threshold, tile=tile,
                          overlap=overlap, batch_size=batch_size, progress=progress,
                          within=region, multiplets=multiplets, hz_per_point=hz_per_point,
                          direct_axis=int(direct_axis))
    return _in_region(peaks, region, exclude)


def _in_region(peaks, region, exclude):
    """The peaks whose centre is inside ``region`` (None: all) and no ``exclude`` box."""
    if region is None and not exclude:
        return peaks
    from .region import keep_mask
    c = peaks.centre
    return peaks.select(keep_mask(c[:, 0], c[:, 1], region, exclude or ()))


def _check_options(data, pthres, nthres, snr, method, score_threshold, tile, overlap, batch_size):
    if snr is None:
        snr = DEFAULT_SNR if method == "nmrglue" else MODEL_SNR
    out = dict(snr=check_number(snr, "snr", low=0, low_open=True),
               pthres=check_number(pthres, "pthres", low=0, low_open=True, allow_none=True),
               nthres=check_number(nthres, "nthres", allow_none=True),
               score_threshold=check_number(score_threshold, "score_threshold", low=0, high=1,
                                            allow_none=True))
    if out["nthres"] is not None and out["nthres"] >= 0:
        raise NmrpickError(f"`nthres` must be negative (peaks below it are picked); got {nthres!r}")
    tile = check_number(tile, "tile", low=8, high=MAX_TILE, integer=True, allow_none=True)
    overlap = check_number(overlap, "overlap", low=0, integer=True, allow_none=True)
    if overlap is not None and overlap >= (tile if tile is not None else 128):
        raise NmrpickError(f"`overlap` must be smaller than `tile` ({tile or 128}); got {overlap}")
    check_number(batch_size, "batch_size", low=1, integer=True)
    return out


def _warn_constant(data, stacklevel=3):
    warnings.warn(f"`data` is constant (every value {float(data.flat[0]):g}): no peaks",
                  UserWarning, stacklevel=stacklevel)


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
