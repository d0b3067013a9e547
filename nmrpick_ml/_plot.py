"""Picture of a pick: contours of the spectrum with the peaks on top (``--plot``).

Drawn as NMR programs draw a 2D spectrum: the direct (acquisition) dimension
along x whatever the file's storage order, ppm decreasing to the right and
downwards, contours from a multiple of the noise, positive and negative in two
colours, and the view zoomed to the part of the spectrum that holds signal (or
to the region that was picked).

Needs matplotlib (the ``plot`` extra: ``pip install 'nmrpick-ml[plot]'``); it is
imported inside the functions, with the non-interactive Agg canvas (no pyplot,
no display needed).
"""

import os
from pathlib import Path

import numpy as np

from ._defaults import CONTOUR_START
from ._errors import NmrpickError
from .files import atomic_write

__all__ = ["require_matplotlib", "check_plot_path", "contour_levels", "signal_box",
           "peak_figure", "plot_peaks", "display_name"]

#: Colours of the positive and negative contours.
POSITIVE, NEGATIVE = "tab:blue", "tab:red"
#: Markers of positive and negative picks (faces coloured by SCORE).
POS_MARKER, NEG_MARKER = "o", "v"
#: At most this many contour levels per sign; the step factor is at least MIN_FACTOR.
MAX_LEVELS, MIN_FACTOR = 12, 1.3
#: Labels: font size (points), and the most labels drawn (the best-scored first).
LABEL_SIZE, MAX_LABELS = 6.5, 150
#: Pictures: size (inches) and resolution (dpi).
FIGSIZE, DPI = (9.0, 6.5), 150


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


def contour_levels(data, noise, start=CONTOUR_START, max_levels=MAX_LEVELS):
    """Positive and negative contour levels from ``start`` x noise up to the data's extremes.

    The levels are geometric: ``start x noise x factor**k`` with the factor
    chosen so that at most ``max_levels`` levels span the strongest signal (and
    at least :data:`MIN_FACTOR`).

    Returns
    -------
    pos, neg : ndarray
        Increasing positive levels, and increasing negative levels (the most
        negative first), as matplotlib wants them.

    Examples
    --------
    >>> pos, neg = contour_levels(np.array([[-25.0, 0.0], [0.0, 100.0]]), 1.0, max_levels=3)
    >>> pos.round(2).tolist(), neg.round(2).tolist()
    ([5.0, 22.36, 100.0], [-22.36, -5.0])
    """
    if not noise > 0 or not start > 0:
        return np.zeros(0), np.zeros(0)
    base = start * noise
    hi, lo = float(np.max(data)), float(np.min(data))
    top = max(hi, -lo)
    if top < base:
        return np.zeros(0), np.zeros(0)
    factor = max(MIN_FACTOR, (top / base) ** (1.0 / max(max_levels - 1, 1)))
    n = int(np.floor(np.log(top / base) / np.log(factor) + 1e-9)) + 1
    levels = base * factor ** np.arange(n)
    return levels[levels <= hi * (1 + 1e-9)], -levels[levels <= -lo * (1 + 1e-9)][::-1]


def signal_box(data, noise, peaks=None, *, start=CONTOUR_START, pad=0.04):
    """Point limits ``((y0, y1), (x0, x1))`` of the part of ``data`` that holds signal.

    Signal is every pick and every point above ``max(start, 10) x noise`` in a
    group of at least 3 such points (a lone noise spike does not widen the
    view). The box is padded by ``pad`` of each axis' length; an axis where the
    signal spans most of the spectrum is shown whole.

    Examples
    --------
    >>> d = np.zeros((100, 200)); d[40:43, 120:124] = 50.0
    >>> signal_box(d, 1.0)
    ((36, 46), (112, 131))
    """
    from scipy import ndimage
    n0, n1 = data.shape
    mask = np.abs(data) > max(start, 10.0) * noise if noise > 0 else np.zeros(data.shape, bool)
    lab, n = ndimage.label(mask)
    ys, xs = [], []
    if n:
        sizes = np.bincount(lab.ravel())
        keep = sizes >= 3
        keep[0] = False
        yy, xx = np.nonzero(keep[lab])
        ys.append(yy)
        xs.append(xx)
    if peaks is not None and len(peaks):
        ys.append(np.asarray(peaks["Y_AXIS"], float))
        xs.append(np.asarray(peaks["X_AXIS"], float))
    ys = np.concatenate(ys) if ys else np.zeros(0)
    xs = np.concatenate(xs) if xs else np.zeros(0)
    if not len(ys):
        return (0, n0 - 1), (0, n1 - 1)
    out = []
    for v, size in ((ys, n0), (xs, n1)):
        a, b = float(np.min(v)), float(np.max(v))
        margin = max(pad * size, 3.0)
        a, b = int(np.floor(max(a - margin, 0))), int(np.ceil(min(b + margin, size - 1)))
        if b - a > 0.85 * (size - 1):
            a, b = 0, size - 1
        out.append((a, b))
    return tuple(out)


