"""The POKY and CCPN macros, run end to end against strict host doubles.

The doubles (tests/hosts/) implement only the API in shared/hosts.md and are
backed by real .ucsf / NMRPipe files with 7 known peaks.  Tests marked
``needs_cli`` run the real ``nmrpick-ml`` command; the others use a small fake
executable (a Python script) to check arguments, environment, error lines and
time-outs quickly.  Nothing here imports torch or nmrpick_ml.
"""

import ast
import importlib.util
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from hosts import ccpn_double, poky_double, spectra  # noqa: E402

ROOT = os.path.dirname(TESTS)
POKY_MACRO = os.path.join(ROOT, "plugins", "poky", "nmrpick_poky.py")
CCPN_MACRO = os.path.join(ROOT, "plugins", "ccpn", "nmrpick_ccpn.py")
POKY_SITE_LINE = "('ML', 'nmrpick-ml peak picker', ('nmrpick_poky', 'pick_peaks_ml')),"

needs_cli = pytest.mark.skipif(shutil.which("nmrpick-ml") is None,
                               reason="nmrpick-ml command not on PATH")

TOL = (0.2, 0.02)                  # ppm (15N, 1H)
POKY_OFFSET = (0.8, -0.15)         # scale_offset (w1 = 15N, w2 = 1H)
CCPN_REREF = (0.25, -1.3)          # ppm added by CCPN per dimension (1 = 1H, 2 = 15N)


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ucsf(tmp_path_factory):
    return spectra.write_hsqc(tmp_path_factory.mktemp("ucsf") / "hsqc.ucsf", "ucsf")


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return spectra.write_hsqc(tmp_path_factory.mktemp("pipe") / "hsqc.ft2", "pipe")


@pytest.fixture
def poky_macro():
    """The POKY module imported as POKY imports it (poky_site.py)."""
    spec = importlib.util.spec_from_file_location("nmrpick_poky", POKY_MACRO)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _clean_undo_state():
    ccpn_double.reset()
    yield
    ccpn_double.reset()


def run_ccpn(ns, *args):
    """``%run -i nmrpick_ccpn.py ARGS`` in the console namespace ``ns``."""
    saved = sys.argv
    sys.argv = [CCPN_MACRO] + list(args)
    try:
        return runpy.run_path(CCPN_MACRO, init_globals=ns, run_name="__main__")
    finally:
        sys.argv = saved


def assert_on_known(found, expected, tol=TOL):
    """Each expected (15N, 1H) has exactly one found peak within tol, and no extra."""
    assert len(found) == len(expected), (found, expected)
    for e in expected:
        near = [f for f in found if abs(f[0] - e[0]) <= tol[0] and abs(f[1] - e[1]) <= tol[1]]
        assert len(near) == 1, ("no placed peak near", e, found)


def ccpn_expected(hsqc, points=None):
    """True peaks as CCPN ppm (15N, 1H) from the project's re-referencing alone."""
    ax_n, ax_h = hsqc.axes
    out = []
    for i, j in points or hsqc.points:
        out.append((ax_n["first_ppm"] + CCPN_REREF[1] - i * ax_n["ppm_per_point"],
                    ax_h["first_ppm"] + CCPN_REREF[0] - j * ax_h["ppm_per_point"]))
    return out


def corrupt(path, tmp_path):
    """A copy of ``path`` cut to its first 300 bytes."""
    bad = tmp_path / ("bad" + os.path.splitext(path)[1])
    with open(path, "rb") as f:
        bad.write_bytes(f.read(300))
    return str(bad)


FAKE = """#!{python}
import json, os, sys, time
cfg = json.load(open(os.path.abspath(__file__) + ".json"))
argv = sys.argv[1:]
rec = {{"argv": argv, "env": sorted(k for k in ("PYTHONPATH", "PYTHONHOME") if k in os.environ)}}
side = os.path.splitext(argv[0])[0] + ".json"
if os.path.exists(side):
    rec["sidecar"] = json.load(open(side))
json.dump(rec, open(cfg["record"], "w"))
time.sleep(cfg.get("sleep", 0))
sys.stderr.write(cfg.get("stderr", ""))
if cfg.get("tab") is not None:
    open(argv[argv.index("-o") + 1], "w").write(cfg["tab"])
sys.exit(cfg.get("exit", 0))
"""


