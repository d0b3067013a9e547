"""Picture of a pick: contours of the spectrum with the peaks on top (``--plot``).

Needs matplotlib (the ``plot`` extra: ``pip install 'nmrpick-ml[plot]'``); it is
imported inside the functions, with the non-interactive Agg canvas (no pyplot,
no display needed).
"""

import os
from pathlib import Path

import numpy as np

from ._errors import NmrpickError

__all__ = ["require_matplotlib", "check_plot_path", "contour_levels", "peak_figure",
           "plot_peaks"]

#: Lowest contour, in noise standard deviations; each next level doubles.
FIRST_LEVEL = 5.0
#: Colours of the positive and negative contours.
POSITIVE, NEGATIVE = "tab:blue", "tab:red"


def require_matplotlib():
    """Import matplotlib, or raise :class:`NmrpickError` saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise NmrpickError("--plot needs matplotlib, which is not installed: "
                           "pip install 'nmrpick-ml[plot]'") from None
    return matplotlib


def check_plot_path(path, inputs=()):
    """Check, before any work, that a picture can be written to ``path``.

    The folder must exist, ``path`` must not be an input, and its extension must
    be a format matplotlib writes (png, pdf, svg, ...). Returns the format.
    """
    from .io import check_output_path
    require_matplotlib()
    from matplotlib.figure import Figure
    check_output_path(path, inputs=inputs)
    fmt = Path(os.fspath(path)).suffix.lower().lstrip(".")
    supported = Figure().canvas.get_supported_filetypes()
    if fmt not in supported:
        raise NmrpickError(f"{path}: unknown picture format {fmt or '(no extension)'!r}; use "
                           + ", ".join(sorted(supported)))
    return fmt


def contour_levels(data, noise, first=FIRST_LEVEL):
    """Positive and negative contour levels: ``first`` x noise, doubling each time.

    Examples
    --------
    >>> pos, neg = contour_levels(np.array([[-25.0, 0.0], [0.0, 100.0]]), 1.0)
    >>> pos.tolist(), neg.tolist()
    ([5.0, 10.0, 20.0, 40.0, 80.0], [-20.0, -10.0, -5.0])
    """
    if not noise > 0:
        return np.zeros(0), np.zeros(0)
    hi, lo = float(np.max(data)), float(np.min(data))
    top = max(hi, -lo)
    n = int(np.floor(np.log2(top / (first * noise)))) + 1 if top >= first * noise else 0
    levels = first * noise * 2.0 ** np.arange(n)
    return levels[levels <= hi], -levels[levels <= -lo][::-1]


def plot_peaks(path, spectrum, peaks, noise, *, title=None):
    """Write a contour plot of ``spectrum`` with ``peaks`` on it to ``path``.

    The picture is :func:`peak_figure`'s. Written atomically (a temporary
    file in the same folder, then ``os.replace``).

    Parameters
    ----------
    path : str or path-like
        Picture file; the format comes from the extension (png, pdf, svg, ...).
    spectrum, peaks, noise, title
        As for :func:`peak_figure`.

    Returns
    -------
    path : str
    """
    from .io import _atomic_write
    fmt = Path(os.fspath(path)).suffix.lower().lstrip(".")
    fig = peak_figure(spectrum, peaks, noise, title=title)
    return _atomic_write(Path(os.fspath(path)), lambda tmp: fig.savefig(tmp, format=fmt, dpi=150))


def peak_figure(spectrum, peaks, noise, *, title=None):
    """A matplotlib Figure: contours of ``spectrum`` with ``peaks`` on it.

    Contours start at 5 x ``noise`` and double (positive and negative in two
    colours). Axes are in ppm and run as NMR spectra are drawn: the direct
    dimension (array axis 1) along x, decreasing to the right, the indirect one
    along y, increasing downwards. Each peak is a marker coloured by its SCORE
    (colour bar) and labelled with its INDEX (1-based row of the table, as in
    the ``.tab``).

    Parameters
    ----------
    spectrum : Spectrum
        From :func:`nmrpick_ml.read_spectrum`.
    peaks : numpy.recarray
        The table :func:`nmrpick_ml.pick` returns.
    noise : float
        Noise standard deviation (data units) for the contour levels.
    title : str, optional
        Default: the file name and the number of peaks.

    Returns
    -------
    matplotlib.figure.Figure
        With the Agg canvas; not registered with pyplot.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    data = np.asarray(spectrum.data)
    n0, n1 = data.shape
    y = spectrum.uc[0].ppm(np.arange(n0, dtype=float))
    x = spectrum.uc[1].ppm(np.arange(n1, dtype=float))
    fig = Figure(figsize=(9.0, 6.5), layout="constrained")
    ax = fig.add_subplot()
    pos, neg = contour_levels(data, noise)
    if len(pos):
        ax.contour(x, y, data, levels=pos, colors=POSITIVE, linewidths=0.5)
    if len(neg):
        ax.contour(x, y, data, levels=neg, colors=NEGATIVE, linewidths=0.5)
    px, py = np.asarray(peaks.X_PPM, float), np.asarray(peaks.Y_PPM, float)
    sc = ax.scatter(px, py, c=np.asarray(peaks.SCORE, float), cmap="viridis", vmin=0.0,
                    vmax=1.0, s=22, marker="o", edgecolors="black", linewidths=0.5, zorder=3)
    for i, (a, b) in enumerate(zip(px, py), start=1):
        ax.annotate(str(i), (a, b), xytext=(3, 3), textcoords="offset points", fontsize=6,
                    zorder=4)
    fig.colorbar(sc, ax=ax, label="SCORE", shrink=0.8)
    ax.set_xlim(max(x[0], x[-1]), min(x[0], x[-1]))     # ppm decreasing to the right
    ax.set_ylim(max(y[0], y[-1]), min(y[0], y[-1]))     # ppm increasing downwards
    ax.set_xlabel(f"{spectrum.labels[1]} (ppm)")
    ax.set_ylabel(f"{spectrum.labels[0]} (ppm)")
    if title is None:
        plane = "" if spectrum.plane is None else f" plane {spectrum.plane}"
        title = f"{Path(spectrum.path).name}{plane}: {len(peaks)} peaks"
    fig.suptitle(title)
    ax.set_title(f"contours from {FIRST_LEVEL:g} x noise ({noise:.3g}), doubling; "
                 f"{POSITIVE.split(':')[-1]} positive, {NEGATIVE.split(':')[-1]} negative; "
                 "picks labelled by INDEX", fontsize=8, color="0.3")
    return fig
