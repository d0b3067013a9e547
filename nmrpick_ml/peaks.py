"""The points-level result of every picker: :class:`Peaks`, and the table schema.

Both pickers (the network's :meth:`nmrpick_ml.picker.Picker.detect` and the
threshold picker :func:`nmrpick_ml._classical.classical_peaks`) return a
:class:`Peaks`: positions, widths, heights, volumes, scores, clusters and signs
in points of the spectrum's grid, with what was used to find them (noise,
thresholds, resampling, tiles). :meth:`Peaks.to_table` adds units and gives the
documented table (:data:`PEAK_DTYPE`) that :func:`nmrpick_ml.pick` returns.

Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

__all__ = ["PEAK_DTYPE", "Peaks", "empty_table"]

#: Columns of the peak table that :func:`nmrpick_ml.pick` returns, in order.
#: Points are 0-based array indices (axis 0 = Y = indirect, axis 1 = X =
#: direct), linewidths are full widths at half height.
PEAK_DTYPE = np.dtype([
    ("Y_AXIS", "f8"),    # position along axis 0, points (0-based)
    ("X_AXIS", "f8"),    # position along axis 1, points (0-based)
    ("cID", "i8"),       # cluster id (peaks whose footprints touch share it)
    ("Y_LW", "f8"),      # FWHH along axis 0, points
    ("X_LW", "f8"),      # FWHH along axis 1, points
    ("VOL", "f8"),       # volume estimate, data units x points^2
    ("Y_PPM", "f8"),     # position along axis 0, ppm
    ("X_PPM", "f8"),     # position along axis 1, ppm
    ("Y_LW_HZ", "f8"),   # FWHH along axis 0, Hz
    ("X_LW_HZ", "f8"),   # FWHH along axis 1, Hz
    ("HEIGHT", "f8"),    # data value at the rounded peak centre
    ("SCORE", "f8"),     # confidence 0..1 (1.0 for threshold picks)
    ("J_HZ", "f8"),      # J coupling of a direct-axis multiplet, Hz (NaN: none found)
    ("N_LINES", "i8"),   # lines of that multiplet (1: a singlet)
])


def empty_table():
    """A zero-row peak table with the full :data:`PEAK_DTYPE`."""
    return np.zeros(0, dtype=PEAK_DTYPE).view(np.recarray)


def _arr(v, shape_tail=(), dtype=float):
    a = np.asarray(v, dtype=dtype)
    return a.reshape((-1,) + shape_tail)


@dataclass(frozen=True, eq=False)
class Peaks:
    """Peaks of one spectrum in points, and what was used to find them.

    Attributes
    ----------
    centre : ndarray of shape (k, 2)
        Positions (axis 0, axis 1) in points of the spectrum (0-based, sub-point).
    fwhh : ndarray of shape (k, 2)
        Full widths at half height, points (NaN where not estimated).
    height : ndarray of shape (k,)
        Signed peak heights, data units.
    volume : ndarray of shape (k,)
        Volume estimates, data units x points^2 (NaN where not estimated).
    score : ndarray of shape (k,)
        Confidence 0..1 (1.0 for threshold picks).
    cluster : ndarray of shape (k,), int
        Cluster ids from 1 (peaks whose footprints touch share one).
    noise : float or None
        Robust noise of the spectrum (data units) the thresholds refer to.
    pthres, nthres : float or None
        Positive and negative thresholds used (data units; nthres negative).
    method : str
        'maskrcnn' or 'nmrglue'.
    factors : tuple of 2 floats or None
        Resampling factors per axis (1 = none; None for the threshold picker).
    n_tiles : int or None
        Network tiles run (None for the threshold picker).
    score_threshold : float or None
        The score floor applied.
    model_version : str or None
        Version of the network's weights.
    j_hz : ndarray of shape (k,)
        J coupling (Hz) of the direct-axis multiplet a pick stands for
        (:mod:`nmrpick_ml.rules`); NaN where none was found (default).
    n_lines : ndarray of shape (k,), int
        Lines of that multiplet; 1 for a singlet (default).
    """

    centre: np.ndarray
    fwhh: np.ndarray
    height: np.ndarray
    volume: np.ndarray
    score: np.ndarray
    cluster: np.ndarray
    noise: float | None = None
    pthres: float | None = None
    nthres: float | None = None
    method: str = "maskrcnn"
    factors: tuple | None = None
    n_tiles: int | None = None
    score_threshold: float | None = None
    model_version: str | None = None
    j_hz: np.ndarray | None = None
    n_lines: np.ndarray | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "centre", _arr(self.centre, (2,)))
        k = len(self.centre)
        set_(self, "j_hz", _arr(np.full(k, np.nan) if self.j_hz is None else self.j_hz))
        set_(self, "n_lines", _arr(np.ones(k) if self.n_lines is None else self.n_lines,
                                   dtype=np.int64))
        set_(self, "fwhh", _arr(self.fwhh, (2,)))
        for name in ("height", "volume", "score"):
            set_(self, name, _arr(getattr(self, name)))
        set_(self, "cluster", _arr(self.cluster, dtype=np.int64))
        if self.factors is not None:
            set_(self, "factors", tuple(float(f) for f in self.factors))
        for name in ("fwhh", "height", "volume", "score", "cluster", "j_hz", "n_lines"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"Peaks: {name} has {len(getattr(self, name))} rows, centre {k}")

    def __len__(self):
        return len(self.centre)

    @property
    def sign(self):
        """+1 for positive peaks, -1 for negative ones."""
        return np.where(self.height < 0, -1, 1)

    def select(self, keep):
        """A :class:`Peaks` of the rows ``keep`` (a boolean mask or indices)."""
        per_peak = ("centre", "fwhh", "height", "volume", "score", "cluster", "j_hz", "n_lines")
        return dataclasses.replace(self, **{n: getattr(self, n)[keep] for n in per_peak})

    def replace(self, **changes):
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_records(cls, points, data, *, score=None, **used):
        """Peaks from a table in points (another picker's output).

        Parameters
        ----------
        points : structured array or DataFrame
            Must have ``Y_AXIS, X_AXIS`` (0-based points). Optional: ``cID``
            (default: each peak its own cluster, 1..n), ``Y_LW, X_LW`` (FWHH
            in points, default NaN = not estimated), ``VOL`` (default NaN),
            ``HEIGHT`` (default: ``data`` at the rounded, clipped centre),
            ``SCORE`` (else ``score``), ``J_HZ`` (NaN), ``N_LINES`` (1).
        data : ndarray of shape (N1, N2)
        score : float, optional
            SCORE of every peak when ``points`` has no SCORE column.
        **used
            The other fields of :class:`Peaks` (noise, thresholds, method, ...).

        Raises
        ------
        ValueError
            No SCORE column and no ``score``.
        """
        names = (points.dtype.names if hasattr(points, "dtype") and points.dtype.names
                 else tuple(getattr(points, "columns", ())))
        n = len(points)
        if "SCORE" not in names and score is None:
            raise ValueError("Peaks.from_records: points have no SCORE column and no score= was given")

        def col(name, default):
            return (np.asarray(points[name], dtype=float) if name in names
                    else np.full(n, default, dtype=float))

        centre = np.column_stack([col("Y_AXIS", np.nan), col("X_AXIS", np.nan)]).reshape(-1, 2)
        if "HEIGHT" in names:
            height = col("HEIGHT", np.nan)
        else:
            iy = np.clip(np.rint(centre[:, 0]).astype(int), 0, data.shape[0] - 1)
            ix = np.clip(np.rint(centre[:, 1]).astype(int), 0, data.shape[1] - 1)
            height = np.asarray(data[iy, ix], dtype=float)
        cluster = np.asarray(points["cID"]) if "cID" in names else np.arange(1, n + 1)
        return cls(centre=centre, fwhh=np.column_stack([col("Y_LW", np.nan), col("X_LW", np.nan)]),
                   height=height, volume=col("VOL", np.nan), score=col("SCORE", score),
                   cluster=cluster, j_hz=col("J_HZ", np.nan), n_lines=col("N_LINES", 1), **used)

    def to_table(self, uc, as_frame=False):
        """The documented peak table (:data:`PEAK_DTYPE`): points, ppm and Hz.

        Parameters
        ----------
        uc : sequence of two nmrglue unit_conversion
            ppm from ``uc[i].ppm(points)``; Hz widths = points x
            ``|uc.hz(1) - uc.hz(0)|`` (= sw / size).
        as_frame : bool, optional
            A pandas DataFrame instead of a record array.

        Returns
        -------
        numpy.recarray or pandas.DataFrame
        """
        n = len(self)
        out = np.zeros(n, dtype=PEAK_DTYPE).view(np.recarray)
        if n:
            out.Y_AXIS, out.X_AXIS = self.centre[:, 0], self.centre[:, 1]
            out.cID = self.cluster
            out.Y_LW, out.X_LW = self.fwhh[:, 0], self.fwhh[:, 1]
            out.VOL = self.volume
            out.SCORE = self.score
            out.HEIGHT = self.height
            out.J_HZ, out.N_LINES = self.j_hz, self.n_lines
            out.Y_PPM = uc[0].ppm(out.Y_AXIS)
            out.X_PPM = uc[1].ppm(out.X_AXIS)
            out.Y_LW_HZ = out.Y_LW * abs(uc[0].hz(1.0) - uc[0].hz(0.0))
            out.X_LW_HZ = out.X_LW * abs(uc[1].hz(1.0) - uc[1].hz(0.0))
        if as_frame:
            import pandas as pd
            return pd.DataFrame.from_records(np.asarray(out), columns=list(PEAK_DTYPE.names))
        return out

    def used(self):
        """What was used, as a plain dict (for summaries): noise, pthres,
        nthres, method, factors, n_tiles, score_threshold, model_version."""
        return dict(noise=self.noise, pthres=self.pthres, nthres=self.nthres, method=self.method,
                    factors=None if self.factors is None else list(self.factors), n_tiles=self.n_tiles,
                    score_threshold=self.score_threshold, model_version=self.model_version)
