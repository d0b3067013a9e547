"""Strict test double of CCPN Analysis v3's console (see shared/hosts.md, "CCPN").

``console(version, spectrum)`` returns the namespace a macro sees under
``%run -i`` (``project``, ``current``, ``application``, ``mainWindow``,
``info``, ``warning``, ``showWarning``, ``get``, and ``undoBlock`` from 3.1)
and a ``Console`` that records what was reported.

Versions:

* ``"3.0"``: no ``undoBlock`` in the namespace (the portable import from
  ``ccpn.core.lib.ContextManagers`` works), no ``point2ppm``/``ppm2point``,
  no ``dataFormat``, no ``peakPicker``/``pickPeaks``; points convert with
  ``spectrum.mainSpectrumReferences[d-1].pointToValue(point)``;
  ``newPeak(ppmPositions=, height=, pointPosition=)``.
* ``"3.1"``/``"3.2"``: ``point2ppm(point, dimension=d)``, ``dataFormat``,
  ``newPeak(ppmPositions=, height=, volume=, pointLineWidths=)`` and the
  picker plug-in point (``peakPicker``, ``pickPeaks``).

The spectrum is backed by a real NMRPipe or UCSF file (``getPlaneData`` reads
it), but its referencing lives in the project: ``referenceValues`` are the
file's shifted by ``reref`` ppm per CCPN dimension, and all point <-> ppm
conversion uses them.  CCPN dimension 1 is the last numpy axis.  Methods take
the keywords hosts.md names, keyword-only where hosts.md writes them as
keywords; anything else raises.  Each peak records whether it was made inside
an open ``undoBlock`` (and which one).
"""

import sys

from . import FAKES
from ._strict import Strict

if FAKES not in sys.path:
    sys.path.insert(0, FAKES)

from ccpn.core.lib import ContextManagers  # noqa: E402  (the fake)

VERSIONS = ("3.0", "3.1", "3.2")


class _Ccpn(Strict):
    __slots__ = ()
    _HOST = "CCPN Analysis"


class Console(object):
    """What the macro reported: ``info``/``warning`` log lines, ``showWarning`` popups."""

    def __init__(self):
        self.infos, self.warnings, self.popups = [], [], []

    def info(self, message):
        self.infos.append(str(message))

    def warning(self, message):
        self.warnings.append(str(message))

    def showWarning(self, title, message, parent=None):
        self.popups.append((title, message))


class _Opaque(_Ccpn):
    __slots__ = ()


class Application(_Opaque):
    __slots__ = ()


class MainWindow(_Opaque):
    __slots__ = ()


class Project(_Ccpn):
    __slots__ = ("_objects",)

    def __init__(self, spectra):
        self._objects = {sp.pid: sp for sp in spectra}

    def getByPid(self, pid):
        return self._objects.get(pid)


class Strip(_Ccpn):
    __slots__ = ("_spectra", "_deleted")

    def __init__(self, spectra, deleted=False):
        self._spectra = list(spectra)
        self._deleted = deleted

    spectra = property(lambda self: tuple(self._spectra))
    isDeleted = property(lambda self: self._deleted)


class Current(_Ccpn):
    __slots__ = ("_strip", "_spectrum")

    def __init__(self, strip=None, spectrum=None):
        self._strip = strip
        self._spectrum = spectrum

    strip = property(lambda self: self._strip)
    spectrum = property(lambda self: self._spectrum)


class _SpectrumReference(_Ccpn):
    """3.0's per-dimension reference object: only ``pointToValue``."""
    __slots__ = ("_spectrum", "_dim")

    def __init__(self, spectrum, dim):
        self._spectrum = spectrum
        self._dim = dim

    def pointToValue(self, point):
        return self._spectrum._point_to_ppm(point, self._dim)