def display_name(spectrum):
    """The spectrum's name as a user knows it: the file name (with its folder
    when the name is a number, ``t1/1.ft2``), for Bruker
    ``<data set>/<expno>/pdata/<procno>``, plus the plane of a 3-D file."""
    p = Path(os.path.abspath(spectrum.path))
    if spectrum.format == "bruker" and p.parent.name == "pdata":
        exp = p.parent.parent
        name = f"{exp.parent.name}/{exp.name}/pdata/{p.name}"
    else:
        name = p.name
        if p.stem.replace(".", "").isdigit() and p.parent.name:   # 1.ft2: say which series
            name = f"{p.parent.name}/{name}"
    return name + ("" if spectrum.plane is None else f" plane {spectrum.plane}")


def plot_peaks(path, spectrum, peaks, noise, *, title=None, region=None,
               contour_start=CONTOUR_START):
    """Write a contour plot of ``spectrum`` with ``peaks`` on it to ``path``.

    The picture is :func:`peak_figure`'s. Written atomically (a temporary
    file in the same folder, then ``os.replace``).

    Parameters
    ----------
    path : str or path-like
        Picture file; the format comes from the extension (png, pdf, svg, ...).
    spectrum, peaks, noise, title, region, contour_start
        As for :func:`peak_figure`.

    Returns
    -------
    path : str
    """
    fmt = Path(os.fspath(path)).suffix.lower().lstrip(".")
    fig = peak_figure(spectrum, peaks, noise, title=title, region=region,
                      contour_start=contour_start)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=DPI))


def _ppm(uc, points):
    return np.asarray(uc.ppm(np.asarray(points, dtype=float)), dtype=float)


