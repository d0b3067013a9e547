"""Read 2D NMR spectra and write peak tables.

Readers (the format is detected from the content, not from the extension):

========  ==============================================================
format    what is read
========  ==============================================================
pipe      NMRPipe ``.ft2``/``.ft``/``.dat``: a 2D file, or one plane of a
          pseudo-3D/3D stream (``plane``, 0-based); header magic 2.345
ucsf      UCSF/Sparky ``.ucsf`` (header ``UCSF NMR``); 2D or a plane of 3D
bruker    Bruker processed data: a ``pdata/N`` folder holding ``2rr`` and
          ``procs``/``proc2s``, or the experiment folder (takes ``pdata/1``)
npy       a NumPy ``.npy`` array with a sidecar JSON of its axes (see
          :func:`read_spectrum`), as the host macros write it
========  ==============================================================

Writers: NMRPipe ``.tab``, Sparky ``.list``, ``.csv`` and NEF ``.nef`` (see
:func:`write_table`). Writes are atomic (a temporary file in the target
folder, then ``os.replace``; see :mod:`nmrpick_ml.files`) and never replace an
input file; ``-`` writes to standard output.

All unit conversions are nmrglue's own (``make_uc``, ``guess_udic``,
``uc_from_udic``). Nothing here imports torch.
"""

import dataclasses
import datetime
import json
import os
import re
import stat
import struct
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import NmrpickError, printable
from ._nmrglue import import_nmrglue
from .files import STDOUT, atomic_write, atomic_write_text, check_target, is_write_through
from ._validate import PEAK_DTYPE, as_peak_records, check_number
from ._version import __version__

ng = import_nmrglue()     # nmrglue's scipy-importing modules run on first use (start-up)

__all__ = ["Spectrum", "read_spectrum", "input_files", "write_table", "read_table", "uc_from_dic",
           "TABLE_FORMATS", "direct_axis", "spectrum_name", "labels_from_dic"]

#: Output formats by file extension.
TABLE_FORMATS = {".tab": "tab", ".list": "list", ".csv": "csv", ".nef": "nef"}

_PIPE_MAGIC = 2.345
_PIPE_HEADER_BYTES = 2048
#: UCSF: a 180-byte file header, then a 128-byte header per axis (naxis at byte 10).
_UCSF_HEADER_BYTES, _UCSF_AXIS_BYTES = 180, 128
_BRUKER_DATA = {"1r": 1, "2rr": 2, "3rrr": 3, "4rrrr": 4}
_BRUKER_FILES = {"2rr", "2ri", "2ir", "2ii", "1r", "1i", "3rrr", "procs", "proc2s", "proc3s",
                 "proc", "proc2", "proc3", "title", "outd", "auditp.txt"}


@dataclass(frozen=True, eq=False)
class Spectrum:
    """A 2D spectrum as :func:`read_spectrum` returns it.

    Attributes
    ----------
    dic : dict
        The reader's own parameter dictionary (nmrglue's for NMRPipe, UCSF and
        Bruker; the sidecar JSON for ``.npy``).
    data : ndarray of shape (N1, N2), float32
        Real spectrum; axis 0 is the indirect dimension, axis 1 the direct one.
    uc : tuple of nmrglue unit_conversion
        One per axis, in array order: ``uc[0].ppm(i)`` is the ppm of row ``i``.
    labels : tuple of str
        Nucleus per axis, normalised (``'N15'`` and ``'15N'`` both give
        ``'15N'``, ``'HN'`` gives ``'1H'``); unknown labels are kept as they are.
    obs_mhz, sw_hz : tuple of float
        Spectrometer frequency (MHz) and spectral width (Hz) per axis.
    format : {'pipe', 'ucsf', 'bruker', 'npy'}
    path : str
        The file (or for Bruker the ``pdata/N`` folder) that was read.
    plane : int or None
        The plane taken from a 3D file, else None.
    direct_axis : int
        The array axis of the direct (acquisition) dimension, from the header:
        1 (the last axis) except for a transposed NMRPipe file
        (``FDTRANSPOSED 1``), where it is 0. See :func:`direct_axis`.
    files : tuple of str
        Every file that was read (real paths; see :func:`input_files`).
    """

    dic: dict
    data: np.ndarray
    uc: tuple
    labels: tuple
    obs_mhz: tuple
    sw_hz: tuple
    format: str
    path: str
    plane: int = None
    direct_axis: int = 1
    files: tuple = ()

    @property
    def shape(self):
        """Shape of ``data``."""
        return self.data.shape

    def ppm_limits(self):
        """(first, last) ppm per axis, from nmrglue's unit conversion."""
        return tuple(tuple(float(v) for v in u.ppm_limits()) for u in self.uc)

    def __repr__(self):
        lims = ", ".join(f"{lab} {a:.3f}..{b:.3f} ppm"
                         for lab, (a, b) in zip(self.labels, self.ppm_limits()))
        plane = "" if self.plane is None else f" plane {self.plane}"
        return f"<Spectrum {self.format} {self.shape}{plane}: {lims} ({self.path})>"


# --------------------------------------------------------------------------- #
# reading
# --------------------------------------------------------------------------- #

def read_spectrum(path, plane=None, *, axes=None):
    """Read a 2D spectrum (or one plane of a 3D one) from disk.

    The format is recognised from the content: NMRPipe header magic (2.345 at
    float 2), UCSF ``UCSF NMR`` header, a Bruker ``pdata`` folder layout
    (``2rr`` + ``procs``), or the ``.npy`` magic. Time-domain, complex,
    1-D, 4-D, truncated and unknown files raise :class:`NmrpickError` with a
    one-line reason.

    Parameters
    ----------
    path : str or path-like
        File, or Bruker ``pdata/N`` or experiment folder (``pdata/1`` is taken).
        A ``2rr`` file path is read as its folder.
    plane : int, optional
        0-based plane (along the first array axis) of a pseudo-3D/3D file.
        Required for 3D files, refused for 2D ones.
    axes : str or path-like, optional
        Sidecar JSON for a ``.npy`` array; by default the file with the same
        stem and ``.json``. Its form, axes in numpy order::

            {"axes": [{"label": "15N", "sw_hz": 2000.0, "obs_mhz": 60.8,
                       "ref_point": 1, "ref_ppm": 135.0}, {...}]}

        ``ref_point`` is 1-based; ``ref_ppm`` is the ppm of that point.

    Returns
    -------
    spectrum : Spectrum
        ``data`` as real float32 of shape (N1, N2), axis 0 indirect, and one
        nmrglue unit conversion per axis in ``uc``.

    Raises
    ------
    NmrpickError
        Missing, unreadable, unknown, corrupt or truncated input; 1-D or 4-D
        data; 3-D data without ``plane`` or with one out of range; complex or
        time-domain data (must be Fourier transformed and phased first).

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> np.save(os.path.join(d, "s.npy"), np.zeros((8, 16), np.float32))
    >>> ax = [{"label": "N15", "sw_hz": 800.0, "obs_mhz": 60.8, "ref_point": 1, "ref_ppm": 130.0},
    ...       {"label": "HN", "sw_hz": 1600.0, "obs_mhz": 600.0, "ref_point": 1, "ref_ppm": 10.0}]
    >>> with open(os.path.join(d, "s.json"), "w") as f:
    ...     json.dump({"axes": ax}, f)
    >>> s = read_spectrum(os.path.join(d, "s.npy"))
    >>> s.labels, s.data.shape, round(s.uc[0].ppm(0), 6)
    (('15N', '1H'), (8, 16), 130.0)
    """
    plane = check_number(plane, "plane", low=0, integer=True, allow_none=True)
    p = Path(os.fspath(path))
    kind, target = _detect(p)
    reader = {"pipe": _read_pipe, "ucsf": _read_ucsf, "bruker": _read_bruker,
              "npy": _read_npy}[kind]
    # Whatever a hostile or damaged file makes nmrglue or numpy raise is one
    # NmrpickError naming the file: the checks below give the clear messages,
    # this is the net under them.
    try:
        if kind == "npy":
            dic, data, info = reader(target, axes)
        else:
            dic, data, info = reader(target)
        spec = _to_spectrum(kind, target, dic, data, info, plane)
    except NmrpickError:
        raise
    except MemoryError:
        raise NmrpickError(f"{target}: the {_FORMAT_NAMES[kind]} header asks for more memory "
                           "than there is (corrupt, or too large to pick)") from None
    except Exception as exc:   # noqa: BLE001 - numpy's header parser alone raises TokenError
        raise NmrpickError(f"{target}: corrupt or truncated {_FORMAT_NAMES[kind]} file "
                           f"({type(exc).__name__}: {exc})") from None
    return dataclasses.replace(spec, files=_files_of(kind, target, axes))