def fake_exe(tmp_path, tab=None, exit=0, stderr="", sleep=0):
    """A stand-in nmrpick-ml; returns (path, read_record)."""
    exe = tmp_path / "fake-nmrpick-ml"
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(0o755)
    record = tmp_path / "record.json"
    (tmp_path / "fake-nmrpick-ml.json").write_text(json.dumps(
        dict(record=str(record), tab=tab, exit=exit, stderr=stderr, sleep=sleep)))
    return str(exe), lambda: json.loads(record.read_text())


def tab_text(rows):
    """An NMRPipe .tab of rows (dicts with the VARS below)."""
    names = ["INDEX", "X_AXIS", "Y_AXIS", "X_PPM", "Y_PPM", "XW", "YW", "HEIGHT", "VOL",
             "SCORE", "ASS"]
    lines = ["VARS   " + " ".join(names),
             "FORMAT %5d %9.3f %9.3f %8.3f %8.3f %7.3f %7.3f %+e %+e %5.3f %s", ""]
    for k, r in enumerate(rows, 1):
        lines.append("%5d %9.3f %9.3f %8.3f %8.3f %7.3f %7.3f %+e %+e %5.3f %s" % (
            k, r["x"], r["y"], r["x_ppm"], r["y_ppm"], 4.0, 3.0, 1e6, 2e7, r.get("score", 0.97),
            "None"))
    return "\n".join(lines) + "\n"


def known_rows(hsqc):
    """Rows a perfect picker would write for ``hsqc`` (1-based points, file ppm)."""
    return [dict(x=j + 1.0, y=i + 1.0, x_ppm=h, y_ppm=n)
            for (i, j), (n, h) in zip(hsqc.points, hsqc.file_ppm())]


# ---------------------------------------------------------------------------
# Both macros: no torch, no nmrpick_ml (and no numpy in POKY)
# ---------------------------------------------------------------------------

ISOLATED = r"""
import runpy, sys
blocked = set(sys.argv[1].split(","))

class Blocker(object):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError("blocked for this test: " + name)
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[3])
macro = sys.argv[4]
if sys.argv[2] == "poky":
    import __main__
    from hosts import poky_double
    session = poky_double.Session()               # nothing selected; dialog cancelled
    __main__.main_session = session
    code = compile(open(macro).read(), macro, "exec")
    exec(code, {"__name__": "__main__", "__file__": macro})   # Notepad: Run Python Module
    assert [d[0] for d in session.dialogs] == ["select"], session.dialogs
    assert session.messages == [], session.messages
    mod = runpy.run_path(macro, run_name="nmrpick_poky")   # import from poky_site.py
    assert callable(mod["pick_peaks_ml"]) and callable(mod["register"])
else:
    from hosts import ccpn_double
    ns, log = ccpn_double.console("3.2")          # no current strip or spectrum
    sys.argv = [macro]
    runpy.run_path(macro, init_globals=ns, run_name="__main__")
    assert len(log.popups) == 1 and "No current strip" in log.popups[0][1], log.popups
bad = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
assert not bad, bad
print("isolated ok")
"""


@pytest.mark.parametrize("host, macro, blocked, syntax", [
    ("poky", POKY_MACRO, "torch,nmrpick_ml,numpy,nmrglue", (3, 4)),
    ("ccpn", CCPN_MACRO, "torch,nmrpick_ml", (3, 5)),
])
def test_macro_top_level_runs_without_torch_or_nmrpick_ml(host, macro, blocked, syntax):
    proc = subprocess.run([sys.executable, "-I", "-c", ISOLATED, blocked, host, TESTS, macro],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "isolated ok" in proc.stdout
    # old hosts: POKY may be Python 2.7-era code, CCPN 3.0 ships Python 3.5
    tree = ast.parse(open(macro).read(), feature_version=syntax)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)], "f-string"
    if host == "poky":
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.Nonlocal, ast.AsyncFunctionDef, ast.YieldFrom))
            if isinstance(node, ast.FunctionDef):
                assert not node.args.kwonlyargs and node.returns is None, node.name