def peak_figure(spectrum, peaks, noise, *, title=None, region=None, contour_start=CONTOUR_START):
    """A matplotlib Figure: contours of ``spectrum`` with ``peaks`` on it.

    The direct dimension (``spectrum.direct_axis``, array axis 1 unless the
    file is transposed) runs along x, decreasing to the right; the indirect
    one along y, increasing downwards; both in ppm, labelled with their
    nucleus. The view is ``region`` when given, else the box that holds the
    signal and the picks (:func:`signal_box`). Contours start at
    ``contour_start`` x ``noise`` (:func:`contour_levels`): positive in blue,
    negative in red and dashed. Positive picks are circles, negative picks
    (HEIGHT < 0) red-edged triangles, both filled by SCORE (colour bar); the
    subtitle says so (no legend box, which would hide picks). Picks
    are labelled with their INDEX (the 1-based row of the table) where the
    label has room; the others are left unlabelled.

    Parameters
    ----------
    spectrum : Spectrum
        From :func:`nmrpick_ml.read_spectrum`.
    peaks : numpy.recarray
        The table :func:`nmrpick_ml.pick` returns.
    noise : float
        Noise standard deviation (data units) for the contour levels.
    title : str, optional
        Default: the spectrum's name (:func:`display_name`) and the number of peaks.
    region : str, dict or two ranges, optional
        The view, in ppm, in any form of :func:`nmrpick_ml.region.parse_region`
        (``"6.5:10.5,100:135"`` as X, Y or ``"1H=6.5:10.5,15N=100:135"``).
    contour_start : float, optional
        Lowest contour, in noise units (default :data:`CONTOUR_START`).

    Returns
    -------
    matplotlib.figure.Figure
        With the Agg canvas; not registered with pyplot.
    """
    require_matplotlib()
    from matplotlib.figure import Figure

    data = np.asarray(spectrum.data)
    direct = int(getattr(spectrum, "direct_axis", 1))
    if region is not None:
        from .region import parse_region, region_points
        box = region_points(parse_region(region, spectrum.labels, "--region"), spectrum.uc,
                            data.shape, "--region")
    else:
        box = signal_box(data, noise, peaks, start=contour_start)
    (y0, y1), (x0, x1) = [(int(max(np.floor(min(a, b)), 0)), int(min(np.ceil(max(a, b)), n - 1)))
                          for (a, b), n in zip(box, data.shape)]
    sub = data[y0:y1 + 1, x0:x1 + 1]
    p0 = _ppm(spectrum.uc[0], np.arange(y0, y1 + 1))
    p1 = _ppm(spectrum.uc[1], np.arange(x0, x1 + 1))
    ax_x, ax_y = (1, 0) if direct == 1 else (0, 1)      # array axis on x and on y
    if direct == 1:
        px_grid, py_grid, z = p1, p0, sub
    else:
        px_grid, py_grid, z = p0, p1, sub.T

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    pos, neg = contour_levels(sub, noise, contour_start) if sub.size else ((), ())
    if len(pos) and min(z.shape) > 1:
        ax.contour(px_grid, py_grid, z, levels=pos, colors=POSITIVE, linewidths=0.6,
                   linestyles="solid")
    if len(neg) and min(z.shape) > 1:
        ax.contour(px_grid, py_grid, z, levels=neg, colors=NEGATIVE, linewidths=0.6,
                   linestyles="dashed")

    n = len(peaks)
    cols = ("X_PPM", "Y_PPM")
    ppm_of = {1: np.asarray(peaks[cols[0]], float), 0: np.asarray(peaks[cols[1]], float)} \
        if n else {0: np.zeros(0), 1: np.zeros(0)}
    px, py = ppm_of[ax_x], ppm_of[ax_y]
    score = np.asarray(peaks["SCORE"], float) if n else np.zeros(0)
    height = np.asarray(peaks["HEIGHT"], float) if n else np.zeros(0)
    negative = height < 0
    sc = None
    d = _marker_size(ax, px, py, xlim=(px_grid.min(), px_grid.max()),
                     ylim=(py_grid.min(), py_grid.max()))
    for sel, marker, edge, size, label in ((~negative, POS_MARKER, "black", d * d, "positive pick"),
                                           (negative, NEG_MARKER, NEGATIVE, 1.3 * d * d,
                                            "negative pick")):
        if sel.any() or (label == "positive pick" and not negative.any()):
            s = ax.scatter(px[sel], py[sel], c=score[sel], cmap="viridis", vmin=0.0, vmax=1.0,
                           s=size, marker=marker, edgecolors=edge, linewidths=0.6, zorder=3,
                           label=label)
            sc = s if sc is None else sc
    fig.colorbar(sc, ax=ax, label="SCORE", shrink=0.8)

    # the view: the box's edges in ppm, decreasing to the right and increasing downwards
    edges = [sorted(_ppm(spectrum.uc[a], [min(box[a]), max(box[a])])) for a in (0, 1)]
    xlim = (edges[ax_x][1], edges[ax_x][0])
    ylim = (edges[ax_y][1], edges[ax_y][0])
    if xlim[0] == xlim[1]:
        xlim = (xlim[0] + 0.5, xlim[1] - 0.5)
    if ylim[0] == ylim[1]:
        ylim = (ylim[0] + 0.5, ylim[1] - 0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel(f"{spectrum.labels[ax_x]} (ppm)")
    ax.set_ylabel(f"{spectrum.labels[ax_y]} (ppm)")
    if title is None:
        title = f"{display_name(spectrum)}: {n} peak{'' if n == 1 else 's'}"
    fig.suptitle(title)
    factor = pos[1] / pos[0] if len(pos) > 1 else (neg[0] / neg[1] if len(neg) > 1 else None)
    step = f", x {factor:.3g} per level" if factor else ""
    # the key in words (a legend box would hide picks): contours, then markers
    marks = "\u25cb positive" + (", red-edged \u25bd negative" if negative.any() else "")
    subtitle = (f"contours from {contour_start:g} x noise ({noise:.3g}){step}: "
                f"{POSITIVE.split(':')[-1]} positive, {NEGATIVE.split(':')[-1]} dashed negative\n"
                f"picks {marks}, labelled by INDEX")
    sub_artist = ax.set_title(subtitle, fontsize=8, color="0.3")
    n_labelled = _label_picks(fig, ax, px, py, score, d)      # after the layout is known
    if n_labelled < n:
        sub_artist.set_text(subtitle + f" ({n_labelled} of {n}, where there is room)")
    return fig


def _marker_size(ax, px, py, xlim, ylim):
    """Marker diameter (points): half the median distance between neighbouring
    picks on the page, between 2.5 and 6.5 points, so that crowded picks do not
    hide the contours they sit on."""
    if len(px) < 2:
        return 6.5
    from scipy.spatial import cKDTree
    w_in, h_in = FIGSIZE[0] * 0.75, FIGSIZE[1] * 0.8          # about the axes' size
    sx = w_in * 72 / max(abs(xlim[1] - xlim[0]), 1e-12)
    sy = h_in * 72 / max(abs(ylim[1] - ylim[0]), 1e-12)
    pts = np.column_stack([np.asarray(px) * sx, np.asarray(py) * sy])
    dist = cKDTree(pts).query(pts, k=2)[0][:, 1]
    return float(np.clip(0.5 * np.median(dist), 2.5, 6.5))


def _label_picks(fig, ax, px, py, score, diameter):
    """Label picks with their INDEX where the label overlaps no other label and
    no other pick; the best-scored picks are labelled first (at most
    :data:`MAX_LABELS`). ``diameter``: of the markers, points. Returns the count."""
    n = len(px)
    if not n:
        return 0
    fig.canvas.draw()                        # runs the layout: final axes position
    xy = ax.transData.transform(np.column_stack([px, py]))          # display pixels
    scale = fig.dpi / 72.0                                           # pixels per point
    ch_w, ch_h = 0.62 * LABEL_SIZE * scale, 1.0 * LABEL_SIZE * scale
    r = 0.5 * diameter * scale                                       # marker radius, px
    off = r + 1.5 * scale                                            # label offset, px
    (bx0, by0), (bx1, by1) = ax.get_window_extent().get_points()
    offsets = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    placed = []
    count = 0
    for i in np.argsort(-score, kind="stable")[:MAX_LABELS * 4]:
        if count >= MAX_LABELS:
            break
        text = str(i + 1)
        w, h = ch_w * len(text), ch_h
        for sx, sy in offsets:
            x = xy[i, 0] + sx * off + (0 if sx > 0 else -w)
            y = xy[i, 1] + sy * off + (0 if sy > 0 else -h)
            rect = (x, y, x + w, y + h)
            if rect[0] < bx0 or rect[2] > bx1 or rect[1] < by0 or rect[3] > by1:
                continue
            if any(_overlap(rect, q) for q in placed):
                continue
            near = ((xy[:, 0] > rect[0] - r) & (xy[:, 0] < rect[2] + r)
                    & (xy[:, 1] > rect[1] - r) & (xy[:, 1] < rect[3] + r))
            near[i] = False
            if near.any():
                continue
            placed.append(rect)
            ax.annotate(text, (px[i], py[i]), xytext=(sx * off / scale, sy * off / scale),
                        textcoords="offset points",
                        ha="left" if sx > 0 else "right", va="bottom" if sy > 0 else "top",
                        fontsize=LABEL_SIZE, zorder=4)
            count += 1
            break
    return count


def _overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])