#: Format names for messages.
_FORMAT_NAMES = {"pipe": "NMRPipe", "ucsf": "UCSF", "bruker": "Bruker", "npy": ".npy"}
#: Bruker parameter files next to the data (pdata/N) and in the experiment folder.
_BRUKER_ACQUS = ("acqus", "acqu2s", "acqu3s", "acqu4s", "acqu", "acqu2", "acqu3", "acqu4")


def input_files(path, axes=None):
    """The files :func:`read_spectrum` reads for ``path`` (real paths, sorted).

    The file itself; a ``.npy`` array's sidecar JSON too; for Bruker the data
    and ``procs`` files of the ``pdata/N`` folder and the ``acqus`` files of the
    experiment. An output must be none of them (:func:`check_output_path`).

    Raises
    ------
    NmrpickError
        As :func:`read_spectrum` for a missing or unrecognised input.
    """
    kind, target = _detect(Path(os.fspath(path)))
    return _files_of(kind, target, axes)


def _files_of(kind, target, axes=None):
    target = Path(target)
    if kind == "npy":
        files = [target, Path(os.fspath(axes)) if axes is not None else target.with_suffix(".json")]
    elif kind == "bruker":
        files = [target / n for n in sorted(_BRUKER_FILES)]
        files += [target.parent.parent / n for n in _BRUKER_ACQUS]
    else:
        files = [target]
    return tuple(sorted({os.path.realpath(f) for f in files}))


def _to_spectrum(kind, target, dic, data, info, plane):
    shape = data.shape
    if data.ndim == 1:
        raise NmrpickError(f"{target}: 1-D spectrum of {shape[0]} points; nmrpick-ml "
                           "picks 2-D spectra")
    if data.ndim > 3:
        raise NmrpickError(f"{target}: {data.ndim}-D spectrum of shape {shape}; only 2-D "
                           "spectra and planes of 3-D ones are supported")
    if data.ndim == 3:
        if plane is None:
            raise NmrpickError(f"{target}: 3-D spectrum of shape {shape}; choose a 2-D "
                               f"plane with plane= (--plane), 0..{shape[0] - 1}")
        if plane >= shape[0]:
            raise NmrpickError(f"{target}: plane {plane} is out of range; the file has "
                               f"{shape[0]} planes (0..{shape[0] - 1})")
        data = data[plane]
        info = info[1:]
    elif plane is not None:
        raise NmrpickError(f"{target}: plane={plane} given but the file is a 2-D spectrum "
                           f"of shape {shape}")
    for i, ax in enumerate(info):
        if ax["time"]:
            raise NmrpickError(
                f"{target}: time-domain data ({ax['flag']}, axis {i} {ax['label']}); it must "
                "be Fourier transformed and phased first")
    if np.iscomplexobj(data) or any(ax["complex"] for ax in info):
        flags = ", ".join(ax["flag"] for ax in info if ax["complex"]) or "complex values"
        raise NmrpickError(
            f"{target}: complex data ({flags}); it must be phased and the imaginary parts "
            "deleted first (NMRPipe: PS then -di)")
    if 0 in data.shape:
        raise NmrpickError(f"{target}: empty spectrum (shape {data.shape})")
    for i, ax in enumerate(info):
        _check_calibration(target if kind != "npy" else dic.get("sidecar", target), i, ax,
                           data.shape[i])
    _check_float32_range(target, data)
    data = np.ascontiguousarray(data, dtype=np.float32)
    return Spectrum(dic=dic, data=data, uc=tuple(ax["uc"] for ax in info),
                    direct_axis=direct_axis(dic, data),
                    labels=tuple(_label(ax["label"]) for ax in info),
                    obs_mhz=tuple(float(ax["obs"]) for ax in info),
                    sw_hz=tuple(float(ax["sw"]) for ax in info),
                    format=kind, path=str(target), plane=plane)


#: Calibration limits: observe frequency (MHz), spectral width (Hz), |ppm| of any point.
MAX_OBS_MHZ, MAX_SW_HZ, MAX_PPM = 1.0e4, 1.0e8, 1.0e4


def _check_calibration(target, i, ax, size):
    """Refuse a nonsense ppm scale: spectral width or observe frequency not finite
    and > 0, a reference that is not finite, or a scale beyond +-MAX_PPM."""
    cal = ax.get("cal")
    if not cal:
        return
    where = f"axis {i} ({ax['label']})"
    (sw_key, sw), (obs_key, obs), (ref_key, ref) = cal
    _check_sw_obs(target, (sw_key, sw), (obs_key, obs), where)
    if not (isinstance(ref, (int, float, np.number)) and np.isfinite(ref)):
        raise NmrpickError(f"{target}: {ref_key} (ppm reference, {where}) must be a finite "
                           f"number; got {ref!r}")
    with np.errstate(all="ignore"):
        ends = [float(ax["uc"].ppm(0)), float(ax["uc"].ppm(max(size - 1, 0)))]
    if not all(np.isfinite(e) and abs(e) <= MAX_PPM for e in ends):
        raise NmrpickError(f"{target}: {where} would run from {ends[0]:.6g} to {ends[1]:.6g} "
                           f"ppm ({sw_key}={sw!r}, {obs_key}={obs!r}, {ref_key}={ref!r}); a "
                           f"ppm scale must stay within +-{MAX_PPM:g} ppm")


def _check_sw_obs(target, sw, obs, where):
    """Spectral width and observe frequency, each ``(field name, value)``: finite, > 0
    and below the limits (a reader calls it before nmrglue divides by them)."""
    for (key, v), top, what in ((sw, MAX_SW_HZ, "spectral width, Hz"),
                                (obs, MAX_OBS_MHZ, "observe frequency, MHz")):
        if not (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                and np.isfinite(v) and 0 < v <= top):
            raise NmrpickError(f"{target}: {key} ({what}, {where}) must be a finite number "
                               f"above 0 and at most {top:g}; got {v!r}")


def _check_float32_range(target, data):
    """Refuse finite values that do not fit float32 (they would become Inf)."""
    if data.dtype.kind not in "fiu" or data.dtype.itemsize <= 4 and data.dtype.kind == "f":
        return
    with np.errstate(all="ignore"):
        finite = np.isfinite(data)
        top = float(np.max(np.abs(data[finite]))) if finite.any() else 0.0
    limit = float(np.finfo(np.float32).max)
    if top > limit:
        raise NmrpickError(f"{target}: values overflow float32 (largest |value| {top:.3g}; "
                           f"float32 holds up to {limit:.3g}); scale the data down first")


