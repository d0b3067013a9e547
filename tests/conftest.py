"""Shared fixtures: small real files written with nmrglue's own writers.

Every spectrum here is a seeded sum of 2D Gaussians plus unit-variance noise,
written with ``nmrglue.pipe``/``sparky``/``bruker`` writers, so that reading
it back goes through the real file formats.
"""

import json
import os
from importlib import resources
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import nmrglue as ng
import pytest

#: Shared real spectra, read in place (never copied into the repository).
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REALDATA = SHARED / "realdata"

#: Axis parameters (axis 0 = 15N indirect, axis 1 = 1H direct).
AXES = ({"label": "15N", "sw": 2000.0, "obs": 60.8, "car": 118.0 * 60.8},
        {"label": "1H", "sw": 8000.0, "obs": 600.13, "car": 4.7 * 600.13})

#: True peaks: (y, x, amplitude in noise sigmas, FWHH y, FWHH x), points.
TRUTH = np.array([
    (20.3, 40.7, 200.0, 3.0, 4.0),
    (35.6, 120.2, 60.0, 2.5, 3.5),
    (60.1, 200.4, 35.0, 3.5, 4.5),
    (90.8, 75.5, 25.0, 3.0, 3.0),
    (100.2, 160.9, 120.0, 2.8, 5.0),
    (110.5, 230.3, 45.0, 3.2, 4.2),
    (70.4, 20.6, 12.0, 3.0, 4.0),   # weak: not required to be found (< 20 sigma)
])


def make_udic(shape, axes=AXES, *, time=False, complex_=False):
    """nmrglue universal dictionary for ``shape`` with the test axes."""
    udic = ng.fileiobase.create_blank_udic(len(shape))
    offset = len(shape) - len(axes)
    for i, n in enumerate(shape):
        ax = axes[i - offset] if i >= offset else {"label": "ID", "sw": 1.0, "obs": 1.0,
                                                   "car": 0.0}
        udic[i].update(size=n, sw=ax["sw"], obs=ax["obs"], car=ax["car"], label=ax["label"],
                       complex=complex_, time=time, freq=not time,
                       encoding="direct" if i == len(shape) - 1 else "states")
    return udic


def gaussian_spectrum(shape=(128, 256), truth=TRUTH, noise=1.0, seed=0):
    """Sum of 2D Gaussians (FWHH in points) plus Gaussian noise of ``noise``."""
    rng = np.random.default_rng(seed)
    y = np.arange(shape[0])[:, None]
    x = np.arange(shape[1])[None, :]
    data = rng.normal(0.0, noise, shape)
    k = 4.0 * np.log(2.0)
    for cy, cx, amp, wy, wx in truth:
        data += amp * noise * np.exp(-k * ((y - cy) / wy) ** 2 - k * ((x - cx) / wx) ** 2)
    return data.astype(np.float32)


def write_pipe(path, data, **kw):
    dic = ng.pipe.create_dic(make_udic(data.shape, **kw))
    if data.ndim == 3:
        dic["FDPIPEFLAG"] = 1.0           # one-file stream, as xyz2pipe writes it
    ng.pipe.write(str(path), dic, data, overwrite=True)
    return path


def write_ucsf(path, data):
    ng.sparky.write(str(path), ng.sparky.create_dic(make_udic(data.shape)), data, overwrite=True)
    return path


def _procs(size, ax, offset_ppm):
    return {"SI": size, "XDIM": size, "SW_p": ax["sw"], "SF": ax["obs"], "OFFSET": offset_ppm,
            "BYTORDP": 0, "DTYPP": 0, "NC_proc": 0, "AXNUC": ax["label"], "MC2": 3,
            "FT_mod": 6, "PPARMOD": 1, "_comments": [],
            "_coreheader": ["##TITLE= Parameter file", "##JCAMPDX= 5.0"]}


def write_bruker(expdir, data, axes=AXES):
    """Write ``<expdir>/pdata/1/{2rr,procs,proc2s}`` with nmrglue; return the pdata folder."""
    os.makedirs(expdir, exist_ok=True)
    offsets = [ax["car"] / ax["obs"] + ax["sw"] / ax["obs"] / 2.0 for ax in axes]
    if data.ndim == 1:
        dic = {"procs": _procs(data.shape[0], axes[-1], offsets[-1])}
    else:
        dic = {"procs": _procs(data.shape[1], axes[1], offsets[1]),
               "proc2s": _procs(data.shape[0], axes[0], offsets[0])}
    ng.bruker.write_pdata(str(expdir), dic, data, write_procs=True, pdata_folder=1,
                          overwrite=True)
    return Path(expdir) / "pdata" / "1"