class Spectrum(_Ccpn):
    """Common 3.x spectrum; see Spectrum30 and Spectrum31 for the differences."""

    __slots__ = ("_name", "_data_file", "_file_format", "_path", "_scale", "_n", "_obs",
                 "_sw_hz", "_ref_points", "_ref_values", "_isotopes", "_axis_codes",
                 "_peak_lists", "_noise", "_pos_base", "_dims")
    VERSION = None

    def __init__(self, hsqc, name="hsqc", reref=(0.0, 0.0), scale=1.0, path=None, dims=2):
        """``hsqc``: a tests.hosts.spectra.Hsqc; ``path``: what ``spectrum.path``
        reports (default: the data file); ``reref``: ppm added to the file's
        referencing per CCPN dimension (1, 2)."""
        self._name = name
        self._data_file = hsqc.path
        self._file_format = hsqc.fmt
        self._path = hsqc.path if path is None else path
        self._scale = float(scale)
        axes = hsqc.axes[::-1]                         # CCPN dimension order
        self._n = tuple(a["n"] for a in axes)
        self._obs = tuple(a["obs"] for a in axes)
        self._sw_hz = tuple(a["sw_hz"] for a in axes)
        self._ref_points = (1.0, 1.0)
        self._ref_values = tuple(a["first_ppm"] + r for a, r in zip(axes, reref))
        self._isotopes = tuple(a["label"] for a in axes)
        self._axis_codes = tuple(a["label"][-1] for a in axes)     # 'H', 'N'
        self._peak_lists = []
        self._noise = 2.0e3 * self._scale
        self._pos_base = 10 * self._noise
        self._dims = dims

    # --- properties named in hosts.md -------------------------------------------
    name = property(lambda self: self._name)
    pid = property(lambda self: "SP:" + self._name)
    dimensionCount = property(lambda self: self._dims)
    axisCodes = property(lambda self: self._axis_codes)
    isotopeCodes = property(lambda self: self._isotopes)
    pointCounts = property(lambda self: self._n)
    spectralWidthsHz = property(lambda self: self._sw_hz)
    spectrometerFrequencies = property(lambda self: self._obs)
    spectralWidths = property(lambda self: tuple(s / o for s, o in zip(self._sw_hz, self._obs)))
    referencePoints = property(lambda self: self._ref_points)
    referenceValues = property(lambda self: self._ref_values)
    spectrumLimits = property(lambda self: tuple(
        tuple(sorted((self._point_to_ppm(0.5, d), self._point_to_ppm(n + 0.5, d))))
        for d, n in zip((1, 2), self._n)))
    positiveContourBase = property(lambda self: self._pos_base)
    negativeContourBase = property(lambda self: -self._pos_base)
    noiseLevel = property(lambda self: self._noise)
    scale = property(lambda self: self._scale)
    path = property(lambda self: self._path)
    filePath = property(lambda self: self._path)

    def getPlaneData(self, position=None, xDim=1, yDim=2):
        if (xDim, yDim) != (1, 2) or position not in (None, [], ()):
            raise NotImplementedError("the double models the xDim=1, yDim=2 plane only")
        import nmrglue as ng
        mod = ng.sparky if self._file_format == "ucsf" else ng.pipe
        _, data = mod.read(self._data_file)
        return (data * self._scale).astype("float32")

    def newPeakList(self, *, title=None, comment=None):
        pl = PeakList(self, len(self._peak_lists) + 1, title, comment)
        self._peak_lists.append(pl)
        return pl

    # --- conversion with the project's referencing (1-based points) --------------
    def _ppm_per_point(self, d):
        return self._sw_hz[d - 1] / self._obs[d - 1] / self._n[d - 1]

    def _point_to_ppm(self, point, d):
        return self._ref_values[d - 1] - (float(point) - self._ref_points[d - 1]) * self._ppm_per_point(d)

    def _ppm_to_point(self, ppm, d):
        return self._ref_points[d - 1] + (self._ref_values[d - 1] - float(ppm)) / self._ppm_per_point(d)

    def _new_peak(self, peak_list, values):
        if len(values["ppmPositions"]) != self._dims:
            raise ValueError("ppmPositions has %d values for %d dimensions"
                             % (len(values["ppmPositions"]), self._dims))
        widths = values.get("pointLineWidths")
        if widths is not None and len(widths) != self._dims:
            raise ValueError("pointLineWidths has %d values for %d dimensions"
                             % (len(widths), self._dims))
        return Peak(peak_list, values, ContextManagers._open_block())


class Spectrum30(Spectrum):
    __slots__ = ()
    VERSION = "3.0"

    @property
    def mainSpectrumReferences(self):
        return tuple(_SpectrumReference(self, d) for d in range(1, self._dims + 1))


