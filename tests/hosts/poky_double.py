"""Strict test double of POKY's scripting API (see shared/hosts.md, "POKY").

Only what hosts.md lists exists.  POKY's methods are C++ bindings called with
positional arguments, so every method here is positional-only: a keyword raises
``TypeError``.  Settable: ``Peak.note``, ``Peak.selected``, ``Peak.color``;
everything else is read-only.

A spectrum is backed by a real ``.ucsf`` file (read with nmrglue, imported
lazily so that this module loads without numpy).  Its ``region`` and peak
positions are in displayed ppm = file ppm + ``scale_offset``.  ``place_peak``
refuses a position outside ``region`` (the macro must skip those itself).

A selected ``View`` (``view=``) shows a region of its spectrum: ``region`` in
displayed ppm per spectrum axis, as POKY's script reference gives it
(``View.region = ((min per axis), (max per axis))``, ``View.spectrum``).
``report_information`` (the main window's status line) is recorded in
``status``.

Dialogs are answered by ``answers``: a dict from a lower-case substring of the
dialog's message (or title for the spectrum selection) to the answer.  An
unanswered input dialog returns its default, a yes/no dialog False and the
spectrum selection '' (cancel).  Every dialog and message is recorded.
"""

from ._strict import Strict


class _Poky(Strict):
    __slots__ = ()
    _HOST = "POKY"


class Session(_Poky):
    __slots__ = ("_project", "_selected", "_view", "_answers", "messages", "dialogs",
                 "commands", "status")

    def __init__(self, spectra=(), selected=None, answers=None, saved=None, view=None):
        self._project = Project(list(spectra), saved)
        self._selected = selected
        self._view = view
        self._answers = dict(answers or {})
        self.status = []            # messages of report_information (the status line)
        self.messages = []          # (title, message) of show_message
        self.dialogs = []           # (kind, title, message) of every question
        self.commands = []          # (accel, menu text, function) of add_command

    @property
    def project(self):
        return self._project

    def selected_spectrum(self, /):
        return self._selected

    def selected_view(self, /):
        return self._view

    def report_information(self, message, /):
        _check_str(message)
        self.status.append(message)

    def show_message(self, title, message, /):
        _check_str(title, message)
        self.messages.append((title, message))

    def show_message_yes_no(self, title, message, /):
        _check_str(title, message)
        return bool(self._answer("yes_no", title, message, False))

    def show_spectrumselectiondialog(self, title, multiple, /):
        _check_str(title)
        if multiple not in (0, 1):
            raise ValueError("second argument must be 0 (one) or 1 (several)")
        return self._answer("select", title, title, "")

    def show_inputdialog(self, title, message, default, /):
        _check_str(title, message, default)
        answer = self._answer("input", title, message, default)
        return answer

    def open_filedialog(self, title, filters, directory, /):
        return self._answer("open", title, title, "")

    def save_filedialog(self, title, filters, directory, /):
        return self._answer("save", title, title, "")

    def add_command(self, accel, menu_text, func, /):
        if len(accel) != 2 or not callable(func):
            raise ValueError("add_command(two-letter accelerator, menu text, function)")
        self.commands.append((accel, menu_text, func))

    def _answer(self, kind, title, message, default):
        self.dialogs.append((kind, title, message))
        text = message.lower()
        for key, value in self._answers.items():
            if key.lower() in text:
                return value
        return default


class Project(_Poky):
    __slots__ = ("_spectra", "_saved")

    def __init__(self, spectra, saved=None):
        self._spectra = spectra
        self._saved = dict(saved or {})

    def spectrum_list(self, /):
        return list(self._spectra)

    @property
    def save_path(self):
        return "/tmp/poky-double/project.proj"

    def save_value(self, key, value, /):
        _check_str(key, value)
        self._saved[key] = value

    def saved_value(self, key, /):
        return self._saved.get(key)


