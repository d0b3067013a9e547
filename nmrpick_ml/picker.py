"""The picking core: a :class:`Picker` (a loaded network with its settings).

:func:`load_model` loads the weights, validates their ``config.json`` and
returns a :class:`Picker`; :func:`default_picker` keeps one shipped picker per
device, safe to share between callers (nothing in it is changed by a pick).

:meth:`Picker.detect` chains pure steps, each owned by one module
(``docs/architecture.md``)::

    resample (resample.py) -> normalise (normalise.py) -> tiles (tiling.py)
    -> network (engines.py) -> stitch (tiling.py) -> calibrate (calibration.py)
    -> refine (_refine.py) -> RULE_STEPS (post-detection rules) -> thresholds
    -> Peaks (peaks.py)

Thresholds and the score floor are arguments of :meth:`Picker.detect`, never
settings written into the network. Nothing here imports torch: the torch
engine imports it when it is made.
"""

from __future__ import annotations

import copy
import threading
import time
import types

import numpy as np

from ._defaults import MAX_TILE, MODEL_SNR
from ._errors import ModelIntegrityError, NmrpickError, NmrpickTypeError
from ._noise import column_noise, ridge_noise
from ._refine import clusters, gaussian_volume, refine
from .calibration import calibrate, network_floor
from .peaks import Peaks
from .rules import rule_step
from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, ActiveGrid, cut_tiles, fit_tile, stitch

__all__ = ["Picker", "load_model", "default_picker", "validate_config", "detect_each",
           "as_picker", "RULE_STEPS", "MODEL_SNR", "SKIP_SNR", "RIDGE_K", "ENGINES",
           "DEFAULT_ENGINE"]

#: A tile is run only if some point exceeds max(threshold, SKIP_SNR x noise).
SKIP_SNR = 5.0
#: A peak in a column with t1-noise ridges must stand RIDGE_K x the ridge noise.
RIDGE_K = 6.0
#: Tiles reaching within this many points of a picked region are run (peaks near
#: its edge are found with their whole shape in view).
WITHIN_MARGIN = 16
#: Engines that run the network: ONNX Runtime (default, no torch) or torch.
ENGINES = ("onnx", "torch")
#: Engine of :func:`load_model` and :func:`default_picker` when none is given.
DEFAULT_ENGINE = "onnx"
#: Score floor of :func:`detect_each` (all scored picks, for curves and calibration).
CURVE_FLOOR = 0.05

#: Post-detection rule steps, applied in order after the refinement and before
#: the thresholds, on each sign's refined detections. Each is
#: ``step(refined, data, noise, **context) -> refined``: ``refined`` is the dict that
#: :func:`nmrpick_ml._refine.refine` returns (``centre``, ``fwhh``, ``height``,
#: ``score``, ``box``, ``index``, ``mask_fwhh``; rows may be dropped or scores
#: changed, in the grid of ``data``, peaks positive), ``data`` the (resampled,
#: sign-corrected) spectrum and ``noise`` its robust noise; ``context`` holds
#: ``hz_per_point`` (direct axis, on this grid, or None), ``direct_axis`` and
#: ``multiplets``. A step may add per-row ``j_hz`` and ``n_lines``. The one place
#: where such rules go (``rules.py``).
RULE_STEPS = (rule_step,)


