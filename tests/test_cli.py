"""The nmrpick-ml command: default pick routing, help, outputs and every bad input.

Most runs use click's CliRunner on ``main``; one runs the installed console
script, and the permission cases run ``python -m nmrpick_ml.cli`` in a
subprocess where file permissions really apply (see ``unprivileged_prefix``).
"""

import json
import os
import subprocess
import sys

import numpy as np
import nmrglue as ng
import pytest
from click.testing import CliRunner

from conftest import (AXES, console_script, gaussian_spectrum, make_udic, npy_axes,
                      unprivileged_prefix, write_bruker, write_npy, write_pipe, write_ucsf)
from nmrpick_ml.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_bad_input(result, match, *outputs):
    """Exit 2, exactly one `Error: ...` line on stderr, no traceback, no output file."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    for out in outputs:
        assert not os.path.exists(out), out
        folder = os.path.dirname(out) or "."
        if os.path.isdir(folder):
            assert not [n for n in os.listdir(folder) if n.endswith(".part")]


# --------------------------------------------------------------------------- #
# the installed console script
# --------------------------------------------------------------------------- #

def test_console_script_picks_and_nmrglue_reads_table(pipe_2d, tmp_path):
    path, truth = pipe_2d
    out = tmp_path / "peaks.tab"
    proc = subprocess.run([console_script(), str(path), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = proc.stderr.strip().splitlines()
    assert len(summary) == 1 and " peaks, noise " in summary[0] and "threshold" in summary[0]
    _, _, tab = ng.pipe.read_table(str(out))
    for cy, cx, amp, _, _ in truth:
        if amp >= 20:      # every true peak above 20 sigma, within 1 point (1-based table)
            d = np.maximum(np.abs(tab["Y_AXIS"] - 1 - cy), np.abs(tab["X_AXIS"] - 1 - cx))
            assert d.min() <= 1.0, (cy, cx)


def test_help_and_pick_path_never_import_torch(small_pipe, tmp_path):
    code = ("import sys\n"
            "from nmrpick_ml.cli import main\n"
            "assert 'nmrglue' not in sys.modules and 'numpy' not in sys.modules\n"
            f"sys.argv = ['nmrpick-ml', {str(small_pipe)!r}, '-o', {str(tmp_path / 'p.tab')!r}, '-q']\n"
            "try:\n    main()\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr


# --------------------------------------------------------------------------- #
# help, version, routing
# --------------------------------------------------------------------------- #

def test_help_reads_like_a_man_page():
    r = run("--help")
    assert r.exit_code == 0
    for part in ("INPUT FORMATS", "OUTPUT FORMATS", "EXIT STATUS", "EXAMPLES", "NMRPipe",
                 "UCSF", "Bruker", ".npy", "X_AXIS", "CLUSTID", "SCORE", "--snr", "--plane",
                 "nmrpick-ml pick train", "pick"):
        assert part in r.output, part
    r = run("pick", "--help")
    assert r.exit_code == 0
    for opt in ("--output", "--format", "--method", "--snr", "--threshold", "--negative",
                "--score-threshold", "--plane", "--axes", "--model", "--tile", "--overlap",
                "--device", "--json-summary", "--jobs", "--quiet", "--verbose"):
        assert opt in r.output, opt
    r = run("--version")
    assert r.exit_code == 0 and r.output.startswith("nmrpick-ml ")


def test_choices_match_the_api():
    from nmrpick_ml import cli
    from nmrpick_ml.io import TABLE_FORMATS
    from nmrpick_ml.pick import METHODS
    assert cli._METHODS == METHODS
    assert set(cli._FORMATS) == set(TABLE_FORMATS.values())


def test_default_command_and_explicit_pick(small_pipe, tmp_path):
    r1 = run(small_pipe, "-o", tmp_path / "a.tab")
    r2 = run("pick", small_pipe, "-o", tmp_path / "b.tab")
    r3 = run("-q", small_pipe, "-o", tmp_path / "c.tab")
    assert r1.exit_code == r2.exit_code == r3.exit_code == 0, (r1.output, r2.output, r3.output)
    assert (tmp_path / "a.tab").read_text().split("NULLSTRING")[1] == \
        (tmp_path / "b.tab").read_text().split("NULLSTRING")[1]
    assert "1 peaks" in r1.stderr and r3.stderr == ""


# --------------------------------------------------------------------------- #
# outputs
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("fmt", ["tab", "list", "csv", "nef"])
def test_every_format(small_pipe, tmp_path, fmt):
    out = tmp_path / f"peaks.{fmt}"
    r = run(small_pipe, "-o", out)
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 0
    r = run(small_pipe, "-o", tmp_path / "forced.txt", "--format", fmt)
    assert r.exit_code == 0 and (tmp_path / "forced.txt").read_text() != ""


def test_options_json_summary_and_negative(tmp_path):
    truth = np.array([(10.0, 20.0, 60.0, 3.0, 3.0), (25.0, 45.0, -60.0, 3.0, 3.0)])
    spec = write_npy(tmp_path / "s.npy", gaussian_spectrum((40, 64), truth, seed=8))
    side = tmp_path / "axes.json"
    os.replace(tmp_path / "s.json", side)
    js = tmp_path / "run.json"
    r = run(spec, "--axes", side, "-o", tmp_path / "p.csv", "--negative", "--json-summary", js,
            "-v")
    assert r.exit_code == 0, r.output
    summary = json.loads(js.read_text())
    for key in ("n_peaks", "noise", "threshold", "time_s", "method", "model_version", "input",
                "output"):
        assert key in summary, key
    assert summary["n_peaks"] == 2 and summary["method"] == "nmrglue"
    assert summary["threshold"] == pytest.approx(8 * summary["noise"])
    assert "15N" in r.stderr                                      # -v: axes and ppm ranges
    r = run(spec, "--axes", side, "-o", tmp_path / "q.csv", "--threshold", 1e6, "-q")
    assert r.exit_code == 0 and (tmp_path / "q.csv").read_text().count("\n") == 1


def test_several_inputs_parallel(tmp_path, small_pipe):
    data = gaussian_spectrum((32, 64), np.array([(12.0, 30.0, 80.0, 3.0, 3.0)]), seed=9)
    bruker = write_bruker(tmp_path / "set" / "7", data)
    outdir = tmp_path / "tables"
    outdir.mkdir()
    js = tmp_path / "all.json"
    r = run(small_pipe, bruker, "-o", outdir, "-j", 2, "--format", "list", "--json-summary", js)
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(outdir)) == ["set_7_1.list", "small.list"]
    summary = json.loads(js.read_text())
    assert summary["n_files"] == 2 and summary["n_failed"] == 0
    # one bad input among good ones: the others are written, exit 2, one error line
    (tmp_path / "bad.ft2").write_text("garbage")
    r = run(small_pipe, tmp_path / "bad.ft2", "-o", str(outdir) + os.sep)
    assert r.exit_code == 2
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")] == \
        [f"Error: {tmp_path / 'bad.ft2'}: corrupt or not a NMRPipe file (its header is not "
         "NMRPipe's)"]
    assert not (outdir / "bad.tab").exists() and (outdir / "small.tab").exists()
    r = run(small_pipe, small_pipe, "-o", tmp_path / "one.tab")
    assert_bad_input(r, "several inputs need -o to be an existing folder")


def test_all_zero_spectrum_writes_empty_table(tmp_path):
    path = write_pipe(tmp_path / "zero.ft2", np.zeros((32, 64), np.float32))
    out = tmp_path / "zero.tab"
    r = run(path, "-o", out)
    assert r.exit_code == 0, r.output
    assert "Warning:" in r.stderr and "constant" in r.stderr and "0 peaks" in r.stderr
    with pytest.warns(UserWarning):              # numpy: no rows in the table
        _, _, tab = ng.pipe.read_table(str(out))
    assert tab.size == 0


# --------------------------------------------------------------------------- #
# bad input: exit 2, one line, nothing written
# --------------------------------------------------------------------------- #

def bad_files(tmp_path):
    """name -> (path, extra args, expected message part), one per bad-input case."""
    d = tmp_path
    plain = d / "plain"
    plain.mkdir()
    (d / "notes.txt").write_text("hello\n")
    (d / "corrupt.ft2").write_bytes(os.urandom(3000))
    full = write_pipe(d / "full.ft2", gaussian_spectrum((32, 64), np.zeros((0, 5)))).read_bytes()
    (d / "trunc.ft2").write_bytes(full[: len(full) - 1000])
    (d / "head.ft2").write_bytes(full[:1000])
    ucsf = write_ucsf(d / "full.ucsf", gaussian_spectrum((32, 64), np.zeros((0, 5)))).read_bytes()
    (d / "head.ucsf").write_bytes(ucsf[:300])          # inside the axis headers
    (d / "file_head.ucsf").write_bytes(ucsf[:100])     # inside the file header
    bshort = write_bruker(d / "bshort" / "1", gaussian_spectrum((32, 64), np.zeros((0, 5))))
    (bshort / "2rr").write_bytes((bshort / "2rr").read_bytes()[:1000])
    blong = write_bruker(d / "blong" / "1", gaussian_spectrum((32, 64), np.zeros((0, 5))))
    (blong / "2rr").write_bytes((blong / "2rr").read_bytes() + bytes(4096))
    one = d / "one.ft1"
    ng.pipe.write(str(one), ng.pipe.create_dic(make_udic((64,), AXES[1:])),
                  np.ones(64, np.float32))
    cube = write_pipe(d / "cube.ft3", np.ones((2, 16, 32), np.float32))
    nan = gaussian_spectrum((32, 64), np.zeros((0, 5)))
    nan[3, :12] = np.nan
    write_pipe(d / "nan.ft2", nan)
    fid = d / "test.fid"
    ng.pipe.write(str(fid), ng.pipe.create_dic(make_udic((16, 32), time=True, complex_=True)),
                  np.ones((16, 32), np.complex64))
    cplx = d / "cplx.ft2"
    ng.pipe.write(str(cplx), ng.pipe.create_dic(make_udic((16, 32), complex_=True)),
                  np.ones((16, 32), np.complex64))
    bfid = d / "bfid"
    bfid.mkdir()
    (bfid / "acqus").write_text("##END=\n")
    (bfid / "fid").write_bytes(bytes(128))
    np.save(d / "noside.npy", np.ones((8, 8), np.float32))
    return {
        "missing file": (d / "absent.ft2", [], "no such file or folder"),
        "folder not Bruker": (plain, [], "folder is not Bruker processed data"),
        "unknown file": (d / "notes.txt", [], "unknown file format"),
        "corrupt file": (d / "corrupt.ft2", [], "corrupt or not a NMRPipe file"),
        "truncated file": (d / "trunc.ft2", [], "corrupt or truncated NMRPipe file"),
        "NMRPipe shorter than header": (d / "head.ft2", [], "truncated NMRPipe file (1000 bytes, "
                                        "shorter than its 2048-byte header)"),
        "UCSF cut in axis header": (d / "head.ucsf", [], "truncated UCSF file (300 bytes, "
                                    "shorter than its 436-byte header"),
        "UCSF cut in file header": (d / "file_head.ucsf", [], "truncated UCSF file (100 bytes, "
                                    "shorter than its 180-byte file header)"),
        "Bruker 2rr too short": (bshort, [], "corrupt or truncated Bruker data (procs say shape "
                                 "(32, 64), read (250,) values)"),
        "Bruker 2rr too long": (blong, [], "corrupt or truncated Bruker data (procs say shape "
                                "(32, 64), read (3072,) values)"),
        "1-D data": (one, [], "1-D spectrum"),
        "3-D without plane": (cube, [], "choose a 2-D plane with plane= (--plane), 0..1"),
        "plane out of range": (cube, ["--plane", "2"], "plane 2 is out of range"),
        "NaN values": (d / "nan.ft2", [], "nan.ft2: `data` has 12 NaN/Inf values"),
        "time-domain pipe": (fid, [], "must be Fourier transformed and phased first"),
        "complex pipe": (cplx, [], "complex data (FDF1QUADFLAG=0"),
        "Bruker fid only": (bfid, [], "Bruker time-domain data (fid) without processed pdata"),
        "npy without axes": (d / "noside.npy", [], "needs a sidecar JSON"),
    }


CASES = ["missing file", "folder not Bruker", "unknown file", "corrupt file", "truncated file",
         "NMRPipe shorter than header", "UCSF cut in axis header", "UCSF cut in file header",
         "Bruker 2rr too short", "Bruker 2rr too long",
         "1-D data", "3-D without plane", "plane out of range", "NaN values", "time-domain pipe",
         "complex pipe", "Bruker fid only", "npy without axes"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input(tmp_path, case):
    path, extra, match = bad_files(tmp_path)[case]
    out = tmp_path / "out" / "peaks.tab"
    out.parent.mkdir()
    assert_bad_input(run(path, "-o", out, *extra), match, out)


def test_bad_output(tmp_path, small_pipe):
    out = tmp_path / "p.tab"
    assert_bad_input(run(small_pipe, "-o", tmp_path / "none" / "p.tab"), "does not exist",
                     tmp_path / "none" / "p.tab")
    assert_bad_input(run(small_pipe, "-o", str(tmp_path / "nodir") + os.sep),
                     "output folder does not exist")
    before = small_pipe.read_bytes()
    assert_bad_input(run(small_pipe, "-o", small_pipe, "--format", "tab"),
                     "output path is the input")
    assert small_pipe.read_bytes() == before
    assert_bad_input(run(small_pipe, "-o", tmp_path / "p.xyz"), "unknown output format '.xyz'",
                     tmp_path / "p.xyz")
    assert_bad_input(run(small_pipe, "-o", out, "--format", "xyz"), "Invalid value for '--format'",
                     out)
    assert_bad_input(run(small_pipe), "Missing option '-o'")
    assert_bad_input(run(small_pipe, "-o", out, "--snr", "-1"), "Invalid value for '--snr'", out)
    assert_bad_input(run("--no-such-option"), "No such option")
    assert_bad_input(run(small_pipe, "-o", out, "--model", str(small_pipe)),
                     "cannot be loaded", out)


def _run_unprivileged(prefix, *args):
    return subprocess.run(prefix + [sys.executable, "-m", "nmrpick_ml.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_unreadable_input(tmp_path, small_pipe):
    """A chmod 000 input: a real EACCES (root drops its override, see conftest)."""
    locked = tmp_path / "locked.ft2"
    locked.write_bytes(small_pipe.read_bytes())
    locked.chmod(0)
    out = tmp_path / "p.tab"
    try:
        prefix = unprivileged_prefix(locked)
        proc = _run_unprivileged(prefix, locked, "-o", out)
    finally:
        locked.chmod(0o644)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"Error: {locked}: permission denied (cannot "
                                                "read the file)"]
    assert not out.exists()


def test_read_only_output_folder(tmp_path, small_pipe):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        prefix = unprivileged_prefix(ro, write=True)
        proc = _run_unprivileged(prefix, small_pipe, "-o", ro / "p.tab")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write in output folder" in lines[0]
    assert "Permission denied" in lines[0]
