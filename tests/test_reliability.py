"""Issue 12: every hostile input and fault ends in one clear line, and nothing is lost.

One test per numbered case of the issue, each through the installed console
script (``nmrpick-ml`` in a subprocess) unless the case is an API one. The
spectra are small files written by nmrglue's own writers (conftest) whose
headers are then patched in place, as a damaged or hostile file would be.
"""

import hashlib
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import nmrglue as ng
import pytest

from conftest import (console_script, gaussian_spectrum, npy_axes, write_bruker, write_npy,
                      write_pipe, write_ucsf)

REPO = Path(__file__).resolve().parents[1]
ONE_PEAK = np.array([(12.2, 30.6, 80.0, 3.0, 3.0)])
FAST = ["--method", "nmrglue"]


def small(seed=1, peak=ONE_PEAK):
    return gaussian_spectrum((32, 64), peak, seed=seed)


def cli(*args, cwd=None, env=None, timeout=120):
    """Run the console script; stdout and stderr as text (undecodable bytes escaped)."""
    cmd = [console_script()] + [os.fsencode(a) if isinstance(a, (str, Path)) else a
                                for a in args]
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, cwd=cwd, env=env, timeout=timeout)
    proc.stdout = proc.stdout.decode("utf-8", "surrogateescape")
    proc.stderr = proc.stderr.decode("utf-8", "surrogateescape")
    return proc


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_refused(proc, match, *absent, folder=None):
    """Exit 2 with exactly one `Error:` line holding ``match``; no traceback, no file."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert match in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    for p in absent:
        assert not os.path.lexists(p), p
    if folder is not None:
        assert not [n for n in os.listdir(folder) if n.endswith(".part")], os.listdir(folder)


def assert_each_refused(cases, outdir):
    """Several bad inputs in one run (-o a folder, so one process checks them all):
    exit 2, one `Error: <input>: ...` line per input holding its match, the closing
    count line, no traceback, no table, every input unchanged. The first one is also
    run alone: exit 2 and exactly one line."""
    assert_refused(cli(cases[0][0], "-o", Path(outdir) / "single.tab", *FAST), cases[0][1],
                   Path(outdir) / "single.tab", folder=outdir)
    before = {str(p): sha(p) for p, _ in cases if Path(p).is_file()}
    proc = cli(*[p for p, _ in cases], "-o", outdir, *FAST)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"{len(cases)} of {len(cases)} inputs failed: "), lines[-1]
    errors = lines[:-1]
    assert len(errors) == len(cases), proc.stderr
    for (path, match), line in zip(cases, errors):
        assert line.startswith(f"Error: {Path(path).with_suffix('')}"), (path, line)  # or sidecar
        assert match in line, (match, line)
    assert os.listdir(outdir) == []
    assert before == {p: sha(p) for p in before}


def assert_table(path, n_min=1):
    _, _, tab = ng.pipe.read_table(str(path))
    assert len(tab) >= n_min
    return tab


# --------------------------------------------------------------------------- #
# header patching
# --------------------------------------------------------------------------- #

def write_pipe_as(path, data):
    """write_pipe under any name (nmrglue's writer reads a '%' as a plane template)."""
    tmp = Path(path).with_name("plain.tmp.ft2")
    write_pipe(tmp, data)
    os.replace(tmp, path)
    return Path(path)


def pipe_set(path, **fields):
    """Set NMRPipe header floats by name (FDDIMCOUNT=nan, ...), in the file's byte order."""
    raw = bytearray(Path(path).read_bytes())
    order = "<" if abs(struct.unpack("<f", raw[8:12])[0] - 2.345) < 1e-5 else ">"
    for key, value in fields.items():
        struct.pack_into(order + "f", raw, 4 * int(ng.pipe.fdata_nums[key]), value)
    Path(path).write_bytes(bytes(raw))
    return path


#: UCSF axis-header fields: (offset in the 128-byte axis header, struct code).
UCSF_AXIS = {"npoints": (8, ">I"), "size": (12, ">I"), "bsize": (16, ">I"),
             "spectrometer_freq": (20, ">f"), "spectral_width": (24, ">f"),
             "xmtr_freq": (28, ">f")}


def ucsf_set(path, axis=None, **fields):
    raw = bytearray(Path(path).read_bytes())
    for key, value in fields.items():
        if key == "ncomponents":
            raw[11] = value
            continue
        off, code = UCSF_AXIS[key]
        struct.pack_into(code, raw, 180 + 128 * axis + off, value)
    Path(path).write_bytes(bytes(raw))
    return path


def procs_set(pdata, name, **fields):
    p = Path(pdata) / name
    text = p.read_text()
    for key, value in fields.items():
        lines = [ln for ln in text.splitlines() if ln.startswith(f"##${key}=")]
        assert lines, key
        text = text.replace(lines[0], f"##${key}= {value}")
    p.write_text(text)


def npy_with_header(path, shape, descr="<f4", payload=b"\0" * 64):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(payload)
    Path(path).with_suffix(".json").write_text(json.dumps({"axes": npy_axes((32, 64))}))
    return Path(path)


@pytest.fixture
def files(tmp_path):
    """One small spectrum per format, in ``tmp_path``."""
    d = small()
    return {"pipe": write_pipe(tmp_path / "s.ft2", d), "ucsf": write_ucsf(tmp_path / "s.ucsf", d),
            "bruker": write_bruker(tmp_path / "expt" / "1", d),
            "npy": write_npy(tmp_path / "s.npy", d)}


# --------------------------------------------------------------------------- #
# 1. '%' in a file name
# --------------------------------------------------------------------------- #

def test_1_percent_in_file_names_reads_the_exact_file(tmp_path):
    one = write_pipe(tmp_path / "hsqc_1.ft2", small(peak=np.array([(8.0, 10.0, 80.0, 3.0, 3.0)])))
    tmpl = write_pipe_as(tmp_path / "hsqc_%d.ft2", small(peak=np.array([(24.0, 50.0, 80, 3, 3)])))
    pct = write_pipe_as(tmp_path / "hsqc_50%.ft2", small())
    before = sha(one)
    # the table must not replace hsqc_1 (a spectrum), whatever was read
    assert_refused(cli(tmpl, "-o", one, "--format", "tab", *FAST), "is a spectrum (NMRPipe)",
                   folder=tmp_path)
    assert sha(one) == before
    # the exact file named is read: its own peak (24, 50), not hsqc_1's (8, 10)
    proc = cli(tmpl, "-o", tmp_path / "t.tab", *FAST)
    assert proc.returncode == 0, proc.stderr
    tab = assert_table(tmp_path / "t.tab")
    assert abs(tab["Y_AXIS"][0] - 1 - 24.0) < 1 and abs(tab["X_AXIS"][0] - 1 - 50.0) < 1
    # a valid name with one '%' is no longer "corrupt"
    proc = cli(pct, "-o", tmp_path / "p.tab", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert_table(tmp_path / "p.tab")
    # an output equal to any file actually read (the sidecar of a .npy) is refused
    npy = write_npy(tmp_path / "a%d.npy", small())
    side = npy.with_suffix(".json")
    before = sha(side)
    assert_refused(cli(npy, "-o", side, "--format", "csv", *FAST), "output path is the input")
    assert sha(side) == before


# --------------------------------------------------------------------------- #
# 2. two outputs on one path
# --------------------------------------------------------------------------- #

def test_2_two_outputs_on_one_path_are_refused_before_writing(tmp_path, files):
    src = files["pipe"]
    tab, js, png = tmp_path / "p.tab", tmp_path / "p.json", tmp_path / "p.png"
    link = tmp_path / "link.json"
    link.symlink_to(tab)
    cases = [
        (["-o", tab, "--json-summary", tab], "-o and --json-summary name the same file"),
        (["-o", tab, "--plot", tab], "-o and --plot name the same file"),
        (["-o", tab, "--json-summary", js, "--plot", js], "--json-summary and --plot name"),
        (["-o", tab, "--json-summary", link], "-o and --json-summary name the same file"),
        (["-o", tab, "--json-summary", src], "output path is the input (given as --json"),
        (["-o", tab, "--plot", src], "output path is the input (given as --plot)"),
        (["-o", "-", "--json-summary", "-"], "both write to standard output"),
    ]
    before = sha(src)
    for args, match in cases:
        assert_refused(cli(src, *args, *FAST), match, tab, js, png, folder=tmp_path)
    assert sha(src) == before
    # the sidecar JSON of a .npy input is an input too
    side = files["npy"].with_suffix(".json")
    before = sha(side)
    assert_refused(cli(files["npy"], "-o", tab, "--json-summary", side, *FAST),
                   "output path is the input (given as --json-summary)", tab)
    assert sha(side) == before


# --------------------------------------------------------------------------- #
# 3. special files as output
# --------------------------------------------------------------------------- #

def test_3_special_files_are_written_through_never_replaced(tmp_path, files):
    src = files["pipe"]
    proc = cli(src, "-o", "/dev/null", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    # -o - and --json-summary -: standard output
    proc = cli(src, "-o", "-", *FAST)
    assert proc.returncode == 0 and proc.stdout.startswith("VARS "), proc.stderr
    (tmp_path / "stdout.tab").write_text(proc.stdout)
    assert_table(tmp_path / "stdout.tab")
    proc = cli(src, "-o", tmp_path / "p.tab", "--json-summary", "-", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_peaks"] >= 1
    # a symbolic link to /proc/self/fd/1 stays a link; the table goes to stdout
    link = tmp_path / "out.tab"
    link.symlink_to("/proc/self/fd/1")
    proc = cli(src, "-o", link, *FAST)
    assert proc.returncode == 0 and proc.stdout.startswith("VARS "), proc.stderr
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    # a FIFO: written through to its reader, the node stays a FIFO
    fifo = tmp_path / "fifo.tab"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    proc = cli(src, "-o", fifo, *FAST)
    reader.join(60)
    assert proc.returncode == 0, proc.stderr
    assert got and got[0].startswith(b"VARS ") and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # a full character device: one line, the node stays
    assert_refused(cli(src, "-o", "/dev/full", *FAST), "the disk is full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    # a block device is refused before any work
    node = tmp_path / "blk.tab"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except OSError:
        return                          # not root: nothing more to check here
    assert_refused(cli(src, "-o", node, *FAST), "is a block device")
    assert stat.S_ISBLK(os.lstat(node).st_mode)


# --------------------------------------------------------------------------- #
# 4. tracebacks that must be `Error:` lines
# --------------------------------------------------------------------------- #

def test_4_hostile_headers_and_names_give_one_error_line(tmp_path, files):
    out = tmp_path / "out.tab"
    cases = []

    def copy(kind, name):
        src = files[kind]
        if kind == "bruker":
            dst = tmp_path / name / "1"
            import shutil
            shutil.copytree(src.parent.parent, dst)
            return dst / "pdata" / "1"
        dst = tmp_path / name
        dst.write_bytes(src.read_bytes())
        if kind == "npy":
            dst.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
        return dst

    for i, v in enumerate((0, 2 ** 32 - 1, 2 ** 31 - 1)):      # 0, -1 as unsigned, 2^31-1
        cases.append((ucsf_set(copy("ucsf", f"np{i}.ucsf"), 0, npoints=v),
                      "corrupt or truncated UCSF file" if v == 2 ** 31 - 1 else "w1.npoints"))
        cases.append((ucsf_set(copy("ucsf", f"bs{i}.ucsf"), 1, bsize=v), "w2.bsize"))
    cases.append((ucsf_set(copy("ucsf", "mhz0.ucsf"), 0, spectrometer_freq=0.0),
                  "w1.spectrometer_freq"))
    cases.append((pipe_set(copy("pipe", "dimnan.ft2"), FDDIMCOUNT=float("nan")), "FDDIMCOUNT"))
    cases.append((pipe_set(copy("pipe", "order7.ft2"), FDDIMORDER1=7.0), "FDDIMORDER1"))
    sf0 = copy("bruker", "sf0")
    procs_set(sf0, "procs", SF=0)
    cases.append((sf0, "procs SF (observe frequency, MHz, array axis 1) must be a finite"))
    cases.append((npy_with_header(tmp_path / "huge.npy", (99999999, 99999999)),
                  "its header says shape (99999999, 99999999)"))
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 5), np.float32))
    empty.with_suffix(".json").write_text(json.dumps({"axes": npy_axes((32, 64))}))
    cases.append((empty, "empty spectrum (shape (0, 5))"))
    deep = copy("npy", "deep.npy")
    deep.with_suffix(".json").write_text("[" * 100000)
    cases.append((deep, "nested too deeply"))
    outdir = tmp_path / "out"
    outdir.mkdir()
    assert_each_refused(cases, outdir)
    # --tile asking for 112 GiB
    assert_refused(cli(files["pipe"], "-o", out, "--tile", "100000"), "--tile", out)
    # a 300-character output name; a non-UTF-8 input name is read and named escaped
    assert_refused(cli(files["pipe"], "-o", tmp_path / ("x" * 296 + ".tab"), *FAST),
                   "file name too long (300 bytes", folder=tmp_path)
    bad_name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.ft2")
    Path(bad_name).write_bytes(files["pipe"].read_bytes())
    proc = cli(bad_name, "-o", out, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "caf\\xe9.ft2" in proc.stderr
    assert "REMARK input " in out.read_text() and "caf\\xe9.ft2" in out.read_text()
    assert_table(out)


def test_4_model_config_and_device_errors(tmp_path, files):
    from conftest import SHIPPED_WEIGHTS
    out = tmp_path / "p.tab"
    weights = Path(str(SHIPPED_WEIGHTS)).read_bytes()
    config = json.loads((Path(str(SHIPPED_WEIGHTS)).parent / "config.json").read_text())
    bad_arch = dict(config, arch=dict(config.get("arch") or {}, fpn_channels=-1))
    cases = [(b"", None, "is empty"),
             (weights, "{not json", "not valid JSON"),
             (weights, "[1, 2]", "must hold an object; got list"),
             (weights, json.dumps(bad_arch), "`arch.fpn_channels` must be a positive integer; "
                                             "got -1")]
    for i, (w, cfg, match) in enumerate(cases):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        (folder / "w.pt").write_bytes(w)
        if cfg is not None:
            (folder / "config.json").write_text(cfg)
        assert_refused(cli(files["pipe"], "-o", out, "--model", folder / "w.pt"), match, out)
    assert_refused(cli(files["pipe"], "-o", out, "--device", "bogus", "--engine", "torch"),
                   "`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'bogus'", out)
    assert_refused(cli(files["pipe"], "-o", out, "--device", "bogus"), "needs engine='torch'",
                   out)


def test_4_full_disk_one_line_and_no_temporary_file(small_disk, tmp_path):
    src = write_pipe(tmp_path / "big.ft2", gaussian_spectrum((64, 128), ONE_PEAK * [1, 1, 1, 1, 1],
                                                             seed=3))
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (60 * 1024))          # leaves less than a table needs
    out = small_disk / "p.csv"
    assert_refused(cli(src, "-o", out, "--method", "nmrglue", "--snr", "0.5"),
                   "no space left on the disk (the disk is full)", out, folder=small_disk)
    assert os.listdir(small_disk) == ["filler"]


# --------------------------------------------------------------------------- #
# 5. -j batches
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("jobs", ["1", "2"])
def test_5_batch_failures_fail_alone(tmp_path, files, jobs):
    good2 = write_ucsf(tmp_path / "t.ucsf", small(seed=2))
    corrupt = tmp_path / "corrupt.ft2"
    corrupt.write_bytes(files["pipe"].read_bytes()[:3000])
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 5), np.float32))
    empty.with_suffix(".json").write_text(json.dumps({"axes": npy_axes((32, 64))}))
    outdir = tmp_path / "out"
    outdir.mkdir()
    js = tmp_path / "run.json"
    proc = cli(files["pipe"], corrupt, tmp_path / "absent.ft2", empty, good2, "-o", outdir,
               "-j", jobs, "--json-summary", js, *FAST)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 3 and {"corrupt.ft2", "absent.ft2", "empty.npy"} == {
        Path(e.split(":")[1].strip()).name for e in errors}
    assert proc.stderr.strip().splitlines()[-1].startswith("3 of 5 inputs failed: ")
    assert sorted(os.listdir(outdir)) == ["s.tab", "t.tab"]
    summary = json.loads(js.read_text())
    assert summary["n_files"] == 5 and summary["n_failed"] == 3
    assert sorted(Path(f).name for f in summary["failed"]) == ["absent.ft2", "corrupt.ft2",
                                                                "empty.npy"]