def test_doubles_refuse_what_hosts_md_does_not_list(ucsf):
    sp = poky_double.Spectrum(ucsf.path)
    session = poky_double.Session([sp], selected=sp)
    with pytest.raises(AttributeError):
        sp.delete_peak                                   # no such call in POKY's API
    with pytest.raises(TypeError):
        session.show_message(title="t", message="m")     # C++ bindings: positional only
    with pytest.raises(AttributeError):
        sp.place_peak((118.0, 8.0)).position = (1.0, 2.0)
    with pytest.raises(ValueError):
        sp.place_peak((500.0, 8.0))                      # outside region
    sp30 = ccpn_double.make_spectrum("3.0", ucsf)
    sp32 = ccpn_double.make_spectrum("3.2", ucsf)
    for missing in ("point2ppm", "dataFormat", "peakPicker"):
        assert not hasattr(sp30, missing)
    with pytest.raises(TypeError):
        sp30.newPeakList(title="x").newPeak(ppmPositions=(8.0, 118.0), volume=1.0)
    with pytest.raises(TypeError):
        sp32.point2ppm(10, 1)                            # dimension is a keyword
    with pytest.raises(ValueError):
        sp32.newPeakList(title="x").newPeak(ppmPositions=(8.0, 118.0), pointLineWidths=(1.0,))
    with pytest.raises(AttributeError):
        sp32.referenceValues = (0.0, 0.0)


# ---------------------------------------------------------------------------
# POKY
# ---------------------------------------------------------------------------

@needs_cli
def test_poky_places_peaks_on_known_peaks_in_displayed_ppm(poky_macro, ucsf):
    sp = poky_double.Spectrum(ucsf.path, scale_offset=POKY_OFFSET)
    old = sp.place_peak((118.0, 8.0))
    old.note = "nmrpick-ml score=0.50"
    manual = sp.place_peak((110.0, 9.0))
    session = poky_double.Session([sp], selected=sp, answers={"select them": True})
    poky_macro.pick_peaks_ml(session)

    new = [p for p in sp.peak_list() if p not in (old, manual)]
    expected = [(n + POKY_OFFSET[0], h + POKY_OFFSET[1]) for n, h in ucsf.file_ppm()]
    assert_on_known([p.position for p in new], expected)
    assert all(re.match(r"nmrpick-ml( score=[01]\.\d\d)?$", p.note) for p in new)
    assert old.selected and not manual.selected and not any(p.selected for p in new)
    assert manual.note == ""
    (title, msg), = session.messages
    assert "placed 7 peaks" in msg and "earlier nmrpick-ml peaks are selected" in msg


@needs_cli
def test_poky_failed_run_on_corrupt_file_places_nothing(poky_macro, ucsf, tmp_path):
    sp = poky_double.Spectrum(str(shutil.copy(ucsf.path, tmp_path / "x.ucsf")))
    with open(sp.data_path, "r+b") as f:       # truncated after POKY opened it
        f.truncate(2000)
    session = poky_double.Session([sp], selected=sp)
    poky_macro.pick_peaks_ml(session)
    assert sp.peak_list() == []
    (title, msg), = session.messages
    assert msg.startswith("Error") and "\n" not in msg


