"""Shared input checks of nmrpick-ml (the peak-table schema is in ``peaks.py``).

Every check names the parameter, the rule and the value it received, and
raises :class:`~nmrpick_ml.NmrpickError` (a ValueError) for a bad value or
``NmrpickTypeError`` (an NmrpickError that is also a TypeError) for a bad type.
Nothing here imports torch.
"""

import numbers

import numpy as np

from ._errors import ModelIntegrityError, NmrpickError, NmrpickTypeError
from .peaks import PEAK_DTYPE, empty_table


def check_spectrum(data, name="data"):
    """Check that ``data`` is a real, finite 2-D spectrum and return it as floats.

    Parameters
    ----------
    data : array_like of shape (N1, N2)
        Spectrum, axis 0 indirect, axis 1 direct.
    name : str, optional
        Parameter name used in error messages.

    Returns
    -------
    data : ndarray of shape (N1, N2)
        The same values as a floating-point array (float32 and float64 are
        kept, integers become float64). No copy when already floating.

    Raises
    ------
    NmrpickError
        Not 2-D, empty, complex, or holding NaN/Inf values (the message gives
        their count).
    TypeError
        Not numeric.

    Examples
    --------
    >>> check_spectrum(np.zeros((4, 5), dtype=np.float32)).dtype
    dtype('float32')
    >>> check_spectrum(np.zeros(8))
    Traceback (most recent call last):
    ...
    nmrpick_ml._errors.NmrpickError: `data` must be a real 2-D array; got shape (8,) dtype float64
    """
    arr = np.asarray(data)
    desc = f"shape {arr.shape} dtype {arr.dtype}"
    if np.iscomplexobj(arr):
        raise NmrpickError(
            f"`{name}` must be a real 2-D array; got {desc} (complex): phase the "
            "spectrum and delete the imaginary parts first")
    if arr.dtype.kind not in "fiub":
        raise NmrpickTypeError(f"`{name}` must be a numeric array; got {desc}")
    if arr.ndim != 2:
        raise NmrpickError(f"`{name}` must be a real 2-D array; got {desc}")
    if arr.size == 0:
        raise NmrpickError(f"`{name}` must not be empty; got {desc}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise NmrpickError(
            f"`{name}` has {bad} NaN/Inf values (of {arr.size}); replace or crop "
            "them before picking (for example numpy.nan_to_num)")
    return arr


def is_constant(data):
    """True when every value of ``data`` is the same (for example all zero)."""
    return bool(data.size) and float(np.max(data)) == float(np.min(data))


def check_uc(uc, shape, name="uc"):
    """Check that ``uc`` holds one nmrglue unit_conversion per axis of ``shape``.

    Returns the unit conversions as a tuple.
    """
    if uc is None or isinstance(uc, (str, bytes)) or not hasattr(uc, "__len__"):
        raise NmrpickTypeError(f"`{name}` must be a sequence of nmrglue unit_conversion "
                        f"objects, one per axis; got {type(uc).__name__}")
    if len(uc) != len(shape):
        raise NmrpickError(f"`{name}` must hold one unit conversion per axis "
                           f"({len(shape)} for data of shape {tuple(shape)}); got {len(uc)}")
    for i, u in enumerate(uc):
        if not (hasattr(u, "ppm") and hasattr(u, "hz")):
            raise NmrpickTypeError(f"`{name}[{i}]` must be an nmrglue unit_conversion "
                            f"(with .ppm and .hz); got {type(u).__name__}")
    return tuple(uc)


def check_number(value, name, *, low=None, high=None, low_open=False, integer=False,
                 allow_none=False):
    """Check a scalar parameter against a range and return it (float or int).

    Examples
    --------
    >>> check_number(8, "snr", low=0, low_open=True)
    8.0
    >>> check_number(0, "snr", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    nmrpick_ml._errors.NmrpickError: `snr` must be > 0; got 0
    """
    if value is None and allow_none:
        return None
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise NmrpickTypeError(f"`{name}` must be {what}; got {value!r}")
    if not integer and not np.isfinite(value):
        raise NmrpickError(f"`{name}` must be finite; got {value!r}")
    if low is not None:
        if (value <= low) if low_open else (value < low):
            raise NmrpickError(f"`{name}` must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and value > high:
        raise NmrpickError(f"`{name}` must be <= {high}; got {value!r}")
    return int(value) if integer else float(value)


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices`` and return it."""
    if value not in choices:
        raise NmrpickError(f"`{name}` must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def as_peak_records(peaks, name="peaks"):
    """Return ``peaks`` (recarray, structured array or DataFrame) as a
    :data:`PEAK_DTYPE` recarray; missing columns are an error, except the
    multiplet columns ``J_HZ`` (NaN) and ``N_LINES`` (1) of older tables.
    """
    if hasattr(peaks, "to_records") and hasattr(peaks, "columns"):   # DataFrame
        cols = list(peaks.columns)
        getter = peaks.__getitem__
        n = len(peaks)
    else:
        arr = np.asarray(peaks)
        if arr.dtype.names is None:
            raise NmrpickTypeError(f"`{name}` must be the peak table that pick() returns "
                            f"(a record array or DataFrame); got {type(peaks).__name__}")
        cols = list(arr.dtype.names)
        getter = arr.__getitem__
        n = arr.shape[0] if arr.ndim else 1
        if arr.ndim == 0:
            arr = arr.reshape(1)
            getter = arr.__getitem__
    optional = {"J_HZ": np.nan, "N_LINES": 1}
    missing = [c for c in PEAK_DTYPE.names if c not in cols and c not in optional]
    if missing:
        raise NmrpickError(f"`{name}` lacks the column(s) {', '.join(missing)}; "
                           f"expected {', '.join(PEAK_DTYPE.names)}")
    out = np.zeros(n, dtype=PEAK_DTYPE)
    for c in PEAK_DTYPE.names:
        out[c] = np.asarray(getter(c)) if c in cols else optional[c]
    return out.view(np.recarray)


def empty_peaks():
    """A zero-row peak table with the full :data:`PEAK_DTYPE`."""
    return empty_table()


def check_arch(arch, reference, where="config.json"):
    """Check architecture settings (``config.json``'s ``arch``) before a network is built.

    Each key that ``reference`` (the default settings) has must hold the same
    kind of value: a bool, a positive integer, a positive finite number, or a
    non-empty list of them. Unknown keys are left to the builder.

    Raises
    ------
    ModelIntegrityError
        ``arch`` is not an object, or one of its settings has the wrong kind or
        range (for example ``fpn_channels: -1``).
    """
    if arch is None:
        return None
    if not isinstance(arch, dict):
        raise ModelIntegrityError(f"{where}: `arch` must be an object of architecture "
                                  f"settings; got {type(arch).__name__}")

    def positive(v, ref):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            return False
        if isinstance(ref, numbers.Integral) and not isinstance(v, numbers.Integral):
            return False
        return 0 < v <= 1e6

    for key, ref in reference.items():
        if key not in arch:
            continue
        v = arch[key]
        if isinstance(ref, bool):
            ok, rule = isinstance(v, bool), "true or false"
        elif isinstance(ref, (list, tuple)):
            ok = isinstance(v, list) and len(v) > 0 and all(positive(x, ref[0]) for x in v)
            rule = "a non-empty list of positive numbers"
        else:
            ok = positive(v, ref)
            rule = "a positive integer" if isinstance(ref, numbers.Integral) else \
                "a positive number"
        if not ok:
            raise ModelIntegrityError(f"{where}: `arch.{key}` must be {rule}; got {v!r}")
    return arch