# --------------------------------------------------------------------------- #
# 6. nonsense calibration
# --------------------------------------------------------------------------- #

def test_6_nonsense_calibration_is_refused_with_the_field(tmp_path, files):
    out = tmp_path / "out.tab"
    nan, inf = float("nan"), float("inf")
    cases = []
    for i, (key, v) in enumerate((("FDF2SW", 0.0), ("FDF2OBS", nan), ("FDF1OBS", inf),
                                  ("FDF1ORIG", nan), ("FDF2ORIG", inf), ("FDF2ORIG", 1e30))):
        p = tmp_path / f"pcal{i}.ft2"
        p.write_bytes(files["pipe"].read_bytes())
        cases.append((pipe_set(p, **{key: v}), key))
    for i, (ax, key, v) in enumerate(((1, "spectral_width", 0.0), (0, "spectrometer_freq", nan),
                                      (1, "spectrometer_freq", inf), (0, "xmtr_freq", nan),
                                      (1, "xmtr_freq", 3e38))):
        p = tmp_path / f"ucal{i}.ucsf"
        p.write_bytes(files["ucsf"].read_bytes())
        cases.append((ucsf_set(p, ax, **{key: v}), f"w{ax + 1}.{key}"))
    for i, (proc_file, key, v) in enumerate((("procs", "SW_p", "nan"), ("proc2s", "SF", "inf"),
                                             ("procs", "OFFSET", "1e308"),
                                             ("proc2s", "OFFSET", "nan"))):
        import shutil
        shutil.copytree(files["bruker"].parent.parent, tmp_path / f"b{i}" / "1")
        pdata = tmp_path / f"b{i}" / "1" / "pdata" / "1"
        procs_set(pdata, proc_file, **{key: v})
        cases.append((pdata, f"{proc_file} {key}"))
    for i, (ax, key, v) in enumerate(((0, "sw_hz", "0"), (1, "obs_mhz", "NaN"),
                                      (0, "ref_ppm", "Infinity"), (1, "ref_ppm", "1e308"))):
        p = tmp_path / f"ncal{i}.npy"
        p.write_bytes(files["npy"].read_bytes())
        axes = npy_axes((32, 64))
        axes[ax][key] = "@"
        p.with_suffix(".json").write_text(json.dumps({"axes": axes}).replace('"@"', v))
        cases.append((p, key))
    outdir = tmp_path / "out"
    outdir.mkdir()
    assert_each_refused(cases, outdir)
    # a sound file's summary is strict JSON (no NaN/Infinity anywhere)
    js = tmp_path / "s.json"
    assert cli(files["pipe"], "-o", out, "--json-summary", js, *FAST).returncode == 0

    def no_constants(name):
        raise AssertionError(f"non-JSON constant {name}")
    json.loads(js.read_text(), parse_constant=no_constants)