def test_poky_fake_executable_path_places_nothing(poky_macro, ucsf, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # no nmrpick-ml on PATH
    monkeypatch.delenv("NMRPICK_ML", raising=False)
    sp = poky_double.Spectrum(ucsf.path)
    session = poky_double.Session([sp], selected=sp, saved={"nmrpick_ml_path": "/gone/nmrpick-ml"},
                                  answers={"full path": "/no/such/bin/nmrpick-ml"})
    poky_macro.pick_peaks_ml(session)
    assert sp.peak_list() == []
    (title, msg), = session.messages
    assert "Not an executable file: /no/such/bin/nmrpick-ml" in msg
    assert session.project.saved_value("nmrpick_ml_path") == "/gone/nmrpick-ml"


def test_poky_arguments_clean_env_and_error_line(poky_macro, ucsf, tmp_path, monkeypatch):
    exe, record = fake_exe(tmp_path, exit=2,
                           stderr="some progress\nError: cannot read spectrum x\n")
    monkeypatch.setenv("PYTHONPATH", "/opt/poky/lib")
    monkeypatch.setenv("PYTHONHOME", "/opt/poky")
    sp = poky_double.Spectrum(ucsf.path)
    session = poky_double.Session([sp], selected=sp, saved={"nmrpick_ml_path": exe},
                                  answers={"multiple of the noise": "12", "score": "0.5",
                                           "negative": True})
    poky_macro.pick_peaks_ml(session)
    rec = record()
    assert rec["argv"][0] == ucsf.path
    argv = " ".join(rec["argv"])
    assert "--format tab" in argv and "--snr 12.0" in argv and "--negative" in argv
    assert "--score-threshold 0.5" in argv and rec["argv"][rec["argv"].index("-o") + 1].endswith(".tab")
    assert rec["env"] == []
    assert session.messages == [("nmrpick-ml", "Error: cannot read spectrum x")]
    assert sp.peak_list() == []
    assert session.project.saved_value("nmrpick_ml_snr") == "12.0"


def test_poky_timeout_places_nothing(poky_macro, ucsf, tmp_path):
    exe, _ = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)), sleep=30)
    sp = poky_double.Spectrum(ucsf.path)
    session = poky_double.Session([sp], selected=sp, saved={"nmrpick_ml_path": exe,
                                                            "nmrpick_ml_timeout": "0.5"})
    t0 = time.time()
    poky_macro.pick_peaks_ml(session)
    assert time.time() - t0 < 10
    assert sp.peak_list() == []
    (title, msg), = session.messages
    assert "did not finish within 0.5 s" in msg


def test_poky_asks_for_spectrum_and_skips_outside_region(poky_macro, ucsf, tmp_path):
    rows = known_rows(ucsf) + [dict(x=5, y=5, x_ppm=40.0, y_ppm=300.0, score=0.4)]
    exe, _ = fake_exe(tmp_path, tab=tab_text(rows))
    other = poky_double.Spectrum(ucsf.path, name="other")
    sp = poky_double.Spectrum(ucsf.path, scale_offset=POKY_OFFSET)
    session = poky_double.Session([other, sp], selected=None, saved={"nmrpick_ml_path": exe},
                                  answers={"select a 2d spectrum": "hsqc"})
    poky_macro.pick_peaks_ml(session)
    assert other.peak_list() == []
    expected = [(n + POKY_OFFSET[0], h + POKY_OFFSET[1]) for n, h in ucsf.file_ppm()]
    assert_on_known([p.position for p in sp.peak_list()], expected, tol=(1e-3, 1e-3))
    assert {p.note for p in sp.peak_list()} == {"nmrpick-ml score=0.97"}
    (title, msg), = session.messages
    assert "placed 7 peaks" in msg and "1 position outside" in msg


def test_poky_picks_the_displayed_region_and_reports_progress(poky_macro, ucsf, tmp_path):
    exe, record = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)), sleep=0.4)
    poky_macro.PROGRESS_S = 0.05
    sp = poky_double.Spectrum(ucsf.path, scale_offset=POKY_OFFSET)
    # the view shows 112..126 ppm 15N x 7.5..9.0 ppm 1H (displayed ppm, offset included)
    view = poky_double.View(sp, ((112.0, 7.5), (126.0, 9.0)))
    session = poky_double.Session([sp], selected=sp, view=view,
                                  saved={"nmrpick_ml_path": exe})
    poky_macro.pick_peaks_ml(session)
    argv = record()["argv"]
    region = argv[argv.index("--region") + 1]
    x, y = re.fullmatch(r"X=(.+),Y=(.+)", region).groups()
    assert [float(v) for v in x.split(":")] == pytest.approx([7.5 - POKY_OFFSET[1],
                                                              9.0 - POKY_OFFSET[1]])
    assert [float(v) for v in y.split(":")] == pytest.approx([112.0 - POKY_OFFSET[0],
                                                              126.0 - POKY_OFFSET[0]])
    # the status line: started, progress while it ran, then the result
    assert session.status[0].startswith("nmrpick-ml: picking hsqc ... 0 s")
    assert len([m for m in session.status if "picking hsqc" in m]) >= 3
    assert session.status[-1].startswith("nmrpick-ml placed")
    (title, msg), = session.messages
    assert "displayed region" in msg and "noise was measured on the whole spectrum" in msg


