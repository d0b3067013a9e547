"""nmrpick-ml: peak picking in 2D NMR spectra with a Mask R-CNN.

Public API
----------
pick
    Pick the peaks of a 2D spectrum (``dic, data, uc`` as nmrglue gives them).
find_peaks
    The same in points: a :class:`Peaks` (what ``pick`` tabulates).
Peaks
    The points-level result: positions, widths, heights, volumes, scores,
    clusters, and what was used; ``Peaks.to_table(uc)`` gives ``pick``'s table.
Picker
    A loaded network with its validated settings; ``Picker.detect``.
read_spectrum
    Read an NMRPipe, UCSF/Sparky or Bruker processed 2D spectrum.
write_table
    Write a peak table (NMRPipe ``.tab``, Sparky ``.list``, ``.csv``, ``.nef``).
load_model
    Load the shipped (or a user's) Mask R-CNN weights, hash-checked: a ``Picker``.
default_picker
    The shipped ``Picker``, loaded once and shared.
simulate
    Make a synthetic 2D spectrum with its exact list of true peaks.
fit_peaks
    Fit picked peaks with lineshapes: centres, widths, heights, volumes, errors.
read_series, pick_series
    Read a pseudo-3D series; pick it once and fit every plane (heights per plane, decays).
Spectrum
    What ``read_spectrum`` returns: ``dic``, ``data``, ``uc`` and per-axis labels.
NmrpickError
    The error raised for bad input (a ValueError).
ModelIntegrityError
    Weights or their config missing, truncated, tampered with or unusable
    (an NmrpickError).

The drop-in for ``nmrglue.analysis.peakpick`` is the submodule
``nmrpick_ml.peakpick``. Torch is imported only when the model is used.
"""

from ._version import __version__
from ._errors import ModelIntegrityError, NmrpickError
from .peaks import Peaks
from .picker import Picker, default_picker, load_model
from .picking import find_peaks, pick  # no torch: imported only when a network is loaded

__all__ = ["pick", "find_peaks", "Peaks", "Picker", "load_model", "default_picker",
           "read_spectrum", "write_table", "simulate", "fit_peaks", "read_series",
           "pick_series", "Spectrum", "NmrpickError", "ModelIntegrityError", "__version__"]

_LAZY = {
    "read_spectrum": ("io", "read_spectrum"),
    "write_table": ("io", "write_table"),
    "Spectrum": ("io", "Spectrum"),
    "simulate": ("synth", "simulate"),
    "fit_peaks": ("fit", "fit_peaks"),
    "read_series": ("series", "read_series"),
    "pick_series": ("series", "pick_series"),
}


def __getattr__(name):
    # Lazy so that ``import nmrpick_ml`` (and ``nmrpick-ml --help``) stays fast
    # and never imports torch unless the model is used.
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{mod}", __name__), attr)
    raise AttributeError(f"module 'nmrpick_ml' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