# --------------------------------------------------------------------------- #
# 7. complex UCSF
# --------------------------------------------------------------------------- #

def test_7_complex_ucsf_is_refused(tmp_path, files):
    p = ucsf_set(files["ucsf"], ncomponents=2)
    assert_refused(cli(p, "-o", tmp_path / "o.tab", *FAST), "ncomponents 2",
                   tmp_path / "o.tab")


# --------------------------------------------------------------------------- #
# 8. late failures
# --------------------------------------------------------------------------- #

def test_8_every_output_location_is_checked_before_picking(tmp_path, files):
    out = tmp_path / "p.tab"
    for extra, match in ((["--json-summary", "/proc/run.json"], "cannot write in --json-summary"),
                         (["--plot", "/proc/picks.png"], "cannot write in"),
                         (["--plot", tmp_path / "none" / "p.png"], "does not exist")):
        assert_refused(cli(files["pipe"], "-o", out, *extra, *FAST), match, out,
                       folder=tmp_path)
    # a summary that fails while being written leaves no table either (one transaction)
    assert_refused(cli(files["pipe"], "-o", out, "--json-summary", "/dev/full", *FAST),
                   "the disk is full", out, folder=tmp_path)


# --------------------------------------------------------------------------- #
# 9. control characters in names
# --------------------------------------------------------------------------- #

