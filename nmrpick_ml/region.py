"""Regions of a 2D spectrum in ppm: what ``--region`` and ``--exclude`` mean.

A region gives a ppm range per axis, in one of these forms:

* ``"6.5:10.5,100:135"``: X range, then Y range, in the order of the table's
  columns (X = the last array axis, Y = the first);
* ``"1H=6.5:10.5,15N=100:135"``: by nucleus (``H1``, ``N15``, ``HN`` also
  work) or by ``X``/``Y``, in any order; an axis left out is taken whole, so
  ``"1H=4.6:4.8"`` is a band across the whole other axis;
* in Python also a dict ``{"1H": (6.5, 10.5)}`` or a pair of ``(low, high)``
  ranges in X, Y order.

The ends of a range can be given in either order. :func:`parse_region` turns
any of these into ppm ranges in array-axis order, :func:`region_points` into
point ranges on a spectrum's grid, and :func:`in_region` tells which peaks lie
inside. Standard library and numpy only.
"""

import re

import numpy as np

from ._errors import NmrpickError

__all__ = ["parse_region", "region_points", "in_region", "resolve_regions", "keep_mask"]

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUM})\s*:\s*({_NUM})\s*$")


def _nucleus_key(label):
    """('H', '1') from '1H', 'H1', 'HN', 'H'; None for a name that is no nucleus."""
    s = str(label).strip()
    m = re.fullmatch(r"(\d*)([A-Za-z]{1,2})(\d*)", s)
    if not m:
        return None
    a, el, b = m.groups()
    el = el.upper()
    if el in ("HN", "HA", "HC"):
        el = "H"
    if el in ("NH",):
        el = "N"
    if el in ("CA", "CB", "CO") and not (a or b):
        el = "C"
    return el[:1] + el[1:].lower(), a or b


def _axis_of(name, labels, what):
    """Array axis (0 or 1) named ``name``: X, Y, or a nucleus of ``labels``."""
    up = name.strip().upper()
    if up in ("X", "Y"):
        return 1 if up == "X" else 0
    key = _nucleus_key(name)
    keys = [_nucleus_key(lab) for lab in labels]
    hits = [i for i, k in enumerate(keys)
            if key is not None and k is not None and k[0] == key[0]
            and (not key[1] or not k[1] or k[1] == key[1])]
    if not hits:
        raise NmrpickError(f"{what}: no axis named {name!r}; the spectrum's axes are "
                           f"X = {labels[1]}, Y = {labels[0]} (or use X=..., Y=...)")
    if len(hits) > 1:
        raise NmrpickError(f"{what}: both axes are {labels[0]}; name them X=... and Y=... "
                           "or give the ranges in X,Y order")
    return hits[0]


def _range(value, what):
    if isinstance(value, str):
        m = _RANGE.match(value)
        if not m:
            raise NmrpickError(f"{what}: {value!r} is not a ppm range LOW:HIGH (e.g. 6.5:10.5)")
        lo, hi = float(m.group(1)), float(m.group(2))
    else:
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise NmrpickError(f"{what}: {value!r} is not a (low, high) ppm range") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo == hi:
        raise NmrpickError(f"{what}: the range {lo:g}:{hi:g} ppm is empty or not finite")
    return (min(lo, hi), max(lo, hi))


def parse_region(region, labels, what="region"):
    """ppm ranges per array axis, ``((y_low, y_high) or None, (x_low, x_high) or None)``.

    Parameters
    ----------
    region : str, dict or sequence of two ranges
        See the module docstring. None gives None.
    labels : sequence of 2 str
        The nucleus of each array axis (``Spectrum.labels``), for named axes.
    what : str
        The name used in error messages (e.g. ``'--region'``).

    Returns
    -------
    tuple of 2 (tuple of 2 float or None), or None

    Raises
    ------
    NmrpickError
        Malformed text, an unknown or ambiguous axis name, an axis given twice,
        an empty range.

    Examples
    --------
    >>> parse_region("6.5:10.5,135:100", ("15N", "1H"))
    ((100.0, 135.0), (6.5, 10.5))
    >>> parse_region("N15=100:135", ("15N", "1H"))
    ((100.0, 135.0), None)
    >>> parse_region({"X": (7, 9)}, ("15N", "1H"))
    (None, (7.0, 9.0))
    """
    if region is None:
        return None
    out = [None, None]
    if isinstance(region, str):
        parts = [p for p in region.split(",")]
        if all("=" in p for p in parts):
            items = [tuple(p.split("=", 1)) for p in parts]
        elif any("=" in p for p in parts):
            raise NmrpickError(f"{what}: {region!r} mixes named and unnamed ranges; name every "
                               "axis (1H=6.5:10.5,15N=100:135) or none (6.5:10.5,100:135)")
        elif len(parts) == 2:
            items = [("X", parts[0]), ("Y", parts[1])]
        else:
            raise NmrpickError(f"{what}: {region!r} must be X_LOW:X_HIGH,Y_LOW:Y_HIGH (ppm, "
                               "the table's X then Y) or name its axes, e.g. 1H=6.5:10.5")
    elif isinstance(region, dict):
        items = [(str(k), v) for k, v in region.items()]
    else:
        try:
            seq = list(region)
        except TypeError:
            raise NmrpickError(f"{what}: must be a string, a dict or two ranges; got "
                               f"{type(region).__name__}") from None
        if len(seq) != 2:
            raise NmrpickError(f"{what}: give two ranges (X, then Y); got {len(seq)}")
        items = [("X", seq[0]), ("Y", seq[1])]
    for name, value in items:
        ax = _axis_of(name, labels, what)
        if out[ax] is not None:
            raise NmrpickError(f"{what}: axis {labels[ax]} is given twice")
        out[ax] = _range(value, f"{what} {name.strip()}")
    return tuple(out)