class Spectrum(_Poky):
    """A 2D spectrum backed by a ``.ucsf`` file (or a ``.pzst`` path that nmrglue
    cannot read: then only name, dimension and data_path are meaningful)."""

    __slots__ = ("_name", "_path", "_offset", "_peaks", "_ucs", "_nuclei", "_size",
                 "_obs", "_sw", "_region", "_data", "_noise")

    def __init__(self, path, name=None, scale_offset=(0.0, 0.0), region=None, noise=1.0):
        import os
        self._name = name or os.path.splitext(os.path.basename(path))[0]
        self._path = path
        self._offset = tuple(float(v) for v in scale_offset)
        self._peaks = []
        self._noise = noise
        self._data = None
        if path.endswith(".pzst"):
            self._ucs = None
            self._size = (0, 0)
            self._region = ((0.0, 0.0), (0.0, 0.0))
            return
        import nmrglue as ng
        dic, data = ng.sparky.read(path)
        self._data = data
        self._ucs = [ng.sparky.make_uc(dic, data, d) for d in range(2)]
        self._size = tuple(int(n) for n in data.shape)
        self._nuclei = tuple(dic["w%d" % (d + 1)]["nucleus"] for d in range(2))
        self._obs = tuple(float(dic["w%d" % (d + 1)]["spectrometer_freq"]) for d in range(2))
        self._sw = tuple(float(dic["w%d" % (d + 1)]["spectral_width"]) for d in range(2))
        if region is None:
            lims = [sorted(uc.ppm_limits()) for uc in self._ucs]
            region = (tuple(lims[d][0] + self._offset[d] for d in range(2)),
                      tuple(lims[d][1] + self._offset[d] for d in range(2)))
        self._region = region

    name = property(lambda self: self._name)
    dimension = property(lambda self: 2)
    data_size = property(lambda self: self._size)
    nuclei = property(lambda self: self._nuclei)
    hz_per_ppm = property(lambda self: self._obs)
    spectrum_width = property(lambda self: tuple(s / o for s, o in zip(self._sw, self._obs)))
    sweep_width = spectrum_width
    region = property(lambda self: self._region)
    scale_offset = property(lambda self: self._offset)
    noise = property(lambda self: self._noise)
    data_path = property(lambda self: self._path)

    def peak_list(self, /):
        return list(self._peaks)

    def place_peak(self, position, /):
        if not isinstance(position, (tuple, list)) or len(position) != 2:
            raise TypeError("place_peak takes a tuple of 2 ppm values; got %r" % (position,))
        pos = tuple(float(v) for v in position)
        low, high = self._region
        if not all(low[d] <= pos[d] <= high[d] for d in range(2)):
            raise ValueError("position %r is outside the spectrum region %r" % (pos, self._region))
        peak = Peak(self, pos)
        self._peaks.append(peak)
        return peak

    def pick_peaks(self, *args):
        raise NotImplementedError("pick_peaks is not modelled by the double")

    def _height_at(self, pos):
        pts = [int(round(self._ucs[d].f(pos[d] - self._offset[d], "ppm"))) for d in range(2)]
        return float(self._data[pts[0], pts[1]])


class View(_Poky):
    """A view of a spectrum showing ``region`` (displayed ppm, per spectrum axis)."""

    __slots__ = ("_spectrum", "_region", "_name")

    def __init__(self, spectrum, region, name="view"):
        self._spectrum = spectrum
        self._region = (tuple(float(v) for v in region[0]), tuple(float(v) for v in region[1]))
        self._name = name

    name = property(lambda self: self._name)
    spectrum = property(lambda self: self._spectrum)
    region = property(lambda self: self._region)


class Peak(_Poky):
    __slots__ = ("_spectrum", "_position", "_note", "selected", "color")

    def __init__(self, spectrum, position):
        self._spectrum = spectrum
        self._position = position
        self._note = ""
        self.selected = False
        self.color = "white"

    @property
    def note(self):
        return self._note

    @note.setter
    def note(self, text):
        _check_str(text)
        self._note = text

    position = property(lambda self: self._position)
    frequency = property(lambda self: self._position)
    assignment = property(lambda self: "?-?")
    data_height = property(lambda self: self._spectrum._height_at(self._position))
    volume = property(lambda self: None)
    line_width = property(lambda self: None)


def _check_str(*values):
    for v in values:
        if not isinstance(v, str):
            raise TypeError("POKY expects a string; got %r" % (v,))