def validate_config(cfg):
    """Check a weights' ``config.json`` and return it with defaults filled in.

    Keys used: ``tile`` (int >= 8, default 128), ``overlap`` (0 <= int < tile,
    default :data:`~nmrpick_ml.tiling.DEFAULT_OVERLAP`), ``score_thresh``
    (0..1, default 0.5), ``calibration`` (a monotone table ``raw`` ->
    ``calibrated``, both in 0..1, or absent), ``arch`` (a dict, or absent: v1),
    ``linewidths`` (the trained range, :func:`nmrpick_ml.resample.linewidth_range`; absent: v1's),
    ``version`` (str, default "user weights").

    Raises
    ------
    ModelIntegrityError
        A key with a wrong type or value.
    """
    if not isinstance(cfg, dict):
        raise ModelIntegrityError(f"config.json must hold an object; got {type(cfg).__name__}")
    out = copy.deepcopy(cfg)

    def bad(key, rule):
        raise ModelIntegrityError(f"config.json: `{key}` must be {rule}; got {cfg.get(key)!r}")

    tile = out.setdefault("tile", DEFAULT_TILE)
    if isinstance(tile, bool) or not isinstance(tile, int) or not 8 <= tile <= MAX_TILE:
        bad("tile", f"an integer in [8, {MAX_TILE}]")
    overlap = out.setdefault("overlap", DEFAULT_OVERLAP)
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile:
        bad("overlap", f"an integer in [0, {tile})")
    st = out.setdefault("score_thresh", 0.5)
    if isinstance(st, bool) or not isinstance(st, (int, float)) or not 0 <= st <= 1:
        bad("score_thresh", "a number in [0, 1]")
    cal = out.get("calibration")
    if cal is not None:
        try:
            raw = np.asarray(cal["raw"], float)
            c = np.asarray(cal["calibrated"], float)
            ok = (raw.ndim == 1 and raw.shape == c.shape and len(raw) >= 2
                  and np.all(np.diff(raw) >= 0) and np.all(np.diff(c) >= 0)
                  and np.all((c >= 0) & (c <= 1)) and np.all((raw >= 0) & (raw <= 1)))
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            bad("calibration", "a monotone table {'raw': [...], 'calibrated': [...]} in [0, 1]")
    arch = out.get("arch")
    if arch is not None and not isinstance(arch, dict):
        bad("arch", "an object of architecture settings")
    lw = out.get("linewidths")
    if lw is not None:
        try:
            low, high, target = (float(lw[k]) for k in ("low", "high", "target"))
            ok = all(np.isfinite((low, high, target))) and 0 <= low <= target <= high
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            bad("linewidths", "{'low': L, 'high': H, 'target': T} with 0 <= L <= T <= H points")
    version = out.setdefault("version", "user weights")
    if not isinstance(version, str):
        bad("version", "a string")
    return out


