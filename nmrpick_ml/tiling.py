"""Cut a spectrum into overlapping tiles and stitch tile detections back.

Tiles are ``tile`` x ``tile`` with at least ``overlap`` points shared between
neighbours; the last tile on each axis is aligned to the border, and spectra
smaller than a tile are padded (with zeros, in normalised units). Each tile
owns a *core*: the part of the spectrum closer to it than to its neighbours
(the split runs through the middle of each overlap). A detection is kept only
by the tile whose core (widened by ``SEAM_SLACK`` points) holds its centre, so
a peak on a seam is found by at least one tile; the copies on a seam are merged
after refinement (``_refine``), so it is reported once.

Which tiles run, and where detections are kept, is decided on a grid of the
training tile (:class:`ActiveGrid`), so the area searched is the same for any
inference tile: a larger tile runs fewer, larger network calls over the same
area, and finds the same peaks.
"""

from __future__ import annotations

import numpy as np

from ._defaults import DEFAULT_OVERLAP, DEFAULT_TILE

__all__ = ["DEFAULT_TILE", "DEFAULT_OVERLAP", "tile_starts", "core_bounds", "cut_tiles", "stitch",
           "fit_tile", "ActiveGrid"]

#: Points by which a tile's core is widened when keeping its detections.
SEAM_SLACK = 2.0


