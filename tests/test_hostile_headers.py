"""Property test (issue 12): corrupt the real headers of files that nmrglue wrote.

NMRPipe, UCSF, Bruker and ``.npy`` (+ sidecar JSON) files of a small spectrum
are written once with nmrglue's (and numpy's) own writers; hypothesis then
writes random bytes into a header, truncates a file, or puts an extreme number
in one numeric header field, and runs ``nmrpick-ml FILE -o out.tab`` (in-process,
click's runner, so a few hundred runs take seconds). Every run must end in
exit 0 with a table nmrglue reads, or exit 2 with exactly one ``Error:`` line:
never a traceback, never a file left behind, and the input never changed.
"""

import hashlib
import math
import os
import re
import struct
import tempfile
from pathlib import Path

import nmrglue as ng
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import gaussian_spectrum, write_bruker, write_npy, write_pipe, write_ucsf
from nmrpick_ml.cli import main

#: Numbers put into header fields: zeros, signs, limits, non-finite, integers near limits.
EXTREME_FLOATS = [0.0, -0.0, 1.0, -1.0, 2.0, 3.0, 4.0, 7.0, 0.5, 1e-38, 1e38, -1e38,
                  3.4e38, float("nan"), float("inf"), float("-inf"), 2.0 ** 31 - 1,
                  2.0 ** 24 + 1, 65.0, 1e6]
EXTREME_UINTS = [0, 1, 2, 7, 31, 33, 63, 65, 2 ** 16, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1]
EXTREME_TEXT = ["0", "-1", "1", "2", "3", "nan", "inf", "-inf", "1e308", "-1e308", "1e-320",
                "2147483647", "4294967295", "99999999999999999999", "abc", "", "1.5", "<x>",
                "(0..1)", "$$ junk"]
EXTREME_JSON = ["0", "-1", "1", "0.5", "NaN", "Infinity", "-Infinity", "1e308", "-1e308",
                "1e-320", '"x"', '""', "null", "[]", "{}", "true", "99999999999999999999"]
#: (file, field offset, struct code) of the UCSF numeric header fields.
UCSF_FIELDS = [("naxis", 10, "B"), ("ncomponents", 11, "B"), ("encoding", 12, "B")] + [
    (f"w{a + 1}.{name}", 180 + 128 * a + off, code) for a in range(2)
    for name, off, code in (("npoints", 8, ">I"), ("size", 12, ">I"), ("bsize", 16, ">I"),
                            ("spectrometer_freq", 20, ">f"), ("spectral_width", 24, ">f"),
                            ("xmtr_freq", 28, ">f"), ("zero_order", 32, ">f"))]
BRUKER_KEYS = ["SI", "XDIM", "SW_p", "SF", "OFFSET", "BYTORDP", "DTYPP", "NC_proc", "STSI",
               "FTSIZE", "AXNUC", "MC2", "FT_mod"]
NPY_KEYS = ["label", "sw_hz", "obs_mhz", "ref_point", "ref_ppm"]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """{format: ({relative path: bytes}, relative input path)} written by nmrglue/numpy."""
    d = tmp_path_factory.mktemp("orig")
    data = gaussian_spectrum((32, 64), np.array([(12.2, 30.6, 80.0, 3.0, 3.0)]), seed=1)
    write_pipe(d / "s.ft2", data)
    write_ucsf(d / "s.ucsf", data)
    write_bruker(d / "e" / "1", data)
    write_npy(d / "s.npy", data)

    def grab(*names):
        return {n: (d / n).read_bytes() for n in names}
    pd = "e/1/pdata/1"
    return _Quiet({"pipe": (grab("s.ft2"), "s.ft2"), "ucsf": (grab("s.ucsf"), "s.ucsf"),
            "bruker": (grab(f"{pd}/2rr", f"{pd}/procs", f"{pd}/proc2s"), pd),
            "npy": (grab("s.npy", "s.json"), "s.npy")})


class _Quiet(dict):
    """The originals, with a short repr (hypothesis prints its strategies' arguments)."""

    def __repr__(self):
        return "<original files>"


def _pipe_extreme(files, draw):
    raw = bytearray(files["s.ft2"])
    order = "<" if abs(struct.unpack("<f", raw[8:12])[0] - 2.345) < 1e-5 else ">"
    index = draw(st.sampled_from(sorted({int(v) for v in ng.pipe.fdata_nums.values()})))
    struct.pack_into(order + "f", raw, 4 * index, draw(st.sampled_from(EXTREME_FLOATS)))
    files["s.ft2"] = bytes(raw)


def _ucsf_extreme(files, draw):
    raw = bytearray(files["s.ucsf"])
    _, off, code = draw(st.sampled_from(UCSF_FIELDS))
    if code == "B":
        raw[off] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 255]))
    elif code == ">I":
        struct.pack_into(code, raw, off, draw(st.sampled_from(EXTREME_UINTS)))
    else:
        v = draw(st.sampled_from(EXTREME_FLOATS))
        struct.pack_into(code, raw, off, v if math.isnan(v) or abs(v) <= 3.4e38 else
                         math.copysign(math.inf, v))
    files["s.ucsf"] = bytes(raw)