class Picker:
    """A loaded network with its validated settings; made by :func:`load_model`.

    Read-only once made: :meth:`detect` takes every threshold as an argument,
    so one picker can be shared by several callers (and threads).

    Attributes
    ----------
    config : mappingproxy
        The validated ``config.json`` (read-only).
    tile, overlap : int
        Default tile size and overlap (points).
    score_threshold : float
        Default (calibrated) score floor, ``config["score_thresh"]``.
    calibration : dict or None
        Raw -> calibrated score table.
    arch : dict or None
        The architecture settings the network was built from (None: v1).
    version : str
        Model version ("user weights" for weights without one).
    sha256 : str
        SHA-256 of the weights file and the validated config together.
    engine : object
        What runs the network (:mod:`nmrpick_ml.engines`).
    """

    def __init__(self, engine, config, weights_sha256=""):
        self.engine = engine
        cfg = validate_config(config)
        self.config = types.MappingProxyType(cfg)
        self.weights_sha256 = weights_sha256
        import hashlib
        import json
        canon = json.dumps(cfg, sort_keys=True, separators=(",", ":"), default=str)
        self.sha256 = hashlib.sha256((weights_sha256 + "\n" + canon).encode()).hexdigest()

    def __repr__(self):
        return (f"Picker(version={self.version!r}, engine={self.engine.name!r}, tile={self.tile}, "
                f"overlap={self.overlap}, score_threshold={self.score_threshold})")

    tile = property(lambda self: int(self.config["tile"]))
    overlap = property(lambda self: int(self.config["overlap"]))
    score_threshold = property(lambda self: float(self.config["score_thresh"]))
    calibration = property(lambda self: self.config.get("calibration"))
    arch = property(lambda self: self.config.get("arch"))
    version = property(lambda self: str(self.config["version"]))
    #: The tile the network was trained on (``arch.tile``; 128 for v1).
    train_tile = property(lambda self: int((self.arch or {}).get("tile", DEFAULT_TILE)))

    def uncalibrated(self):
        """The same network and settings without the score calibration (raw scores)."""
        cfg = {k: v for k, v in self.config.items() if k != "calibration"}
        return Picker(self.engine, cfg, self.weights_sha256)

    def detect(self, data, noise, pthres, nthres=None, *, score_threshold=None, tile=None,
               overlap=None, batch_size=8, resample="auto", progress=None, within=None,
               rules=True, multiplets="merge", hz_per_point=None, direct_axis=1, timings=None):
        """Pick the peaks of a 2D spectrum with the network; positions in points.

        Parameters
        ----------
        data : ndarray of shape (N1, N2)
            Real, finite spectrum (already checked: :func:`nmrpick_ml.pick`
            checks user input).
        noise : float
            Robust noise of the whole spectrum (data units), estimated once by
            the caller (:func:`nmrpick_ml._noise.estimate_noise`).
        pthres : float
            Positive threshold (data units): a peak's height must reach it, and
            ``RIDGE_K`` times the t1-ridge noise of its column.
        nthres : float, optional
            Negative threshold (data units, either sign); None: no negative
            peaks. The network runs on the negated data.
        score_threshold : float, optional
            Calibrated score floor; default :attr:`score_threshold`.
        tile, overlap : int, optional
            Default :attr:`tile`, :attr:`overlap`.
        batch_size : int
            Tiles per network call.
        resample : "auto", "none" or (float, float)
            Zoom factors per axis; "auto" measures the typical linewidth.
        progress : callable, optional
            ``progress(done, total)`` after each group of tiles.
        within : ((y0, y1), (x0, x1)), optional
            Point ranges (of ``data``) that the caller keeps peaks from: only
            tiles reaching within :data:`WITHIN_MARGIN` points of them are run.
            Everything else (noise, resampling, normalisation, ridge noise) is
            the whole spectrum's, so the peaks found there are those of a
            whole-spectrum pick. The caller selects the peaks inside.
        rules : bool
            Run :data:`RULE_STEPS` (default); False for the raw refined detections.
        multiplets : {'merge', 'keep', 'auto'}
            J-multiplets of the direct axis as one pick at the centre, or each
            line ('auto' here, where no nucleus is known, is 'merge':
            :func:`nmrpick_ml.picking.find_peaks` resolves it by the labels).
        hz_per_point : float, optional
            Direct-axis Hz per point of ``data``; no multiplet grouping without it.
        direct_axis : int
            The direct (acquisition) axis: 1, or 0 in a transposed file.
        timings : dict, optional
            Seconds spent in each step are added to it (keys: ``resample``,
            ``ridge noise``, ``normalise``, ``tiles``, ``network``, ``mask
            extents``, ``stitch``, ``refine``, ``rules``, ``thresholds``; the
            benchmark's stage table), and ``n_tiles``.

        Returns
        -------
        Peaks
            Sorted by position (axis 0, then axis 1); cluster ids from 1.
        """
        from .normalise import noise_scale, normalise
        from .resample import back_factors, choose_factors, linewidth_range
        from .resample import resample as zoom
        multiple = getattr(self.engine, "size_multiple", 1)
        overlap = self.overlap if overlap is None else int(overlap)
        tile = None if tile is None else int(tile)   # None: fit_tile of the default, below
        self._check_tile(tile, multiple)
        min_score = self.score_threshold if score_threshold is None else float(score_threshold)
        lap = _Laps(timings)
        data = np.asarray(data, dtype=np.float32)
        factors = choose_factors(data, noise, resample, signed=nthres is not None,
                                 lw_range=linewidth_range(self.config))
        work = zoom(data, factors)
        back = back_factors(data.shape, work.shape)
        if tile is None:
            tile = fit_tile(self.tile, data.shape, self.train_tile, max(multiple, 32))
            self._check_tile(tile, multiple)
        lap("resample")
        ridge = ridge_noise(column_noise(work, noise))   # before x: keep the peak memory low
        lap("ridge noise")
        x = normalise(work, noise_scale(data, noise))
        lap("normalise")
        floor = network_floor(min_score, self.calibration)
        results, n_tiles = [], 0
        for sign in [1.0] + ([-1.0] if nthres is not None else []):
            thr = abs(pthres if sign > 0 else nthres)
            d = work if sign > 0 else -work
            if sign < 0:
                np.negative(x, out=x)       # in place: no second whole-spectrum array
            dets, origins, cores, grid = self._network(x, d, thr, noise, tile, overlap, floor,
                                                       batch_size, progress,
                                                       _work_box(within, back, work.shape), lap)
            n_tiles += len(origins)
            st = stitch(dets, origins, cores, grid)
            st["scores"] = calibrate(st["scores"], self.calibration)
            keep = st["scores"] >= min_score
            lap("stitch")
            r = refine(d, st["boxes"][keep], st["scores"][keep], st["extents"][keep])
            lap("refine")
            hz = None if hz_per_point is None else float(hz_per_point) * back[direct_axis]
            for step in RULE_STEPS if rules else ():
                r = step(r, d, noise, hz_per_point=hz, direct_axis=direct_axis,
                         multiplets=multiplets)
            lap("rules")
            r = _thresholds(r, thr, ridge, work.shape)
            r["height"] = sign * r["height"]
            results.append(r)
            lap("thresholds")
        if timings is not None:
            timings["n_tiles"] = timings.get("n_tiles", 0) + n_tiles
        centre = np.concatenate([r["centre"] for r in results]).reshape(-1, 2) * back
        fwhh = np.concatenate([r["fwhh"] for r in results]).reshape(-1, 2) * back
        height = np.concatenate([r["height"] for r in results])
        score = np.concatenate([r["score"] for r in results])
        j_hz = np.concatenate([r.get("j_hz", np.full(len(r["score"]), np.nan)) for r in results])
        n_lines = np.concatenate([r.get("n_lines", np.ones(len(r["score"]), int)) for r in results])
        order = np.lexsort((centre[:, 1], centre[:, 0]))
        centre, fwhh, height, score = centre[order], fwhh[order], height[order], score[order]
        return Peaks(centre=centre, fwhh=fwhh, height=height,
                     volume=gaussian_volume(height, fwhh[:, 0], fwhh[:, 1]), score=score,
                     cluster=clusters(centre, fwhh) + 1, noise=float(noise), pthres=float(pthres),
                     nthres=None if nthres is None else -abs(float(nthres)), method="maskrcnn",
                     factors=tuple(factors), n_tiles=n_tiles, score_threshold=min_score,
                     model_version=self.version, j_hz=j_hz[order], n_lines=n_lines[order])

    def _check_tile(self, tile, multiple):
        if tile is not None and tile % multiple:
            raise NmrpickError(f"`tile` {tile}: the {self.engine.name} engine runs tiles of a "
                               f"multiple of {multiple} points; use engine='torch' (--engine "
                               "torch) for other sizes")

    def _network(self, x, d, thr, noise, tile, overlap, floor, batch_size, progress, box=None,
                 lap=None):
        """Tiles worth running and their detections, with the :class:`ActiveGrid`
        that the detections must lie in.

        The grid is cut at the training tile (or ``tile`` when smaller): its
        tiles holding something above the threshold and SKIP_SNR x noise (noise
        alone passes 3 sigma in every tile; inside ``box`` when given, slices
        of the work grid) are active; the inference tiles that meet an active
        core are run. So the area searched does not grow with the inference
        tile. Tiles are views of ``x`` (cut lazily: no per-tile copy of the
        spectrum)."""
        lap = lap or _Laps(None)
        coarse = d >= max(thr, SKIP_SNR * noise)
        if box is not None:
            inside = np.zeros_like(coarse)
            inside[box] = True
            coarse &= inside

        grid = ActiveGrid(coarse, min(tile, self.train_tile), overlap)
        del coarse
        tiles, origins, cores = cut_tiles(x, tile, overlap, keep=grid, stack=False)
        lap("tiles")
        dets, group = [], max(batch_size, 1) * 4
        for i in range(0, len(tiles), group):
            dets.extend(self.engine.run(tiles[i:i + group], floor, batch_size, timings=lap.timings))
            if progress is not None:
                progress(min(i + batch_size * 4, len(tiles)), len(tiles))
        lap(None)          # the engine added its own "network" and "mask extents"
        return dets, origins, cores, grid


