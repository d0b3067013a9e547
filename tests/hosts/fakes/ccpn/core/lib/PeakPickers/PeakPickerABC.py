"""Fake ``ccpn.core.lib.PeakPickers.PeakPickerABC`` (CCPN 3.1+ API subset).

``SimplePeak(points, height, lineWidths=None, volume=None, clusterId=None)``
with 0-based points in numpy order; ``PeakPickerABC`` with a unique
``peakPickerType``, ``findPeaks(data)`` to implement, the thresholds and
``sliceTuples`` that ``spectrum.pickPeaks`` sets before calling it, and the
``_registerPeakPicker`` class method CCPN's own pickers call.
"""

from collections import OrderedDict


class SimplePeak(object):
    __slots__ = ("points", "height", "lineWidths", "volume", "clusterId")

    def __init__(self, points, height, lineWidths=None, volume=None, clusterId=None):
        self.points = tuple(points)
        self.height = height
        self.lineWidths = lineWidths
        self.volume = volume
        self.clusterId = clusterId


class PeakPickerABC(object):
    peakPickerType = None
    defaultPointExtension = 1
    onlyFor1D = False
    _peakPickers = OrderedDict()

    @classmethod
    def _registerPeakPicker(cls):
        if cls.peakPickerType not in PeakPickerABC._peakPickers:
            PeakPickerABC._peakPickers[cls.peakPickerType] = cls

    def __init__(self, spectrum, autoFit=False):
        if self.peakPickerType is None:
            raise RuntimeError("%s: peakPickerType is undefined" % type(self).__name__)
        if spectrum is None or not hasattr(spectrum, "pickPeaks"):
            raise ValueError("%s: spectrum is not a (3.1+) Spectrum" % type(self).__name__)
        if spectrum.dimensionCount > 1 and self.onlyFor1D:
            raise ValueError("%s only works for 1D spectra" % type(self).__name__)
        self.spectrum = spectrum
        self.dimensionCount = spectrum.dimensionCount
        self.autoFit = autoFit
        self.positiveThreshold = 0.0
        self.negativeThreshold = 0.0
        self.sliceTuples = None
        self.lastPickedPeaks = None

    def findPeaks(self, data):
        raise NotImplementedError("%s.findPeaks should be implemented" % type(self).__name__)