def test_9_control_characters_in_names_are_escaped(tmp_path, files):
    from nmrpick_ml.io import read_table
    names = ("new\nline", "tab\there", "esc\x1b[31m", "cr\rret")
    escaped = ("new\\nline", "tab\\there", "esc\\x1b[31m", "cr\\rret")
    srcs = []
    for name in names:
        srcs.append(tmp_path / f"{name}.ft2")
        srcs[-1].write_bytes(files["pipe"].read_bytes())
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = cli(*srcs, "-o", outdir, *FAST)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == len(names)   # one summary line each
    for name, esc in zip(names, escaped):
        out = outdir / f"{name}.tab"
        remark = [ln for ln in out.read_text().splitlines() if ln.startswith("REMARK input")]
        assert len(remark) == 1 and remark[0].endswith(f"{esc}.ft2"), remark
        assert esc in proc.stderr
        assert len(assert_table(out)) == len(read_table(out)) >= 1
    # an error about such a file is one line too
    bad = tmp_path / "bad\nname.ft2"
    bad.write_bytes(b"\0" * 4000)
    assert_refused(cli(bad, "-o", tmp_path / "q.tab", *FAST),
                   "bad\\nname.ft2: corrupt or not a NMRPipe file")


# --------------------------------------------------------------------------- #
# 10. signals during a write
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_10_signal_during_write_leaves_no_file(tmp_path, files, sig):
    """The table waits in its temporary file while the summary blocks on a FIFO with no
    reader; the signal then comes in the middle of the write."""
    work = tmp_path / "work"
    work.mkdir()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    fifo = tmp_path / "summary.fifo"
    os.mkfifo(fifo)
    env = dict(os.environ, TMPDIR=str(tmpdir), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([console_script(), str(files["pipe"]), "-o", str(work / "p.tab"),
                             "--json-summary", str(fifo), *FAST], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):                 # wait until the table's temp file exists
            if os.listdir(work) and os.listdir(tmpdir):
                break
            threading.Event().wait(0.05)
        assert [n.endswith(".part") for n in os.listdir(work)] == [True]
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert os.listdir(work) == [] and os.listdir(tmpdir) == []
    if sig == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM
    else:
        assert proc.returncode == 130 and err.strip().splitlines() == ["Error: interrupted"]


# --------------------------------------------------------------------------- #
# 11. minor
# --------------------------------------------------------------------------- #

def test_11_api_arguments_raise_nmrpick_errors_naming_them(files):
    import nmrpick_ml
    from nmrpick_ml import NmrpickError, pick
    spec = nmrpick_ml.read_spectrum(files["pipe"])
    for kw, match in ((dict(model=object()), "`model` must be a Picker"),
                      (dict(model=42), "`model` must be a Picker"),
                      (dict(device="bogus", engine="torch"), "`device` must be 'cpu'"),
                      (dict(tile=100000), "`tile` must be <= 1024"),
                      (dict(snr=float("nan")), "`snr` must be finite"),
                      (dict(pthres="8"), "`pthres` must be a number")):
        with pytest.raises(NmrpickError, match=match):
            pick(spec.dic, spec.data, spec.uc, **kw)
    with pytest.raises(TypeError):                  # a wrong type is also a TypeError
        pick(spec.dic, spec.data, spec.uc, model=42)


def test_11_non_finite_options_and_float32_overflow(tmp_path, files):
    out = tmp_path / "p.tab"
    for opt, v in (("--threshold", "nan"), ("--threshold", "inf"), ("--snr", "nan"),
                   ("--snr", "inf")):
        assert_refused(cli(files["pipe"], "-o", out, opt, v, *FAST), "is not a finite number",
                       out)
    assert_refused(cli(files["pipe"], "-o", out, "--score-threshold", "nan"),
                   "is not a finite number", out)
    big = tmp_path / "big.npy"
    np.save(big, np.full((32, 64), 1e300))
    big.with_suffix(".json").write_text(json.dumps({"axes": npy_axes((32, 64))}))
    assert_refused(cli(big, "-o", out, *FAST), "values overflow float32", out)