@needs_cli
def test_poky_view_region_with_the_real_command(poky_macro, ucsf):
    sp = poky_double.Spectrum(ucsf.path, scale_offset=POKY_OFFSET)
    # displayed 15N 110..124, 1H 7..10 (offset included): 3 of the 7 peaks are inside
    low, high = (110.0, 7.0), (124.0, 10.0)
    session = poky_double.Session([sp], selected=sp, view=poky_double.View(sp, (low, high)))
    poky_macro.pick_peaks_ml(session)
    expected = [(n + POKY_OFFSET[0], h + POKY_OFFSET[1]) for n, h in ucsf.file_ppm()]
    inside = [p for p in expected if low[0] <= p[0] <= high[0] and low[1] <= p[1] <= high[1]]
    assert len(inside) == 3
    assert_on_known([p.position for p in sp.peak_list()], inside)


def test_poky_without_a_view_picks_the_whole_spectrum(poky_macro, ucsf, tmp_path):
    exe, record = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)))
    sp = poky_double.Spectrum(ucsf.path)
    other = poky_double.Spectrum(ucsf.path, name="other")
    view = poky_double.View(other, ((112.0, 7.5), (126.0, 9.0)))     # a view of another one
    session = poky_double.Session([sp, other], selected=sp, view=view,
                                  saved={"nmrpick_ml_path": exe})
    poky_macro.pick_peaks_ml(session)
    assert "--region" not in record()["argv"]
    assert len(sp.peak_list()) == 7


def test_poky_pzst_gets_a_clear_message(poky_macro, tmp_path):
    sp = poky_double.Spectrum(str(tmp_path / "hsqc.pzst"))
    session = poky_double.Session([sp], selected=sp)
    poky_macro.pick_peaks_ml(session)
    (title, msg), = session.messages
    assert ".pzst" in msg and ".ucsf" in msg
    assert session.dialogs == []


def test_poky_registration_line_is_documented(poky_macro):
    session = poky_double.Session()
    poky_macro.register(session)
    assert [c[:2] for c in session.commands] == [("ML", "nmrpick-ml peak picker")]
    assert POKY_SITE_LINE in poky_macro.__doc__
    for doc in ("plugins/poky/README.md", "README.md"):
        assert POKY_SITE_LINE in open(os.path.join(ROOT, doc)).read(), doc


# ---------------------------------------------------------------------------
# CCPN Analysis
# ---------------------------------------------------------------------------

def _check_peak_list(spectrum, hsqc, with_widths):
    pl, = ccpn_double.peak_lists(spectrum)
    assert pl.title == "nmrpick-ml"
    made = ccpn_double.peaks(pl)
    # ppmPositions are in CCPN dimension order (1H, 15N)
    assert_on_known([(p.ppmPositions[1], p.ppmPositions[0]) for p in made], ccpn_expected(hsqc))
    # one undo block, opened once, holding the peak list and every peak
    assert ccpn_double.undo_blocks_opened() == 1
    assert pl._undo_block == 1 and {p._undo_block for p in made} == {1}
    for p in made:
        amp = p.height / spectrum.scale / spectra.AMPLITUDE
        assert 0.6 < amp < 1.1, p.height
        if with_widths:
            assert len(p.pointLineWidths) == 2 and p.volume > 0
    return made


@needs_cli
def test_ccpn_32_picks_nmrpipe_file_with_project_referencing(pipe):
    sp = ccpn_double.make_spectrum("3.2", pipe, reref=CCPN_REREF, scale=2.0)
    ns, log = ccpn_double.console("3.2", sp)
    run_ccpn(ns)
    assert log.popups == [] and log.warnings == []
    _check_peak_list(sp, pipe, with_widths=True)
    assert "7 peaks" in log.infos[-1]