class _Laps:
    """Adds the seconds since the previous lap to ``timings[name]`` (no-op without a dict)."""

    def __init__(self, timings):
        self.timings = timings
        self.t = time.perf_counter()

    def __call__(self, name):
        if self.timings is None:
            return
        now = time.perf_counter()
        if name is not None:
            self.timings[name] = self.timings.get(name, 0.0) + now - self.t
        self.t = now


def _work_box(within, back, shape):
    """Slices of the work (resampled) grid covering the point box ``within`` of
    the data grid plus WITHIN_MARGIN points; None for no box."""
    if within is None:
        return None
    out = []
    for (a, b), f, n in zip(within, back, shape):
        lo = int(np.floor((min(a, b) - WITHIN_MARGIN) / f))
        hi = int(np.ceil((max(a, b) + WITHIN_MARGIN) / f))
        out.append(slice(max(lo, 0), max(min(hi + 1, n), 0)))
    return tuple(out)


def _thresholds(r, thr, ridge, shape):
    """Keep refined peaks that reach the threshold and RIDGE_K x the ridge noise
    of their column, with the centre inside the spectrum."""
    if not len(r["score"]):
        return r
    m0, m1 = shape
    cols = np.clip(np.round(r["centre"][:, 1]).astype(int), 0, m1 - 1)
    ok = (r["height"] >= thr) & (r["height"] >= RIDGE_K * ridge[cols])
    ok &= np.all((r["centre"] > -0.5) & (r["centre"] < np.array([m0, m1]) - 0.5), axis=1)
    return {k: v[ok] for k, v in r.items()}