def _detect(p):
    """Return (format, path to read) from the content at ``p``."""
    if not os.path.lexists(p):
        raise NmrpickError(f"{p}: no such file or folder")
    if not p.exists():
        raise NmrpickError(f"{p}: broken symbolic link")
    if p.is_dir():
        return _detect_dir(p)
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise NmrpickError(f"{p}: not a regular file (a FIFO, socket or device)")
    try:
        with open(p, "rb") as f:
            head = f.read(_PIPE_HEADER_BYTES)
    except PermissionError:
        raise NmrpickError(f"{p}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise NmrpickError(f"{p}: cannot read ({exc.strerror})") from None
    kind = _sniff_head(head)
    if kind is not None:
        return kind, p
    if p.name in _BRUKER_DATA and (p.parent / "procs").is_file():
        return _detect_dir(p.parent)
    if p.name in ("fid", "ser") and (p.parent / "acqus").is_file():
        raise NmrpickError(f"{p}: Bruker time-domain data ({p.name}); it must be Fourier "
                           "transformed and phased first (TopSpin xfb), then give the "
                           "pdata/N folder")
    if p.suffix.lower() == ".pzst":
        raise NmrpickError(f"{p}: POKY compressed spectrum (.pzst) cannot be read; save "
                           "it as UCSF (.ucsf) in POKY first")
    if not head:
        raise NmrpickError(f"{p}: empty file")
    hint = {".ft2": "NMRPipe", ".ft": "NMRPipe", ".ft3": "NMRPipe", ".dat": "NMRPipe",
            ".fid": "NMRPipe", ".ucsf": "UCSF", ".npy": "NumPy"}.get(p.suffix.lower())
    if hint:
        raise NmrpickError(f"{p}: corrupt or not a {hint} file (its header is not "
                           f"{hint}'s)")
    raise NmrpickError(f"{p}: unknown file format (not NMRPipe, UCSF/Sparky, Bruker "
                       "pdata or .npy)")


def _sniff(path):
    """'npy', 'ucsf' or 'pipe' when the file starts like one, else None."""
    try:
        with open(path, "rb") as f:
            return _sniff_head(f.read(_PIPE_HEADER_BYTES))
    except OSError:
        return None


def _sniff_head(head):
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"UCSF NMR"):
        return "ucsf"
    return "pipe" if _is_pipe_header(head) else None


def _is_pipe_header(head):
    if len(head) < 12:
        return False
    for order in ("<f4", ">f4"):
        v = float(np.frombuffer(head[8:12], dtype=order)[0])
        if abs(v - _PIPE_MAGIC) < 1e-5:
            return True
    return False


def _detect_dir(p):
    names = set(os.listdir(p)) if os.access(p, os.R_OK | os.X_OK) else None
    if names is None:
        raise NmrpickError(f"{p}: permission denied (cannot list the folder)")
    data_files = [n for n in _BRUKER_DATA if n in names]
    if data_files:
        if "procs" not in names:
            raise NmrpickError(f"{p}: Bruker {data_files[0]} without its procs file")
        return "bruker", p
    pdata = p / "pdata"
    if pdata.is_dir():
        if (pdata / "1").is_dir():
            return _detect_dir(pdata / "1")
        procnos = sorted(n for n in os.listdir(pdata) if (pdata / n).is_dir())
        if procnos:
            raise NmrpickError(f"{p}: has no pdata/1; give one of "
                               + ", ".join(str(pdata / n) for n in procnos))
    if "fid" in names or "ser" in names:
        raise NmrpickError(f"{p}: Bruker time-domain data ({'ser' if 'ser' in names else 'fid'}) "
                           "without processed pdata; it must be Fourier transformed and "
                           "phased first (TopSpin xfb)")
    raise NmrpickError(f"{p}: folder is not Bruker processed data (no 2rr + procs, "
                       "no pdata/1)")