@needs_cli
def test_ccpn_30_sends_plane_and_converts_with_spectrum_references(ucsf):
    sp = ccpn_double.make_spectrum("3.0", ucsf, reref=CCPN_REREF)
    ns, log = ccpn_double.console("3.0", sp)
    assert "undoBlock" not in ns
    run_ccpn(ns)
    assert log.popups == []
    _check_peak_list(sp, ucsf, with_widths=False)


@needs_cli
def test_ccpn_registered_picker_finds_peaks_in_a_region(ucsf):
    sp = ccpn_double.make_spectrum("3.2", ucsf, reref=CCPN_REREF)
    ns, log = ccpn_double.console("3.2", sp)
    g = run_ccpn(ns, "--register")
    cls = g["NmrpickMLPicker"]
    assert cls.peakPickerType == "nmrpick-ml" and isinstance(sp.peakPicker, cls)
    from ccpn.core.lib.PeakPickers.PeakPickerABC import PeakPickerABC
    assert PeakPickerABC._peakPickers["nmrpick-ml"] is cls
    assert ccpn_double.peak_lists(sp) == []        # registering picks nothing

    # CCPN picks a region 1H points 41..300 (all peaks inside) through the plug-in
    ref = ccpn_expected(ucsf, [(0, 40), (0, 299)])
    pl = sp.newPeakList(title="drag")
    made = sp.pickPeaks(peakList=pl, positiveThreshold=1.0e5, H=(ref[1][1], ref[0][1]))
    assert log.popups == []
    assert_on_known([(p.ppmPositions[1], p.ppmPositions[0]) for p in made], ccpn_expected(ucsf))
    assert all(len(p.pointLineWidths) == 2 for p in made)


@needs_cli
def test_ccpn_failed_run_creates_nothing(pipe, tmp_path):
    sp = ccpn_double.make_spectrum("3.2", pipe, path=corrupt(pipe.path, tmp_path))
    ns, log = ccpn_double.console("3.2", sp)
    run_ccpn(ns)
    assert ccpn_double.peak_lists(sp) == [] and ccpn_double.undo_blocks_opened() == 0
    (title, msg), = log.popups
    assert msg.startswith("Error") and "\n" not in msg


def test_ccpn_plane_axes_arguments_and_clean_env(ucsf, tmp_path, monkeypatch):
    exe, record = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)))
    monkeypatch.setenv("PYTHONPATH", "/opt/ccpn/src/python")
    monkeypatch.setenv("PYTHONHOME", "/opt/ccpn/miniconda")
    sp = ccpn_double.make_spectrum("3.1", ucsf, reref=CCPN_REREF)
    ns, log = ccpn_double.console("3.1", sp)
    ns["NMRPICK_ML_EXE"] = exe
    run_ccpn(ns, "--source", "plane", "--snr", "9", "--negative", "--score-threshold", "0.3")
    rec = record()
    assert rec["env"] == [] and rec["argv"][0].endswith(".npy")
    argv = " ".join(rec["argv"])
    assert "--format tab" in argv and "--snr 9.0" in argv and "--negative" in argv
    assert "--score-threshold 0.3" in argv
    n_axis, h_axis = rec["sidecar"]["axes"]                  # numpy axis order
    assert (n_axis["label"], h_axis["label"]) == ("15N", "1H")
    assert h_axis["ref_point"] == 1.0 and h_axis["ref_ppm"] == pytest.approx(sp.referenceValues[0])
    assert n_axis["sw_hz"] == pytest.approx(32.0 * 60.8) and h_axis["obs_mhz"] == 600.0
    _check_peak_list(sp, ucsf, with_widths=True)