def fit_tile(tile, shape, smallest=DEFAULT_TILE, multiple=32):
    """The inference tile for a spectrum of ``shape`` (before resampling).

    A spectrum no larger than ``smallest`` (the training tile) on one of its
    axes is picked with tiles of that size, exactly as before larger inference
    tiles (so a training-size tile is one tile of its own size); a larger one
    with ``tile``, but no larger than its longer side rounded up to ``multiple``.

    Examples
    --------
    >>> fit_tile(256, (128, 128)), fit_tile(256, (66, 45)), fit_tile(256, (100, 3000))
    (128, 128, 128)
    >>> fit_tile(256, (150, 170)), fit_tile(256, (1024, 2048)), fit_tile(128, (1024, 2048))
    (192, 256, 128)
    """
    if min(shape) <= smallest:
        return int(min(smallest, tile))
    need = -(-max(shape) // multiple) * multiple
    return int(max(min(tile, need), min(smallest, tile)))


def tile_starts(n, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP):
    """Start indices of tiles along an axis of ``n`` points.

    Examples
    --------
    >>> tile_starts(300, 128, 32)
    [0, 86, 172]
    >>> tile_starts(100, 128, 32)
    [0]
    """
    if n <= tile:
        return [0]
    step = tile - overlap
    k = int(np.ceil((n - tile) / step)) + 1
    # spread the tiles evenly so every overlap is at least `overlap`
    return [int(round(i * (n - tile) / (k - 1))) for i in range(k)]


def core_bounds(starts, n, tile=DEFAULT_TILE):
    """(lo, hi) of each tile's core along one axis (hi exclusive, in points).

    Examples
    --------
    >>> core_bounds([0, 86, 172], 300, 128)
    [(0.0, 107.0), (107.0, 193.0), (193.0, 300.0)]
    """
    bounds = []
    for i, s in enumerate(starts):
        lo = 0.0 if i == 0 else (s + starts[i - 1] + tile) / 2.0
        hi = float(n) if i == len(starts) - 1 else (starts[i + 1] + s + tile) / 2.0
        bounds.append((lo, hi))
    return bounds


class ActiveGrid:
    """Where peaks are looked for: the cores of the grid tiles that hold a marked point.

    The spectrum is cut into ``tile`` x ``tile`` grid tiles (with ``overlap``,
    as :func:`cut_tiles` cuts them); a grid tile is *active* when ``marked``
    holds a True point in it (the picker marks points above its skip level).
    Detections are kept only inside the cores of active grid tiles, whatever
    the size of the tiles the network runs on: with the grid at the training
    tile, a 256-point inference tile keeps exactly the area that 128-point
    tiles would have run (a larger tile holding one strong peak would otherwise
    look at, and pick noise in, the empty area around it).

    Parameters
    ----------
    marked : ndarray of bool, shape (N1, N2)
    tile, overlap : int
        The grid (the training tile and the picker's overlap).

    Examples
    --------
    >>> m = np.zeros((300, 300), bool); m[10, 10] = True
    >>> g = ActiveGrid(m, 128, 32)
    >>> g.active.astype(int).tolist()
    [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    >>> g.covers(((0, 150), (0, 150))), g.covers(((150, 300), (0, 300)))
    (True, False)
    >>> bool(g.holds(50.0, 100.0)), bool(g.holds(50.0, 120.0))
    (True, False)
    """

    def __init__(self, marked, tile, overlap):
        n0, n1 = marked.shape
        sy, sx = tile_starts(n0, tile, overlap), tile_starts(n1, tile, overlap)
        self.ybounds = np.array(core_bounds(sy, n0, tile), float).reshape(-1, 2)
        self.xbounds = np.array(core_bounds(sx, n1, tile), float).reshape(-1, 2)
        on = np.zeros((len(sy), len(sx)), bool)
        for iy, y0 in enumerate(sy):
            cols = marked[y0:y0 + tile].any(axis=0)       # one pass over the rows of the band
            for ix, x0 in enumerate(sx):
                on[iy, ix] = cols[x0:x0 + tile].any()
        self.active = on

    def covers(self, core):
        """Whether the core ``((ylo, yhi), (xlo, xhi))`` of a tile meets an active core."""
        (ylo, yhi), (xlo, xhi) = core
        iy = (self.ybounds[:, 0] < yhi) & (self.ybounds[:, 1] > ylo)
        ix = (self.xbounds[:, 0] < xhi) & (self.xbounds[:, 1] > xlo)
        return bool(self.active[np.ix_(iy, ix)].any())

    def holds(self, cy, cx, slack=None):
        """Whether the point (``cy``, ``cx``) (pixel centres at integers) lies in an
        active core widened by ``slack`` (default :data:`SEAM_SLACK`) points."""
        s = SEAM_SLACK if slack is None else slack
        iy = (self.ybounds[:, 0] - 0.5 - s <= cy) & (cy < self.ybounds[:, 1] - 0.5 + s)
        ix = (self.xbounds[:, 0] - 0.5 - s <= cx) & (cx < self.xbounds[:, 1] - 0.5 + s)
        return bool(self.active[np.ix_(iy, ix)].any())


def cut_tiles(x, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, keep=None, stack=True):
    """Cut a (C, N1, N2) array into tiles.

    Parameters
    ----------
    x : ndarray of shape (C, N1, N2)
    tile, overlap : int
    keep : callable or ActiveGrid, optional
        ``keep(y0, x0) -> bool``; tiles for which it is False are skipped
        (e.g. nothing above the threshold in them). An :class:`ActiveGrid`:
        the tiles whose core meets one of its active cores are run.
    stack : bool, optional
        False: return a list of views instead of one stacked array (no copy,
        for large spectra).

    Returns
    -------
    tiles : ndarray of shape (n, C, tile, tile)
    origins : list of (y0, x0)
        Top-left corner of each tile in the spectrum.
    cores : list of ((ylo, yhi), (xlo, xhi))
    """
    c, n0, n1 = x.shape
    if n0 < tile or n1 < tile:
        pad = np.zeros((c, max(n0, tile), max(n1, tile)), x.dtype)
        pad[:, :n0, :n1] = x
        xp = pad
    else:
        xp = x
    sy, sx = tile_starts(n0, tile, overlap), tile_starts(n1, tile, overlap)
    by, bx = core_bounds(sy, n0, tile), core_bounds(sx, n1, tile)
    tiles, origins, cores = [], [], []
    for iy, y0 in enumerate(sy):
        for ix, x0 in enumerate(sx):
            if isinstance(keep, ActiveGrid):
                if not keep.covers((by[iy], bx[ix])):
                    continue
            elif keep is not None and not keep(y0, x0):
                continue
            tiles.append(xp[:, y0:y0 + tile, x0:x0 + tile])
            origins.append((y0, x0))
            cores.append((by[iy], bx[ix]))
    if not stack:
        return tiles, origins, cores
    arr = np.stack(tiles) if tiles else np.zeros((0, c, tile, tile), x.dtype)
    return arr, origins, cores


def stitch(detections, origins, cores, active=None):
    """Gather tile detections into spectrum coordinates, each kept by one tile.

    Parameters
    ----------
    detections : list of dict
        Per tile, as the engines return them (``boxes`` (y0, x0, y1, x1) in
        tile coordinates, ``scores``, ``extents`` (m, 2) of the masks).
    origins, cores : from :func:`cut_tiles`.
    active : ActiveGrid, optional
        Keep only detections inside its active cores (:meth:`ActiveGrid.holds`).

    Returns
    -------
    dict
        ``boxes`` (m, 4), ``scores`` (m,) and ``extents`` (m, 2) of the kept
        detections, boxes in spectrum coordinates.
    """
    boxes, scores, extents = [], [], []
    for det, (oy, ox), ((ylo, yhi), (xlo, xhi)) in zip(detections, origins, cores):
        for b, s, e in zip(det["boxes"], det["scores"], det["extents"]):
            cy = (b[0] + b[2]) / 2 - 0.5 + oy
            cx = (b[1] + b[3]) / 2 - 0.5 + ox
            # the core, widened by SEAM_SLACK: two tiles may place a peak on a
            # seam a fraction of a point apart, each just outside its own core;
            # the copies this lets through are merged by the refinement
            if not (ylo - 0.5 - SEAM_SLACK <= cy < yhi - 0.5 + SEAM_SLACK
                    and xlo - 0.5 - SEAM_SLACK <= cx < xhi - 0.5 + SEAM_SLACK):
                continue
            if active is not None and not active.holds(cy, cx):
                continue
            boxes.append(b + np.array([oy, ox, oy, ox], float))
            scores.append(float(s))
            extents.append(e)
    return dict(boxes=np.array(boxes, float).reshape(-1, 4), scores=np.array(scores, float),
                extents=np.array(extents, float).reshape(-1, 2))