def _nmrglue_read(fmt, path, func, *args, **kw):
    """Call an nmrglue reader; its exceptions and warnings become one NmrpickError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dic, data = func(*args, **kw)
        except PermissionError:
            raise NmrpickError(f"{path}: permission denied (cannot read the file)") from None
        except (ValueError, IndexError, KeyError, OSError, EOFError, TypeError,
                struct.error) as exc:
            raise NmrpickError(f"{path}: corrupt or truncated {fmt} file ({exc})") from None
    return dic, data, [str(w.message) for w in caught]


def _axis(uc, label, obs, sw, *, time=False, cplx=False, flag="", cal=None):
    """One axis as a reader describes it; ``cal`` is ``((sw field, value), (obs field,
    value), (reference field, value))`` in the file's own names, for the checks."""
    return {"uc": uc, "label": label, "obs": obs, "sw": sw, "time": time, "complex": cplx,
            "flag": flag, "cal": cal}


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except PermissionError:
        raise NmrpickError(f"{path}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise NmrpickError(f"{path}: cannot read ({exc.strerror})") from None


def _header_int(path, fmt, key, value, low, high):
    """``value`` as an int in ``low..high``, else NmrpickError naming the header field."""
    ok = isinstance(value, (int, float, np.number)) and np.isfinite(value) and value == int(value)
    if not ok or not low <= value <= high:
        raise NmrpickError(f"{path}: corrupt {fmt} header: {key} must be an integer "
                           f"{low}..{high}; got {value!r}")
    return int(value)


#: Largest size of one axis that any reader accepts (points).
MAX_POINTS = 2 ** 31 - 1


def _check_pipe_header(path, dic):
    """The NMRPipe header fields that shape the data, before nmrglue uses them (the
    data are read from the file's bytes, so a size the file lacks fails there)."""
    nd = _header_int(path, "NMRPipe", "FDDIMCOUNT", dic["FDDIMCOUNT"], 1, 4)
    for k in range(1, nd + 1):
        _header_int(path, "NMRPipe", f"FDDIMORDER{k}", dic[f"FDDIMORDER{k}"], 1, 4)
    for key in ("FDTRANSPOSED", "FDPIPEFLAG", "FDF1QUADFLAG", "FDF2QUADFLAG", "FDF3QUADFLAG",
                "FDF4QUADFLAG", "FDF1FTFLAG", "FDF2FTFLAG", "FDF3FTFLAG", "FDF4FTFLAG"):
        _header_int(path, "NMRPipe", key, dic[key], -(2 ** 31), 2 ** 31)
    for key in ("FDSIZE", "FDSPECNUM", "FDF3SIZE", "FDF4SIZE")[:nd]:
        _header_int(path, "NMRPipe", key, dic[key], 1, MAX_POINTS)


def _read_pipe(path):
    size = os.path.getsize(path)
    if size < _PIPE_HEADER_BYTES:
        raise NmrpickError(f"{path}: truncated NMRPipe file ({size} bytes, shorter than "
                           f"its {_PIPE_HEADER_BYTES}-byte header)")
    # Read the exact file: given a name, nmrglue takes a '%' in it for a plane template
    # (hsqc_%d.ft2 reads hsqc_1.ft2); given the bytes it reads those bytes.
    raw = _read_bytes(path)
    _check_pipe_header(path, ng.pipe.fdata2dic(ng.pipe.get_fdata(raw)))
    dic, data, warn = _nmrglue_read("NMRPipe", path, ng.pipe.read, raw)
    del raw
    ndim_file = int(dic["FDDIMCOUNT"])
    # nmrglue reads a single plane of a 3D/4D set (no stream flag) as 2-D
    expect = ndim_file if (ndim_file <= 2 or dic["FDPIPEFLAG"] != 0) else 2
    if data.ndim != expect:
        raise NmrpickError(f"{path}: corrupt or truncated NMRPipe file (header says "
                           f"{expect}-D, the data could not be shaped"
                           f"{': ' + warn[0] if warn else ''})")
    if data.ndim == 1:
        return dic, data, [None]
    udic = ng.pipe.guess_udic(dic, data)
    info = []
    for i in range(data.ndim):
        fn = "FDF%d" % int(dic["FDDIMORDER"][data.ndim - 1 - i])
        u = udic[i]
        info.append(_axis(
            ng.pipe.make_uc(dic, data, dim=i), u["label"], u["obs"], u["sw"],
            time=bool(u["time"]), cplx=bool(u["complex"]),
            flag=f"{fn}FTFLAG={dic[fn + 'FTFLAG']:g}" if u["time"]
            else f"{fn}QUADFLAG={dic[fn + 'QUADFLAG']:g}",
            cal=tuple((fn + k, float(dic[fn + k])) for k in ("SW", "OBS", "ORIG"))))
    return dic, data, info


def _read_ucsf(path):
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(_UCSF_HEADER_BYTES)
    except OSError as exc:
        raise NmrpickError(f"{path}: cannot read ({exc.strerror})") from None
    naxis = head[10] if len(head) > 10 else 0
    need = _UCSF_HEADER_BYTES + _UCSF_AXIS_BYTES * naxis
    if size < need:
        what = (f"its {_UCSF_HEADER_BYTES}-byte file header" if size < _UCSF_HEADER_BYTES else
                f"its {need}-byte header ({_UCSF_HEADER_BYTES} + {_UCSF_AXIS_BYTES} per axis "
                f"x {naxis} axes)")
        raise NmrpickError(f"{path}: truncated UCSF file ({size} bytes, shorter than {what})")
    _check_ucsf_header(path, size)
    dic, data, warn = _nmrglue_read("UCSF", path, ng.sparky.read, str(path))
    expect = tuple(int(dic["w%d" % (i + 1)]["npoints"]) for i in range(int(dic["naxis"])))
    if data.shape != expect:
        raise NmrpickError(f"{path}: corrupt or truncated UCSF file (header says shape "
                           f"{expect}, read {data.shape})")
    udic = ng.sparky.guess_udic(dic, data)
    info = [_axis(ng.sparky.make_uc(dic, data, dim=i), udic[i]["label"], udic[i]["obs"],
                  udic[i]["sw"], cal=tuple((f"w{i + 1}.{k}", float(dic[f"w{i + 1}"][k]))
                                           for k in ("spectral_width", "spectrometer_freq",
                                                     "xmtr_freq")))
            for i in range(data.ndim)]
    return dic, data, info


def _check_ucsf_header(path, size):
    """UCSF header fields that shape the data, before nmrglue uses them: the number
    of components (2 = complex), points and tile sizes, and the file size they need."""
    with open(path, "rb") as f:
        head = f.read(_UCSF_HEADER_BYTES)
        naxis, ncomp = head[10], head[11]
        if not 1 <= naxis <= 4:
            raise NmrpickError(f"{path}: corrupt UCSF header: naxis must be 1..4; got {naxis}")
        if ncomp != 1:
            raise NmrpickError(f"{path}: complex or multi-component UCSF data (ncomponents "
                               f"{ncomp}); nmrpick-ml reads real spectra (ncomponents 1)")
        need = 4
        for i in range(naxis):
            npoints, _, bsize, sf, sw = struct.unpack(">8x3I2f", f.read(_UCSF_AXIS_BYTES)[:28])
            _header_int(path, "UCSF", f"w{i + 1}.npoints", npoints, 1, MAX_POINTS)
            _header_int(path, "UCSF", f"w{i + 1}.bsize (tile size)", bsize, 1, npoints)
            _check_sw_obs(path, (f"w{i + 1}.spectral_width", sw),
                          (f"w{i + 1}.spectrometer_freq", sf), f"w{i + 1}")
            need *= -(-npoints // bsize) * bsize
    have = size - _UCSF_HEADER_BYTES - _UCSF_AXIS_BYTES * naxis
    if have < need:
        raise NmrpickError(f"{path}: corrupt or truncated UCSF file (its header describes "
                           f"{need} bytes of data, the file holds {have})")


def _bruker_strip_fake(dic, ndim):
    """True when the data were processed with a strip (0 < STSI < FTSIZE): nmrglue's
    ``guess_udic(strip_fake=True)`` then gives the ppm scale of the stored strip."""
    procs = ["procs"] + ["proc%ds" % (i + 1) for i in range(1, ndim)]
    try:
        stsi = [dic[p]["STSI"] for p in procs]
        ftsize = [dic[p]["FTSIZE"] for p in procs]
    except KeyError:
        return False
    return all(s > 0 for s in stsi) and any(0 < s < f for s, f in zip(stsi, ftsize))


def _bruker_udic(dic, data, path):
    ndim = data.ndim
    for b_dim in range(ndim):
        proc = "procs" if b_dim == 0 else "proc%ds" % (b_dim + 1)
        missing = [k for k in ("SW_p", "SF", "OFFSET") if k not in dic.get(proc, {})]
        if missing:
            raise NmrpickError(f"{path}: {proc} lacks {', '.join(missing)}; cannot compute "
                               "the ppm scale")
        _check_sw_obs(path, (f"{proc} SW_p", dic[proc]["SW_p"]), (f"{proc} SF", dic[proc]["SF"]),
                      f"array axis {ndim - 1 - b_dim}")   # before guess_udic divides by them
    with warnings.catch_warnings():
        # nmrglue warns when it cannot read the acquisition mode (encoding), which
        # does not matter for processed data; the ppm keys were checked above
        warnings.simplefilter("ignore")
        return ng.bruker.guess_udic(dic, data, strip_fake=_bruker_strip_fake(dic, ndim))


def _bruker_proc_names(ndim):
    """procs file of each array axis: the last axis is ``procs``, then proc2s, proc3s."""
    return ["procs" if b == 0 else "proc%ds" % (b + 1) for b in range(ndim)][::-1]


def _check_bruker_procs(path):
    """procs fields that shape and scale the data, and the data file's size, before
    nmrglue reads the data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dic = ng.bruker.read_procs_file(str(path))
    data_file = next(n for n in _BRUKER_DATA if (path / n).is_file())
    ndim = _BRUKER_DATA[data_file]
    points = 1
    for proc in _bruker_proc_names(ndim):
        if proc not in dic:
            raise NmrpickError(f"{path}: Bruker {data_file} without its {proc} file")
        par = dic[proc]
        if "SI" in par:
            points *= _header_int(path, "Bruker", f"{proc} SI", par["SI"], 1, MAX_POINTS)
        if "XDIM" in par:
            _header_int(path, "Bruker", f"{proc} XDIM", par["XDIM"], 1, MAX_POINTS)
    procs = dic["procs"]
    for key, allowed in (("BYTORDP", (0, 1)), ("DTYPP", (0, 2))):
        if key in procs and procs[key] not in allowed:
            raise NmrpickError(f"{path}: corrupt Bruker procs: {key} must be one of "
                               f"{', '.join(map(str, allowed))}; got {procs[key]!r}")
    if "NC_proc" in procs:
        _header_int(path, "Bruker", "procs NC_proc", procs["NC_proc"], -100, 100)
    if all("SI" in dic[p] for p in _bruker_proc_names(ndim)):
        need = points * (8 if procs.get("DTYPP") == 2 else 4)
        have = os.path.getsize(path / data_file)
        if have != need:
            raise NmrpickError(f"{path}: corrupt or truncated Bruker data ({data_file} holds "
                               f"{have} bytes; the procs SI values need {need})")


def _read_bruker(path):
    _check_bruker_procs(path)
    dic, data, warn = _nmrglue_read("Bruker", path, ng.bruker.read_pdata, str(path),
                                    scale_data=True)
    shape = ng.bruker.guess_shape_and_submatrix_shape(dic)[0]
    if shape is None:
        raise NmrpickError(f"{path}: procs files lack SI/XDIM; cannot shape the data")
    if tuple(data.shape) != tuple(shape):
        raise NmrpickError(f"{path}: corrupt or truncated Bruker data (procs say shape "
                           f"{tuple(shape)}, read {data.shape} values)")
    if data.ndim == 1:
        return dic, data, [None]
    procs = _bruker_proc_names(data.ndim)
    udic = _bruker_udic(dic, data, path)
    # processed 2rr/3rrr are real frequency-domain data by definition
    info = [_axis(ng.fileiobase.uc_from_udic(udic, i), udic[i]["label"], udic[i]["obs"],
                  udic[i]["sw"], cal=tuple((f"{procs[i]} {k}", dic[procs[i]][k])
                                           for k in ("SW_p", "SF", "OFFSET")))
            for i in range(data.ndim)]
    return dic, data, info


def _npy_udic(axes_meta, shape, where):
    if not isinstance(axes_meta, list) or len(axes_meta) != len(shape):
        raise NmrpickError(f"{where}: 'axes' must list {len(shape)} axes (one per array "
                           f"axis of shape {tuple(shape)}); got "
                           f"{len(axes_meta) if isinstance(axes_meta, list) else axes_meta!r}")
    udic = ng.fileiobase.create_blank_udic(len(shape))
    for i, (ax, size) in enumerate(zip(axes_meta, shape)):
        if not isinstance(ax, dict):
            raise NmrpickError(f"{where}: axes[{i}] must be an object; got {ax!r}")
        missing = [k for k in ("label", "sw_hz", "obs_mhz", "ref_point", "ref_ppm") if k not in ax]
        if missing:
            raise NmrpickError(f"{where}: axes[{i}] lacks {', '.join(missing)}")
        try:
            sw = check_number(ax["sw_hz"], f"axes[{i}].sw_hz", low=0, low_open=True)
            obs = check_number(ax["obs_mhz"], f"axes[{i}].obs_mhz", low=0, low_open=True)
            ref_point = check_number(ax["ref_point"], f"axes[{i}].ref_point")
            ref_ppm = check_number(ax["ref_ppm"], f"axes[{i}].ref_ppm")
        except (NmrpickError, TypeError) as exc:
            raise NmrpickError(f"{where}: {exc}") from None
        # nmrglue's unit_conversion: ppm(pt) = first + pt * delta, delta = -sw / (size obs),
        # and first = car / obs - delta * size / 2; solve for car from the reference point
        delta = -sw / (size * obs)
        first = ref_ppm - delta * (ref_point - 1)
        udic[i].update(size=int(size), sw=sw, obs=obs, car=(first + delta * size / 2.0) * obs,
                       label=str(ax["label"]), complex=False, time=False, freq=True)
    return udic


#: Largest sidecar JSON read (bytes).
MAX_SIDECAR_BYTES = 1 << 20


def _check_npy_header(path):
    """The .npy header (shape, dtype) against the file size, before numpy allocates."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise NmrpickError(f"{path}: unsupported .npy format version {version}")
        shape, _, dtype = read(f)
        offset = f.tell()
    if dtype.hasobject or dtype.names is not None or dtype.kind not in "fiuc":
        raise NmrpickError(f"{path}: .npy array must be numeric; got dtype {dtype}")
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = os.path.getsize(path) - offset
    if have < need:
        raise NmrpickError(f"{path}: corrupt or truncated .npy file (its header says shape "
                           f"{shape} of {dtype}, {need} bytes; the file holds {have})")


def _read_npy(path, axes=None):
    side = Path(os.fspath(axes)) if axes is not None else path.with_suffix(".json")
    try:
        _check_npy_header(path)
        data = np.load(path, allow_pickle=False)
    except PermissionError:
        raise NmrpickError(f"{path}: permission denied (cannot read the file)") from None
    except (ValueError, OSError, EOFError) as exc:
        raise NmrpickError(f"{path}: corrupt or truncated .npy file ({exc})") from None
    if data.dtype.kind not in "fiuc" or data.dtype.names is not None:
        raise NmrpickError(f"{path}: .npy array must be numeric; got dtype {data.dtype}")
    if 0 in data.shape:
        raise NmrpickError(f"{path}: empty spectrum (shape {data.shape})")
    if not side.is_file():
        raise NmrpickError(f"{path}: needs a sidecar JSON of its axes ({side} not found; "
                           "give it with axes= / --axes)")
    if side.stat().st_size > MAX_SIDECAR_BYTES:
        raise NmrpickError(f"{side}: axes JSON of {side.stat().st_size} bytes is too large "
                           f"(at most {MAX_SIDECAR_BYTES})")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise NmrpickError(f"{side}: cannot read the axes JSON ({why})") from None
    if not isinstance(meta, dict) or "axes" not in meta:
        raise NmrpickError(f"{side}: must be an object with an 'axes' list")
    if data.ndim == 1:
        return meta, data, [None]
    udic = _npy_udic(meta["axes"], data.shape, side)
    info = [_axis(ng.fileiobase.uc_from_udic(udic, i), udic[i]["label"], udic[i]["obs"],
                  udic[i]["sw"], cplx=np.iscomplexobj(data), flag="complex dtype",
                  cal=tuple((f"axes[{i}].{k}", meta["axes"][i][k])
                            for k in ("sw_hz", "obs_mhz", "ref_ppm")))
            for i in range(data.ndim)]
    return dict(meta, sidecar=str(side)), data, info


_ISOTOPE = {"H": "1H", "N": "15N", "C": "13C", "P": "31P", "F": "19F", "D": "2H"}


def _label(label):
    """A header's nucleus label, normalised (:func:`_nucleus`), as one printable word
    (a damaged header's bytes must not break a table line)."""
    return re.sub(r"\s+", "_", printable(_nucleus(label)).strip()) or "?"


def _nucleus(label):
    """Normalise a nucleus label: 'N15'/'15N'/'N' -> '15N', 'HN'/'H1' -> '1H'.

    Examples
    --------
    >>> [_nucleus(s) for s in ("N15", "15N", "HN", "H1", "1H", "C13", "CA", "vdlist")]
    ['15N', '15N', '1H', '1H', '1H', '13C', '13C', 'vdlist']
    """
    s = str(label).strip()
    m = re.fullmatch(r"(\d+)([A-Za-z]{1,2})", s) or re.fullmatch(r"([A-Za-z]{1,2})(\d+)", s)
    if m:
        a, b = m.groups()
        mass, el = (a, b) if a.isdigit() else (b, a)
        return f"{mass}{el[0].upper()}{el[1:].lower()}"
    up = s.upper()
    if up in ("H", "HN", "HA", "HC", "HX"):
        return "1H"
    if up in ("N", "NH", "NX"):
        return "15N"
    if up in ("C", "CA", "CB", "CO", "CX", "CH"):
        return "13C"
    if len(up) == 1 and up in _ISOTOPE:
        return _ISOTOPE[up]
    return s


def uc_from_dic(dic, data):
    """One nmrglue unit conversion per axis of ``data``, built from ``dic``.

    The kind of ``dic`` is recognised from its keys: NMRPipe (``FDDIMCOUNT``),
    Sparky (``w1``), Bruker (``procs``/``acqus``) or our ``.npy`` sidecar
    (``axes``).

    Parameters
    ----------
    dic : dict
        Parameter dictionary as the nmrglue reader returned it.
    data : ndarray of shape (N1, N2)

    Returns
    -------
    uc : tuple of nmrglue unit_conversion

    Raises
    ------
    NmrpickError
        Unknown ``dic``, or a Sparky dictionary of a 3-D file (pass ``uc``).
    """
    if not isinstance(dic, dict):
        raise TypeError(f"`dic` must be a dict of spectrum parameters; got {type(dic).__name__}")
    nd = data.ndim
    if "FDDIMCOUNT" in dic:
        # for a plane of a 3-D stream FDDIMORDER[0], [1] still name the plane's axes
        return tuple(ng.pipe.make_uc(dic, data, dim=i) for i in range(nd))
    if "w1" in dic:
        if int(dic.get("naxis", nd)) != nd:
            raise NmrpickError(f"`dic` describes a {dic['naxis']}-D Sparky file but `data` is "
                               f"{nd}-D; pass uc= (for example Spectrum.uc)")
        return tuple(ng.sparky.make_uc(dic, data, dim=i) for i in range(nd))
    if "procs" in dic or "acqus" in dic:
        udic = _bruker_udic(dic, data, "`dic`")
        return tuple(ng.fileiobase.uc_from_udic(udic, i) for i in range(nd))
    if "axes" in dic:
        axes = list(dic["axes"])[-nd:] if isinstance(dic["axes"], list) else dic["axes"]
        udic = _npy_udic(axes, data.shape, "`dic`")
        return tuple(ng.fileiobase.uc_from_udic(udic, i) for i in range(nd))
    raise NmrpickError("`dic` is not an NMRPipe, Sparky, Bruker or nmrpick-ml .npy "
                       "dictionary (no FDDIMCOUNT, w1, procs/acqus or axes key); pass uc=")


def labels_from_dic(dic, data):
    """The nucleus of each axis of ``data`` from ``dic`` (as :attr:`Spectrum.labels`).

    For NMRPipe, Sparky, Bruker and our ``.npy`` sidecar dictionaries (the
    same kinds as :func:`uc_from_dic`); ``('Y', 'X')`` when ``dic`` names no
    nucleus (e.g. ``{}``).

    Examples
    --------
    >>> labels_from_dic({}, np.zeros((4, 8)))
    ('Y', 'X')
    """
    nd = np.ndim(data)
    try:
        if isinstance(dic, dict) and "FDDIMCOUNT" in dic:
            udic = ng.pipe.guess_udic(dic, data)
        elif isinstance(dic, dict) and "w1" in dic:
            udic = ng.sparky.guess_udic(dic, data)
        elif isinstance(dic, dict) and ("procs" in dic or "acqus" in dic):
            udic = _bruker_udic(dic, data, "`dic`")
        elif isinstance(dic, dict) and isinstance(dic.get("axes"), list):
            return tuple(_nucleus(ax.get("label", "?")) for ax in dic["axes"][-nd:])
        else:
            return ("Y", "X") if nd == 2 else tuple(f"axis{i}" for i in range(nd))
    except (KeyError, ValueError, TypeError, NmrpickError):
        return ("Y", "X") if nd == 2 else tuple(f"axis{i}" for i in range(nd))
    return tuple(_nucleus(udic[i]["label"]) for i in range(nd))


def direct_axis(dic, data):
    """The array axis of the direct (acquisition) dimension of a 2-D spectrum.

    NMRPipe says it in its header: a transposed 2-D file (``FDTRANSPOSED 1``,
    after ``nmrPipe -fn TP``) stores the direct dimension (F2) along array
    axis 0; ``FDDIMORDER`` names which NMRPipe dimension each axis holds, and
    the direct one is F2. UCSF/Sparky, Bruker ``2rr`` and our ``.npy`` store
    the direct dimension last (axis 1).

    Parameters
    ----------
    dic : dict
        The reader's parameter dictionary.
    data : ndarray of shape (N1, N2)

    Returns
    -------
    int
        0 or 1.

    Examples
    --------
    >>> direct_axis({}, np.zeros((4, 8)))
    1
    >>> direct_axis({"FDDIMCOUNT": 2.0, "FDTRANSPOSED": 1.0, "FDDIMORDER1": 1.0,
    ...              "FDDIMORDER2": 2.0}, np.zeros((4, 8)))
    0
    """
    if not isinstance(dic, dict) or "FDDIMCOUNT" not in dic or np.ndim(data) != 2:
        return 1
    if int(dic.get("FDDIMCOUNT", 2)) != 2:
        return 1                   # a plane of a 3-D stream: its own order, as stored
    # FDDIMORDER1 is the dimension on the last array axis (the fast one), 2 the other
    order = (int(dic.get("FDDIMORDER2", 1)), int(dic.get("FDDIMORDER1", 2)))
    if 2 in order and order.count(2) == 1:
        return order.index(2)
    return 0 if int(dic.get("FDTRANSPOSED", 0)) == 1 else 1


def spectrum_name(spectrum):
    """A name for the spectrum that NEF and CCPN accept: letters, digits and ``_``.

    The file stem; for Bruker ``<data set>_<expno>_<procno>``; a stem that is
    only digits (``1.ft2``) is prefixed with its folder's name; ``_plane<N>``
    is added for a plane of a 3-D file. Other characters become ``_``.

    Examples
    --------
    >>> s = Spectrum({}, np.zeros((2, 2)), (), ("1H", "1H"), (), (), "pipe", "/d/t1 series/1.ft2")
    >>> spectrum_name(s)
    't1_series_1'
    """
    p = Path(os.path.abspath(spectrum.path))
    if spectrum.format == "bruker" and p.parent.name == "pdata":
        exp = p.parent.parent
        name = f"{exp.parent.name}_{exp.name}_{p.name}"
    else:
        name = p.stem if p.suffix else p.name
        if re.fullmatch(r"[\d.]*", name) and p.parent.name:
            name = f"{p.parent.name}_{name}"
    if spectrum.plane is not None:
        name += f"_plane{spectrum.plane}"
    name = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "spectrum"
    return name if name[0].isalpha() else "s" + name


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #

def table_format(path, fmt=None):
    """The table format for ``path``: ``fmt`` when given, else from its extension
    (``tab`` for standard output and special files without one)."""
    if fmt is None and not Path(os.fspath(path)).suffix and is_write_through(path):
        return "tab"
    if fmt is not None:
        fmt = str(fmt).lower().lstrip(".")
        if fmt not in TABLE_FORMATS.values():
            raise NmrpickError(f"unknown output format {fmt!r}; use one of "
                               + ", ".join(TABLE_FORMATS.values()))
        return fmt
    ext = Path(os.fspath(path)).suffix.lower()
    if ext not in TABLE_FORMATS:
        raise NmrpickError(f"{path}: unknown output format {ext or '(no extension)'!r}; use "
                           + ", ".join(TABLE_FORMATS) + " or give the format (--format)")
    return TABLE_FORMATS[ext]


def _input_paths(spectrum):
    if spectrum is None or not getattr(spectrum, "path", None):
        return set()
    if getattr(spectrum, "files", None):
        return set(spectrum.files)
    sidecar = spectrum.dic.get("sidecar") if isinstance(spectrum.dic, dict) else None
    return set(_files_of(spectrum.format, spectrum.path, sidecar))


def check_output_path(path, spectrum=None, inputs=(), what="output", replace_spectra=False):
    """Refuse an output path that cannot or must not be written.

    Raises :class:`NmrpickError` when :func:`nmrpick_ml.files.check_target`
    refuses it (missing or unwritable folder, a folder, a block device, a name
    too long), when the path is one of the input files (every file
    ``spectrum`` was read from, or one of ``inputs``), by name or as the same
    file, or (unless ``replace_spectra``) when it is an existing spectrum
    (NMRPipe, UCSF or .npy content): a table never replaces a spectrum. ``-``
    (standard output) is accepted.
    """
    if check_target(path, what):
        return path                       # stdout or a special file: written through
    given = set(_input_paths(spectrum))
    for q in inputs:
        given.add(os.path.realpath(os.fspath(q)))
    if _is_one_of(path, given):
        raise NmrpickError(f"{path}: output path is the input"
                           + ("" if what == "output" else f" (given as {what})")
                           + "; choose another name")
    if not replace_spectra and os.path.isfile(path):
        kind = _sniff(path)
        if kind is not None:
            raise NmrpickError(f"{path}: is a spectrum ({_FORMAT_NAMES[kind]}); refusing to "
                               f"replace it with the {what}; choose another name")
    return Path(os.fspath(path))


def _is_one_of(path, paths):
    """True when ``path`` names one of ``paths`` (same real path, or same file)."""
    real = os.path.realpath(os.fspath(path))
    if real in paths:
        return True
    try:
        st = os.stat(real)
    except OSError:
        return False
    for q in paths:
        try:
            if os.path.samestat(st, os.stat(q)):
                return True
        except OSError:
            pass
    return False


def write_table(path, peaks, spectrum=None, fmt=None):
    """Write a peak table as NMRPipe ``.tab``, Sparky ``.list``, ``.csv`` or NEF.

    Parameters
    ----------
    path : str or path-like
        Output file; its folder must exist. The format comes from the extension
        (``.tab``, ``.list``, ``.csv``, ``.nef``) unless ``fmt`` is given.
    peaks : numpy.recarray or pandas.DataFrame
        The table :func:`nmrpick_ml.pick` returns (columns ``Y_AXIS, X_AXIS,
        cID, Y_LW, X_LW, VOL, Y_PPM, X_PPM, Y_LW_HZ, X_LW_HZ, HEIGHT, SCORE``;
        points 0-based).
    spectrum : Spectrum, optional
        The spectrum the peaks came from. Gives the Hz positions of the ``.tab``
        (``uc.hz``), its ``DATA`` lines and the NEF dimensions (required for
        ``.nef``), and guards against writing over the input.
    fmt : {'tab', 'list', 'csv', 'nef'}, optional
        Format, overriding the extension.

    Returns
    -------
    path : str
        The file written.

    Notes
    -----
    * ``.tab``: NMRPipe table written with ``nmrglue.pipe.write_table``; X is
      the direct axis (array axis 1), Y the indirect one. ``X_AXIS``/``Y_AXIS``
      are 1-based points as NMRPipe writes them, ``XW``/``YW`` FWHH in points,
      ``*_HZ`` in Hz, ``CLUSTID`` the cluster id and ``SCORE`` the confidence.
      Without ``spectrum`` the Hz positions are NMRPipe's NULLVALUE -666.
    * ``.list``: Sparky/POKY, ``w1`` = first UCSF axis = array axis 0
      (indirect), rows ``?-?  w1_ppm  w2_ppm  height``.
    * ``.csv``: the columns of ``peaks`` as they are (0-based points).
    * ``.nef``: a ``nef_nmr_meta_data`` saveframe and one ``nef_nmr_spectrum``
      saveframe named after the spectrum (``nef_nmr_spectrum_<name>``, see
      :func:`spectrum_name`, so that tables of several spectra load side by
      side into one CCPN project) with its ``_nef_spectrum_dimension`` and
      ``_nef_peak`` loops. NEF dimension 1 is array axis 0 (as Sparky's w1),
      dimension 2 is array axis 1; ``is_acquisition`` is true for the direct
      dimension (:attr:`Spectrum.direct_axis`: axis 1 unless the NMRPipe
      file is transposed). The file names its axis codes, so CCPN maps them
      onto its own spectrum. ``SCORE`` goes to ``ccpn_figure_of_merit``.

    The file is written to a temporary name in the same folder and then moved
    into place, so a failed write leaves no partial file.

    Examples
    --------
    >>> import tempfile, os
    >>> from nmrpick_ml._validate import empty_peaks
    >>> out = write_table(os.path.join(tempfile.mkdtemp(), "p.csv"), empty_peaks())
    >>> open(out).read().split(",")[:3]
    ['Y_AXIS', 'X_AXIS', 'cID']
    """
    target = check_output_path(path, spectrum)
    fmt = table_format(path, fmt)
    rec = as_peak_records(peaks)
    fitted = _fit_columns(peaks)
    if fmt == "nef" and spectrum is None:
        raise NmrpickError(f"{path}: writing .nef needs `spectrum` (its axis codes, "
                           "frequencies and spectral widths)")
    if fmt == "tab":
        return atomic_write(target, lambda tmp: _write_pipe_tab(tmp, rec, spectrum, fitted))
    text = {"list": _sparky_list_text, "csv": _csv_text, "nef": _nef_text}[fmt](rec, spectrum)
    if fmt == "csv" and fitted:
        text = _csv_text(rec, spectrum, fitted)
    return atomic_write_text(target, text)


#: NMRPipe .tab columns written, with their printf formats.
TAB_COLUMNS = [
    ("INDEX", "%5d"), ("X_AXIS", "%9.3f"), ("Y_AXIS", "%9.3f"),
    ("X_PPM", "%10.5f"), ("Y_PPM", "%10.5f"), ("X_HZ", "%11.3f"), ("Y_HZ", "%11.3f"),
    ("XW", "%7.3f"), ("YW", "%7.3f"), ("XW_HZ", "%8.3f"), ("YW_HZ", "%8.3f"),
    ("HEIGHT", "%+e"), ("VOL", "%+e"), ("CLUSTID", "%4d"), ("SCORE", "%5.3f"),
    ("J_HZ", "%8.3f"), ("N_LINES", "%2d"),
]
_NULL = -666.0


def _tab_records(rec, spectrum):
    n = len(rec)
    dt = [(c, "i4" if f.endswith("d") else "f8") for c, f in TAB_COLUMNS]
    out = np.zeros(n, dtype=dt)
    out["INDEX"] = np.arange(1, n + 1)
    out["X_AXIS"] = rec.X_AXIS + 1.0
    out["Y_AXIS"] = rec.Y_AXIS + 1.0
    out["X_PPM"], out["Y_PPM"] = rec.X_PPM, rec.Y_PPM
    if spectrum is not None:
        out["Y_HZ"] = spectrum.uc[0].hz(rec.Y_AXIS) if n else []
        out["X_HZ"] = spectrum.uc[1].hz(rec.X_AXIS) if n else []
    else:
        out["X_HZ"] = out["Y_HZ"] = _NULL
    out["XW"], out["YW"] = rec.X_LW, rec.Y_LW
    out["XW_HZ"], out["YW_HZ"] = rec.X_LW_HZ, rec.Y_LW_HZ
    out["HEIGHT"], out["VOL"] = rec.HEIGHT, rec.VOL
    out["CLUSTID"] = rec.cID
    out["SCORE"] = rec.SCORE
    out["J_HZ"] = np.where(np.isfinite(rec.J_HZ), rec.J_HZ, _NULL)
    out["N_LINES"] = rec.N_LINES
    return out.view(np.recarray)


def _tab_comments(n, spectrum):
    if spectrum is None:
        roles = "X = array axis 1, Y = array axis 0"
    else:
        # X is the file's X axis (array axis 1) as NMRPipe's own tables; its role
        # (direct or indirect) comes from the header: a transposed file swaps them
        role = ("direct", "indirect") if getattr(spectrum, "direct_axis", 1) == 1 \
            else ("indirect", "direct")
        roles = (f"X = array axis 1 ({role[0]}, {spectrum.labels[1]}), "
                 f"Y = array axis 0 ({role[1]}, {spectrum.labels[0]})")
    lines = [f"REMARK nmrpick-ml {__version__} peak table, {n} peaks",
             f"REMARK {roles}; X_AXIS, Y_AXIS in 1-based points; XW, YW full width at half "
             "height in points; SCORE 0..1; J_HZ, N_LINES: a direct-axis multiplet's J "
             "and lines (-666, 1: a singlet)"]
    if spectrum is not None:
        lines.append(f"REMARK input {printable(spectrum.path)}"   # a newline would end it
                     + ("" if spectrum.plane is None else f" plane {spectrum.plane}"))
        for name, ax in (("X_AXIS", 1), ("Y_AXIS", 0)):
            size = spectrum.data.shape[ax]
            a, b = spectrum.uc[ax].ppm(0), spectrum.uc[ax].ppm(size - 1)
            lines.append(f"DATA  {name} {spectrum.labels[ax]:<8s} {1:6d} {size:6d} "
                         f"{a:10.3f}ppm {b:10.3f}ppm")
    lines += ["NULLVALUE -666", "NULLSTRING *"]
    return [s + "\n" for s in lines]


#: With ``pick(..., fit=True)`` the .tab gets NMRPipe-style error columns:
#: (tab name, fit column, format); DX, DY, DXW, DYW in points.
TAB_FIT_COLUMNS = [
    ("DX", "X_AXIS_ERR", "%8.4f"), ("DY", "Y_AXIS_ERR", "%8.4f"), ("DXW", "X_LW_ERR", "%8.4f"),
    ("DYW", "Y_LW_ERR", "%8.4f"), ("DHEIGHT", "HEIGHT_ERR", "%+e"), ("DVOL", "VOL_ERR", "%+e"),
    ("XETA", "X_ETA", "%5.3f"), ("YETA", "Y_ETA", "%5.3f"), ("CHI2", "CHI2_RED", "%10.3f"),
    ("FLAG", "FIT_FLAG", "%1d"), ("ADDED", "FIT_ADDED", "%1d"),
]


def _fit_columns(peaks):
    """The lineshape-fit columns of ``peaks`` (``pick(..., fit=True)``) as arrays, or {}."""
    names = (peaks.dtype.names if hasattr(peaks, "dtype") and peaks.dtype.names
             else tuple(getattr(peaks, "columns", ())))
    if "FIT_FLAG" not in names:      # not fitted: fit.py (large) is not imported
        return {}
    from .fit import FIT_COLUMNS
    if not all(c in names for c in FIT_COLUMNS):
        return {}
    return {c: np.asarray(peaks[c]) for c in FIT_COLUMNS}


def _write_pipe_tab(tmp, rec, spectrum, fitted=None):
    tab = _tab_records(rec, spectrum)
    formats = [f for _, f in TAB_COLUMNS]
    if fitted:
        import numpy.lib.recfunctions as rfn
        tab = rfn.append_fields(tab, [t for t, _, _ in TAB_FIT_COLUMNS],
                                [fitted[c].astype("i4" if f.endswith("d") else "f8")
                                 for _, c, f in TAB_FIT_COLUMNS], usemask=False).view(np.recarray)
        formats += [f for _, _, f in TAB_FIT_COLUMNS]
    comments = _tab_comments(len(rec), spectrum)
    if len(tab):
        ng.pipe.write_table(tmp, comments, formats, tab, overwrite=True)
    else:
        # nmrglue.pipe.write_table indexes rec[0]; same layout without rows
        with open(tmp, "w") as f:
            f.write("VARS   " + " ".join(tab.dtype.names) + "\n")
            f.write("FORMAT " + " ".join(formats) + "\n")
            f.writelines(comments)


def _sparky_list_text(rec, spectrum=None):
    lines = [f"{'Assignment':>16s}{'w1':>11s}{'w2':>11s}{'Data Height':>15s}", ""]
    for r in rec:
        lines.append(f"{'?-?':>16s}{r.Y_PPM:11.4f}{r.X_PPM:11.4f}{r.HEIGHT:15.6g}")
    return "\n".join(lines) + "\n"


def _csv_text(rec, spectrum=None, fitted=None):
    import pandas as pd   # imported here: pandas is slow to import and only needed here
    df = pd.DataFrame.from_records(rec)
    for c, v in (fitted or {}).items():
        df[c] = v
    return df.to_csv(index=False)


def _nef_value(v, fmt="{:.6g}"):
    return "." if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def _nef_text(rec, spectrum):
    now = datetime.datetime.now().replace(microsecond=0)
    ident = f"nmrpick-ml-{now:%Y-%m-%dT%H:%M:%S}-{uuid.uuid4()}"
    meta = [("sf_category", "nef_nmr_meta_data"), ("sf_framecode", "nef_nmr_meta_data"),
            ("format_name", "nmr_exchange_format"), ("format_version", "1.1"),
            ("program_name", "nmrpick-ml"), ("program_version", __version__),
            ("creation_date", now.isoformat()), ("uuid", ident)]
    name = spectrum_name(spectrum)
    out = [f"data_{name}", "", "save_nef_nmr_meta_data"]
    out += [f"   _nef_nmr_meta_data.{k:<16s} {v}" for k, v in meta]
    out += ["save_", ""]
    frame = f"nef_nmr_spectrum_{name}"       # CCPN names the spectrum and peak list after it
    spec = [("sf_category", "nef_nmr_spectrum"), ("sf_framecode", frame),
            ("num_dimensions", "2"), ("chemical_shift_list", "."),
            ("experiment_classification", "."), ("experiment_type", ".")]
    out += [f"save_{frame}"]
    out += [f"   _nef_nmr_spectrum.{k:<26s} {v}" for k, v in spec]
    dim_tags = ["dimension_id", "axis_unit", "axis_code", "spectrometer_frequency",
                "spectral_width", "value_first_point", "folding", "absolute_peak_positions",
                "is_acquisition"]
    out += ["", "   loop_"] + [f"      _nef_spectrum_dimension.{t}" for t in dim_tags] + [""]
    for dim, ax in ((1, 0), (2, 1)):
        obs, sw = spectrum.obs_mhz[ax], spectrum.sw_hz[ax]
        label = spectrum.labels[ax]
        code = label if re.fullmatch(r"\d+[A-Z][a-z]?", label) else "."
        out.append(f"     {dim} ppm {code} {obs:.6f} {sw / obs:.6f} "
                   f"{float(spectrum.uc[ax].ppm(0)):.6f} none true "
                   f"{'true' if ax == getattr(spectrum, 'direct_axis', 1) else 'false'}")
    out += ["   stop_", ""]
    peak_tags = ["index", "peak_id", "volume", "volume_uncertainty", "height",
                 "height_uncertainty", "position_1", "position_uncertainty_1", "position_2",
                 "position_uncertainty_2", "chain_code_1", "sequence_code_1", "residue_name_1",
                 "atom_name_1", "chain_code_2", "sequence_code_2", "residue_name_2",
                 "atom_name_2", "ccpn_figure_of_merit"]
    out += ["   loop_"] + [f"      _nef_peak.{t}" for t in peak_tags] + [""]
    for i, r in enumerate(rec, start=1):
        vals = [str(i), str(i), _nef_value(float(r.VOL)), ".", _nef_value(float(r.HEIGHT)), ".",
                _nef_value(float(r.Y_PPM), "{:.5f}"), ".", _nef_value(float(r.X_PPM), "{:.5f}"),
                "."] + ["."] * 8 + [_nef_value(float(r.SCORE), "{:.4f}")]
        out.append("     " + " ".join(vals))
    out += ["   stop_", "save_", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- #
# reading tables back
# --------------------------------------------------------------------------- #

def read_table(path):
    """Read a peak table written by :func:`write_table` (``.tab`` or ``.csv``).

    Parameters
    ----------
    path : str or path-like
        NMRPipe ``.tab`` (read with ``nmrglue.pipe.read_table``) or ``.csv``.

    Returns
    -------
    peaks : numpy.recarray
        The columns of :func:`nmrpick_ml.pick` (0-based points). Columns a
        foreign NMRPipe table lacks are NaN (``cID`` 0); NMRPipe's NULLVALUE
        -666 becomes NaN.
    """
    p = Path(os.fspath(path))
    if not p.is_file():
        raise NmrpickError(f"{p}: no such file")
    fmt = table_format(p)
    if fmt == "csv":
        import pandas as pd
        return as_peak_records(pd.read_csv(p))
    if fmt != "tab":
        raise NmrpickError(f"{p}: read_table reads .tab and .csv tables; got {fmt}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # numpy warns on a table without rows
            _, _, tab = ng.pipe.read_table(str(p))
    except (OSError, ValueError) as exc:
        raise NmrpickError(f"{p}: not a readable NMRPipe table ({exc})") from None
    names = tab.dtype.names or ()
    n = len(tab) if names else 0
    out = np.zeros(n, dtype=PEAK_DTYPE)

    def col(name, offset=0.0):
        if name not in names or n == 0:
            return np.full(n, np.nan)
        v = np.asarray(tab[name], dtype=float)
        return np.where(v == _NULL, np.nan, v - offset)

    out["X_AXIS"], out["Y_AXIS"] = col("X_AXIS", 1.0), col("Y_AXIS", 1.0)
    out["cID"] = np.asarray(tab["CLUSTID"], dtype=int) if "CLUSTID" in names and n else 0
    out["Y_LW"], out["X_LW"] = col("YW"), col("XW")
    out["VOL"] = col("VOL")
    out["Y_PPM"], out["X_PPM"] = col("Y_PPM"), col("X_PPM")
    out["Y_LW_HZ"], out["X_LW_HZ"] = col("YW_HZ"), col("XW_HZ")
    out["HEIGHT"] = col("HEIGHT")
    out["SCORE"] = col("SCORE")
    out["J_HZ"] = col("J_HZ")
    out["N_LINES"] = np.asarray(tab["N_LINES"], dtype=int) if "N_LINES" in names and n else 1
    return out.view(np.recarray)