def npy_axes(shape, axes=AXES):
    """Sidecar ``axes`` list for the test axes (reference: the first point)."""
    out = []
    for n, ax in zip(shape, axes):
        uc = ng.fileiobase.unit_conversion(n, False, ax["sw"], ax["obs"], ax["car"])
        out.append({"label": ax["label"], "sw_hz": ax["sw"], "obs_mhz": ax["obs"],
                    "ref_point": 1, "ref_ppm": float(uc.ppm(0))})
    return out


def write_npy(path, data, axes=None):
    np.save(path, data)
    side = Path(path).with_suffix(".json")
    side.write_text(json.dumps({"axes": axes or npy_axes(data.shape[-2:])}))
    return Path(path)


@pytest.fixture
def spectrum_data():
    """(data, truth) of the standard 128 x 256 test spectrum."""
    return gaussian_spectrum(), TRUTH


@pytest.fixture
def pipe_2d(tmp_path, spectrum_data):
    """An NMRPipe 2D file of the standard test spectrum and its true peaks."""
    data, truth = spectrum_data
    return write_pipe(tmp_path / "test.ft2", data), truth


@pytest.fixture
def ucsf_2d(tmp_path, spectrum_data):
    data, truth = spectrum_data
    return write_ucsf(tmp_path / "test.ucsf", data), truth


@pytest.fixture
def bruker_2d(tmp_path, spectrum_data):
    data, truth = spectrum_data
    return write_bruker(tmp_path / "expt" / "5", data), truth


@pytest.fixture
def small_pipe(tmp_path):
    """A small (32 x 64) NMRPipe file with one peak, for quick CLI checks."""
    truth = np.array([(12.2, 30.6, 80.0, 3.0, 3.0)])
    return write_pipe(tmp_path / "small.ft2", gaussian_spectrum((32, 64), truth, seed=1))


#: The weights that ship in the package (``nmrpick_ml.load_model()`` loads them).
SHIPPED_WEIGHTS = resources.files("nmrpick_ml").joinpath("weights", "maskrcnn.pt")


@pytest.fixture(scope="session")
def shipped_model():
    """The shipped Mask R-CNN, ``nmrpick_ml.load_model()``, loaded once per session."""
    if not SHIPPED_WEIGHTS.is_file():
        pytest.skip("shipped weights not present yet")   # the only skip: remove when they ship
    import nmrpick_ml
    return nmrpick_ml.load_model()


@pytest.fixture
def realdata():
    """The shared real-spectra folder (tests skip when it is absent)."""
    if not REALDATA.is_dir():
        pytest.skip(f"shared real data not found at {REALDATA}")
    return REALDATA


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs to fill up (needs root to mount; skipped elsewhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], capture_output=True, timeout=30)


def console_script():
    """Path of the installed ``nmrpick-ml`` script (skip when not installed)."""
    cand = Path(sys.executable).parent / "nmrpick-ml"
    path = str(cand) if cand.is_file() else shutil.which("nmrpick-ml")
    if not path:
        pytest.skip("nmrpick-ml is not installed (pip install -e '.[test]')")
    return path


def unprivileged_prefix(probe_path, write=False):
    """Command prefix under which file permissions apply to this process.

    Not root: no prefix. Root: ``setpriv`` drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding set, so that root gets the same
    EACCES as any user on a ``chmod 000`` file or in a ``chmod 555`` folder.
    ``probe_path`` (made unreadable, or with ``write`` an unwritable folder, by
    the caller) checks that it works; the test skips with the reason otherwise.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root and setpriv is missing: cannot drop the permission override")
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    target = os.path.join(str(probe_path), "probe") if write else str(probe_path)
    code = f"open({target!r}, {'w' if write else 'r'!r}).close()"
    probe = subprocess.run(prefix + [sys.executable, "-c", code], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("running as root and setpriv could not drop the permission override")
    return prefix