def _bruker_extreme(files, draw):
    name = draw(st.sampled_from(["e/1/pdata/1/procs", "e/1/pdata/1/proc2s"]))
    key = draw(st.sampled_from(BRUKER_KEYS))
    value = draw(st.sampled_from(EXTREME_TEXT))
    text = files[name].decode("latin-1")
    text = re.sub(rf"^##\${re.escape(key)}= .*$", f"##${key}= {value}", text, flags=re.M)
    files[name] = text.encode("latin-1")


def _npy_extreme(files, draw):
    if draw(st.booleans()):                  # a sidecar field
        axis = draw(st.integers(0, 1))
        key = draw(st.sampled_from(NPY_KEYS))
        token = draw(st.sampled_from(EXTREME_JSON))
        text = files["s.json"].decode()
        axes = re.findall(r"\{[^{}]*\}", text)
        new = re.sub(rf'"{key}": [^,}}]*', f'"{key}": {token}', axes[axis])
        files["s.json"] = text.replace(axes[axis], new, 1).encode()
    else:                                    # the array header: shape or dtype
        raw = files["s.npy"]
        end = raw.index(b"\n") + 1
        fields = {"descr": "'<f4'", "fortran_order": "False", "shape": "(32, 64)"}
        which = draw(st.sampled_from(sorted(fields)))
        fields[which] = draw(st.sampled_from({
            "shape": ["(99999999, 99999999)", "(0, 5)", "(32,)", "(2, 32, 32)", "(1, 2048)",
                      "(64, 32)", "(-1, 64)", "()", "(2048, 1)"],
            "descr": ["'<f8'", "'>f4'", "'<c8'", "'|O'", "'<i2'", "'|b1'", "'<U4'", "'<f2'",
                      "'<f4'"],
            "fortran_order": ["True", "1", "None"]}[which]))
        text = "{" + ", ".join(f"'{k}': {v}" for k, v in fields.items()) + ", }"
        text += " " * ((-(10 + len(text) + 1)) % 64) + "\n"
        files["s.npy"] = raw[:8] + struct.pack("<H", len(text)) + text.encode() + raw[end:]


_EXTREME = {"pipe": _pipe_extreme, "ucsf": _ucsf_extreme, "bruker": _bruker_extreme,
            "npy": _npy_extreme}
#: The header region of each file that random bytes may hit.
_HEADER_BYTES = {"s.ft2": 2048, "s.ucsf": 180 + 2 * 128, "s.npy": 128, "s.json": 10 ** 6,
                 "e/1/pdata/1/procs": 10 ** 6, "e/1/pdata/1/proc2s": 10 ** 6,
                 "e/1/pdata/1/2rr": 64}


class Case(tuple):
    """(kind, how, files, entry) whose repr does not print the files' bytes."""

    def __repr__(self):
        kind, how, files, _ = self
        return f"Case({kind}, {how}, " + ", ".join(
            f"{n}: {len(b)} bytes sha {hashlib.sha256(b).hexdigest()[:8]}" for n, b in
            files.items()) + ")"


@st.composite
def corrupted(draw, originals):
    kind = draw(st.sampled_from(sorted(originals)))
    files, entry = originals[kind]
    files = dict(files)
    how = draw(st.sampled_from(["bytes", "truncate", "extreme", "extreme", "extreme"]))
    if how == "extreme":
        _EXTREME[kind](files, draw)
    else:
        name = draw(st.sampled_from(sorted(files)))
        raw = files[name]
        if how == "truncate":
            files[name] = raw[:draw(st.integers(0, max(len(raw) - 1, 0)))]
        else:
            top = min(len(raw), _HEADER_BYTES[name])
            off = draw(st.integers(0, max(top - 1, 0)))
            junk = draw(st.binary(min_size=1, max_size=16))
            files[name] = raw[:off] + junk + raw[off + len(junk):]
    return Case((kind, how, files, entry))


def _digest(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = Path(root) / n
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.filterwarnings("ignore")
def test_corrupted_headers_end_cleanly(originals):
    @settings(max_examples=300, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=corrupted(originals))
    def check(case):
        _, _, files, entry = case
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            for name, raw in files.items():
                (d / name).parent.mkdir(parents=True, exist_ok=True)
                (d / name).write_bytes(raw)
            before = _digest(d)
            out = d / "out.tab"
            res = CliRunner().invoke(main, [str(d / entry), "-o", str(out), "--method",
                                            "nmrglue", "-q"])
            assert res.exception is None or isinstance(res.exception, SystemExit), (
                case, res.exc_info)
            after = _digest(d)
            if res.exit_code == 0:
                assert out.is_file(), case
                _, _, tab = ng.pipe.read_table(str(out))
                assert tab.dtype.names and "X_PPM" in tab.dtype.names
                del after["out.tab"]
            else:
                assert res.exit_code == 2, (case, res.exit_code, res.stderr)
                lines = res.stderr.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("Error: "), (case, res.stderr)
            assert after == before, (case, "input changed or a file left behind")
    check()