def load_model(path=None, device="cpu", engine=DEFAULT_ENGINE):
    """Load the Mask R-CNN weights (shipped or a user's) as a :class:`Picker`.

    Parameters
    ----------
    path : str, optional
        A user's own weights: a ``.onnx`` graph (:func:`nmrpick_ml.onnx_export.export_onnx`)
        or a torch ``state_dict`` (run by the torch engine); the folder's
        ``config.json`` is used when present. Default: the shipped weights,
        whose SHA-256 is checked against ``weights/_registry.py`` first.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``: the torch engine's device (the
        ONNX engine runs on the CPU).
    engine : {'onnx', 'torch'}
        What runs the network: ONNX Runtime (default; torch is not imported)
        or torch. A torch ``state_dict`` path always runs on torch.

    Returns
    -------
    Picker

    Raises
    ------
    ModelIntegrityError
        Missing, truncated or tampered weights, not a state_dict of this model,
        or an invalid ``config.json``.
    NmrpickError
        An unknown engine, or a device other than the CPU for the ONNX engine.
    """
    import os
    if engine not in ENGINES:
        raise NmrpickError(f"`engine` must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    is_onnx = path is None or os.fspath(path).lower().endswith(".onnx")
    if engine == "onnx" and is_onnx:
        if str(device) not in ("cpu", "auto"):
            raise NmrpickError(f"device {device!r} needs engine='torch' (--engine torch): the ONNX "
                               "engine runs on the CPU")
        return _load_onnx(path)
    if path is not None and is_onnx:
        raise NmrpickError(f"{os.fspath(path)}: an ONNX graph runs on engine='onnx' (--engine onnx)")
    from .engines import TorchEngine
    from .model import load_network
    network, cfg, sha = load_network(path, device)
    return Picker(TorchEngine(network), cfg, sha)


def _load_onnx(path):
    import os
    from .engines import OnnxEngine
    from .shipped import check_shipped, model_config, sha256_file, weights_path
    if path is None:
        p = os.fspath(weights_path("maskrcnn.onnx"))
        sha = check_shipped(p, "maskrcnn.onnx")
        cfg = model_config(None)
    else:
        p = os.fspath(path)
        if not os.path.isfile(p):
            raise ModelIntegrityError(f"weights file {p} not found")
        sha = sha256_file(p)
        cfg = model_config(p)
    try:
        engine = OnnxEngine(p)
    except Exception as exc:     # not an ONNX file, truncated
        raise ModelIntegrityError(f"weights {p} cannot be loaded ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0][:120]})") from None
    return Picker(engine, cfg, sha)


_DEFAULT = {}
_LOCK = threading.Lock()


def default_picker(device="cpu", engine=DEFAULT_ENGINE):
    """The shipped :class:`Picker`, loaded once per (device, engine) and shared."""
    key = (str(device), engine)
    with _LOCK:
        if key not in _DEFAULT:
            _DEFAULT[key] = load_model(None, device=device, engine=engine)
        return _DEFAULT[key]


def as_picker(model=None, device="cpu", engine=DEFAULT_ENGINE):
    """A :class:`Picker` from ``model``: a Picker, a weights path, or None (the shipped one)."""
    if isinstance(model, Picker):
        return model
    if model is None:
        return default_picker(device, engine)
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        return load_model(model, device=device, engine=engine)
    if hasattr(model, "roi_heads") and hasattr(model, "backbone"):   # a torchvision Mask R-CNN
        from .engines import TorchEngine
        return Picker(TorchEngine(model.eval()), {})
    raise NmrpickTypeError(f"`model` must be a Picker (nmrpick_ml.load_model()), a weights "
                           f"path, a torchvision Mask R-CNN or None; got {type(model).__name__}")


def detect_each(picker, spectra, snr=MODEL_SNR, score_threshold=CURVE_FLOOR, batch_size=8):
    """Pick each spectrum (e.g. a 128x128 tile) on its own, as :func:`nmrpick_ml.pick`
    does with default settings (robust noise, ``snr`` x noise threshold), keeping
    scores down to ``score_threshold`` (all scored picks, for curves).

    Returns
    -------
    list of Peaks
    """
    from ._noise import estimate_noise
    out = []
    for data in spectra:
        noise = estimate_noise(data)
        out.append(picker.detect(data, noise, snr * noise, score_threshold=score_threshold,
                                 batch_size=batch_size))
    return out