class Spectrum31(Spectrum):
    __slots__ = ("_picker",)
    VERSION = "3.1"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._picker = None

    @property
    def dataFormat(self):
        return {"ucsf": "UCSF", "pipe": "NMRPipe"}.get(self._file_format)

    def point2ppm(self, value, *, dimension):
        return self._point_to_ppm(value, dimension)

    def ppm2point(self, value, *, dimension):
        return self._ppm_to_point(value, dimension)

    @property
    def peakPicker(self):
        return self._picker

    @peakPicker.setter
    def peakPicker(self, picker):
        if picker is not None and getattr(picker, "spectrum", None) is not self:
            raise ValueError("peakPicker must be made for this spectrum")
        self._picker = picker

    def pickPeaks(self, peakList=None, positiveThreshold=None, negativeThreshold=None, **ppmRegions):
        """As CCPN: the region from ``ppmRegions`` (axisCode=(ppm, ppm)), the
        picker's ``findPeaks`` on it, then only peaks beyond a non-zero threshold."""
        picker = self._picker
        if picker is None or peakList is None:
            raise NotImplementedError("the double needs a peakPicker and a peakList")
        starts, stops = [1, 1], list(self._n)
        for code, (lo, hi) in ppmRegions.items():
            d = self._axis_codes.index(code) + 1
            p1, p2 = sorted(int(round(self._ppm_to_point(v, d))) for v in (lo, hi))
            starts[d - 1], stops[d - 1] = max(p1, 1), min(p2, self._n[d - 1])
        picker.sliceTuples = [(starts[0], stops[0]), (starts[1], stops[1])]
        picker.positiveThreshold = positiveThreshold
        picker.negativeThreshold = negativeThreshold
        data = self.getPlaneData()[starts[1] - 1:stops[1], starts[0] - 1:stops[0]]
        found = picker.findPeaks(data)
        made = []
        with ContextManagers.undoBlock():
            for pk in found:
                points = [float(p) + picker.sliceTuples[i][0] for i, p in enumerate(pk.points[::-1])]
                h = pk.height
                if (positiveThreshold and h > positiveThreshold) or \
                        (negativeThreshold and h < negativeThreshold):
                    made.append(peakList.newPeak(
                        ppmPositions=tuple(self._point_to_ppm(p, d + 1) for d, p in enumerate(points)),
                        height=h, volume=pk.volume, pointLineWidths=pk.lineWidths))
        return made


class Spectrum32(Spectrum31):
    __slots__ = ()
    VERSION = "3.2"


class PeakList(_Ccpn):
    __slots__ = ("_spectrum", "_serial", "_title", "_comment", "_peaks", "_undo_block")

    def __init__(self, spectrum, serial, title, comment):
        self._spectrum = spectrum
        self._serial = serial
        self._title = title
        self._comment = comment
        self._peaks = []
        self._undo_block = ContextManagers._open_block()

    pid = property(lambda self: "PL:%s.%d" % (self._spectrum.name, self._serial))
    title = property(lambda self: self._title)
    comment = property(lambda self: self._comment)
    spectrum = property(lambda self: self._spectrum)

    def newPeak(self, **kwargs):
        if self._spectrum.VERSION == "3.0":
            return self._newPeak30(**kwargs)
        return self._newPeak31(**kwargs)

    def _newPeak30(self, *, ppmPositions=(), height=None, pointPosition=None):
        return self._add(dict(ppmPositions=tuple(ppmPositions), height=height))

    def _newPeak31(self, *, ppmPositions=(), height=None, volume=None, pointLineWidths=None):
        return self._add(dict(ppmPositions=tuple(ppmPositions), height=height, volume=volume,
                              pointLineWidths=None if pointLineWidths is None else tuple(pointLineWidths)))

    def _add(self, values):
        peak = self._spectrum._new_peak(self, values)
        self._peaks.append(peak)
        return peak


class Peak(_Ccpn):
    __slots__ = ("_peak_list", "_values", "_undo_block")

    def __init__(self, peak_list, values, undo_block):
        self._peak_list = peak_list
        self._values = values
        self._undo_block = undo_block

    peakList = property(lambda self: self._peak_list)
    ppmPositions = property(lambda self: self._values["ppmPositions"])
    height = property(lambda self: self._values["height"])

    @property
    def volume(self):
        if self._peak_list.spectrum.VERSION == "3.0":
            raise AttributeError("the 3.0 double does not model Peak.volume")
        return self._values["volume"]

    @property
    def pointLineWidths(self):
        if self._peak_list.spectrum.VERSION == "3.0":
            raise AttributeError("the 3.0 double does not model Peak.pointLineWidths")
        return self._values["pointLineWidths"]


SPECTRUM_CLASSES = {"3.0": Spectrum30, "3.1": Spectrum31, "3.2": Spectrum32}


def make_spectrum(version, hsqc, **kwargs):
    return SPECTRUM_CLASSES[version](hsqc, **kwargs)


def console(version, spectrum=None, strip=True):
    """The ``%run -i`` namespace of CCPN ``version`` and its recording Console."""
    if version not in VERSIONS:
        raise ValueError("version must be one of %r" % (VERSIONS,))
    log = Console()
    spectra = [spectrum] if spectrum is not None else []
    project = Project(spectra)
    current = Current(strip=Strip(spectra) if (strip and spectrum is not None) else None,
                      spectrum=spectrum)
    ns = dict(project=project, current=current, application=Application(),
              mainWindow=MainWindow(), info=log.info, warning=log.warning,
              showWarning=log.showWarning, get=project.getByPid)
    if version != "3.0":
        ns["undoBlock"] = ContextManagers.undoBlock
    return ns, log


def peak_lists(spectrum):
    """The peak lists made on a double's spectrum (test inspection only)."""
    return list(spectrum._peak_lists)


def peaks(peak_list):
    return list(peak_list._peaks)


def undo_blocks_opened():
    return ContextManagers._STATE["blocks"]


def reset():
    ContextManagers._reset()