def test_ccpn_drag_sends_the_whole_plane_and_the_region(ucsf, tmp_path):
    exe, record = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)))
    sp = ccpn_double.make_spectrum("3.2", ucsf, reref=CCPN_REREF)
    ns, log = ccpn_double.console("3.2", sp)
    ns["NMRPICK_ML_EXE"] = exe
    run_ccpn(ns, "--register")
    # a drag over 1H points 41..300 and 15N points 5..20 (1-based, CCPN dimensions 1, 2)
    h = [sp.point2ppm(p, dimension=1) for p in (41, 300)]
    n = [sp.point2ppm(p, dimension=2) for p in (5, 20)]
    made = sp.pickPeaks(peakList=sp.newPeakList(title="drag"), positiveThreshold=1.0,
                        H=(min(h), max(h)), N=(min(n), max(n)))
    rec = record()
    n_axis, h_axis = rec["sidecar"]["axes"]
    assert (h_axis["sw_hz"], n_axis["sw_hz"]) == pytest.approx(sp.spectralWidthsHz)  # whole plane
    assert h_axis["ref_point"] == n_axis["ref_point"] == 1.0
    region = rec["argv"][rec["argv"].index("--region") + 1]
    x, y = re.fullmatch(r"X=(.+),Y=(.+)", region).groups()
    assert sorted(float(v) for v in x.split(":")) == pytest.approx(
        sorted(sp.point2ppm(p, dimension=1) for p in (40.5, 300.5)), abs=1e-5)
    assert sorted(float(v) for v in y.split(":")) == pytest.approx(
        sorted(sp.point2ppm(p, dimension=2) for p in (4.5, 20.5)), abs=1e-5)
    # the table's whole-plane points come back at the right ppm
    assert_on_known([(p.ppmPositions[1], p.ppmPositions[0]) for p in made],
                    ccpn_expected(ucsf), tol=(1e-3, 1e-3))


def test_ccpn_missing_executable_timeout_and_crash_create_nothing(ucsf, tmp_path):
    sp = ccpn_double.make_spectrum("3.2", ucsf)
    ns, log = ccpn_double.console("3.2", sp)
    run_ccpn(ns, "--exe", "/no/such/nmrpick-ml")
    exe, _ = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)), sleep=30)
    t0 = time.time()
    run_ccpn(ns, "--exe", exe, "--timeout", "0.5")
    assert time.time() - t0 < 10
    (tmp_path / "crash").mkdir()
    crash, _ = fake_exe(tmp_path / "crash", exit=1,
                        stderr="Traceback (most recent call last):\nKeyError: 'w1'\n")
    run_ccpn(ns, "--exe", crash)
    assert ccpn_double.peak_lists(sp) == [] and ccpn_double.undo_blocks_opened() == 0
    msgs = [m for _, m in log.popups]
    assert msgs[0].startswith("nmrpick-ml not found: /no/such/nmrpick-ml")
    assert "did not finish within 0.5 s" in msgs[1]
    assert msgs[2] == "nmrpick-ml failed (exit code 1): KeyError: 'w1'"


def test_ccpn_refusals(ucsf, tmp_path):
    exe, _ = fake_exe(tmp_path, tab=tab_text(known_rows(ucsf)))
    sp30 = ccpn_double.make_spectrum("3.0", ucsf)
    ns, log = ccpn_double.console("3.0", sp30)
    run_ccpn(ns, "--exe", exe, "--register")                 # plug-in point is 3.1+
    sp3d = ccpn_double.make_spectrum("3.2", ucsf, dims=3)
    ns3, log3 = ccpn_double.console("3.2", sp3d)
    run_ccpn(ns3, "--exe", exe)
    run_ccpn(ns3, "--exe", exe, "--bogus")
    assert "needs CCPN Analysis 3.1" in log.popups[0][1]
    assert "2D spectra only" in log3.popups[0][1] and "--bogus" in log3.popups[1][1]
    assert ccpn_double.peak_lists(sp30) == ccpn_double.peak_lists(sp3d) == []


def test_readme_section_documents_both_hosts():
    text = open(os.path.join(ROOT, "README.md")).read()
    head = "## Using nmrpick-ml inside POKY and CCPN Analysis"
    section = text[text.index(head):]
    for needle in (POKY_SITE_LINE, "%run -i nmrpick_ccpn.py", "NMRPICK_ML_EXE", "--register"):
        assert needle in section, needle