def region_points(ranges, uc, shape, what="region"):
    """Point ranges ``((y0, y1), (x0, x1))`` (0-based, fractional) of ppm ranges.

    An axis whose range is None spans the whole axis, ``(-0.5, n - 0.5)``
    (the edges of its first and last points); ranges are clipped to those
    edges. A range wholly outside the spectrum raises :class:`NmrpickError`.

    Examples
    --------
    >>> import nmrglue as ng
    >>> udic = ng.fileiobase.create_blank_udic(2)
    >>> for i, n in enumerate((50, 100)):
    ...     udic[i].update(size=n, sw=1000.0, obs=100.0, car=500.0)
    >>> uc = [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]
    >>> region_points(((2.0, 4.0), None), uc, (50, 100))
    ((30.0, 40.0), (-0.5, 99.5))
    """
    out = []
    for ax, (r, u, n) in enumerate(zip(ranges, uc, shape)):
        if r is None:
            out.append((-0.5, n - 0.5))
            continue
        a, b = sorted(float(u.f(v, "ppm")) for v in r)
        lo, hi = max(a, -0.5), min(b, n - 0.5)
        if lo >= hi:
            lim = sorted(float(v) for v in u.ppm_limits())
            raise NmrpickError(f"{what}: {r[0]:g}:{r[1]:g} ppm is outside the spectrum "
                               f"(axis {ax}: {lim[0]:.3f}..{lim[1]:.3f} ppm)")
        out.append((lo, hi))
    return tuple(out)


def in_region(y, x, box):
    """Boolean mask of the points ``(y, x)`` inside ``box`` (from :func:`region_points`).

    Examples
    --------
    >>> in_region([1.0, 5.0], [2.0, 2.0], ((0.0, 3.0), (0.0, 9.0))).tolist()
    [True, False]
    """
    y, x = np.asarray(y, float), np.asarray(x, float)
    (y0, y1), (x0, x1) = box
    return (y >= y0) & (y <= y1) & (x >= x0) & (x <= x1)


def resolve_regions(region, exclude, labels, uc, shape):
    """Point boxes of ``region`` (None: the whole spectrum) and of each ``exclude``.

    Parameters
    ----------
    region : str, dict, two ranges or None
    exclude : str, dict, two ranges, or a list of these, or None
    labels : sequence of 2 str
    uc : sequence of 2 nmrglue unit_conversion
    shape : (int, int)

    Returns
    -------
    box : ((y0, y1), (x0, x1)) or None
    excluded : list of boxes
    """
    box = None
    if region is not None:
        box = region_points(parse_region(region, labels, "region"), uc, shape, "region")
    if exclude is None:
        items = []
    elif isinstance(exclude, (str, dict)):
        items = [exclude]
    else:
        items = list(exclude)
        # a single pair of ranges, ((lo, hi), (lo, hi)), rather than a list of regions
        if len(items) == 2 and all(_is_pair(v) for v in items):
            items = [items]
    excluded = []
    for item in items:
        ranges = parse_region(item, labels, "exclude")
        try:
            excluded.append(region_points(ranges, uc, shape, "exclude"))
        except NmrpickError:
            continue                      # a band outside the spectrum excludes nothing
    return box, excluded


def _is_pair(v):
    try:
        a, b = v
        float(a), float(b)
    except (TypeError, ValueError):
        return False
    return True


def keep_mask(y, x, box=None, excluded=()):
    """Peaks ``(y, x)`` (points) inside ``box`` (None: all) and outside every excluded box.

    Examples
    --------
    >>> keep_mask([1.0, 5.0, 8.0], [2.0, 2.0, 2.0], ((0.0, 9.0), (0.0, 9.0)),
    ...           [((4.0, 6.0), (-0.5, 9.5))]).tolist()
    [True, False, True]
    """
    y = np.asarray(y, float)
    keep = np.ones(y.shape, bool) if box is None else in_region(y, x, box)
    for b in excluded:
        keep &= ~in_region(y, x, b)
    return keep
