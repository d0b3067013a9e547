"""What a user meets first: quoted defaults match the code, options a method
does not use are refused, transposed NMRPipe files keep their axis roles, NEF
saveframes are named after their spectrum, nmrglue's pick(data, None)."""

import os
import re
from pathlib import Path

import numpy as np
import nmrglue as ng
import pytest
from click.testing import CliRunner

from conftest import gaussian_spectrum, write_bruker, write_pipe
from nmrpick_ml import _defaults as D
from nmrpick_ml import peakpick, pick, read_spectrum, write_table
from nmrpick_ml.cli import main
from nmrpick_ml.io import direct_axis, spectrum_name

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, match):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0], lines


# --------------------------------------------------------------------------- #
# defaults: one source, quoted by README, --help and the POKY README
# --------------------------------------------------------------------------- #

def test_readme_defaults_table_is_generated_from_the_code():
    text = (ROOT / "README.md").read_text()
    assert D.update_readme(text) == text, "run: python benchmarks/update_readme.py"
    assert f"| `--score-threshold` (maskrcnn) | {D.model_score_threshold():g} |" in text
    import importlib
    from nmrpick_ml.model import model_config
    P = importlib.import_module("nmrpick_ml.picking")
    assert (P.DEFAULT_SNR, P.MODEL_SNR) == (D.DEFAULT_SNR, D.MODEL_SNR)
    assert model_config()["score_thresh"] == D.model_score_threshold()


def test_no_default_is_quoted_by_hand_against_the_code():
    readme = (ROOT / "README.md").read_text()
    poky = (ROOT / "plugins" / "poky" / "README.md").read_text()
    # every "default ... N" / "auto = N" quote names the code's value
    for text in (readme, poky):
        for m in re.finditer(r"`--score-threshold`,? default (\d+(?:\.\d+)?)", text):
            assert float(m.group(1)) == D.model_score_threshold()
        for m in re.finditer(r"`auto`[^.]*?(\d+(?:\.\d+)?) x noise|\(`auto` = (\d+)\)", text):
            assert float(m.group(1) or m.group(2)) == D.MODEL_SNR, m.group(0)
    # the POKY macro sends no --snr for "auto": the Mask R-CNN's default applies
    assert f"Mask R-CNN, {D.MODEL_SNR:g} x noise" in poky
    assert f"Mask R-CNN, {D.MODEL_SNR:g}, only a floor" in readme


def test_help_quotes_the_code():
    top = run("--help").stdout
    assert f"default {D.DEFAULT_SNR:g} for" in top and f"{D.MODEL_SNR:g} for maskrcnn" in top
    assert f"(default {D.model_score_threshold():g}," in top
    helptext = " ".join(run("pick", "--help").stdout.split())
    assert f"[default: {D.DEFAULT_SNR:g} for nmrglue, {D.MODEL_SNR:g} for maskrcnn" in helptext
    assert f"[default: {D.model_score_threshold():g}, the shipped model's own]" in helptext
    assert f"--contour-start X --plot: lowest contour, in noise units. [default: " \
           f"{D.CONTOUR_START:g}" in helptext
    assert f"[default: {D.DEFAULT_OVERLAP}]" in helptext and f"{D.INFERENCE_TILE} for the shipped one" in helptext


# --------------------------------------------------------------------------- #
# options the chosen method does not use
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("opt", [("--score-threshold", "0.9"), ("--model", "x.pt"),
                                 ("--tile", "64"), ("--overlap", "8"), ("--device", "cpu")])
def test_nmrglue_refuses_model_options(tmp_path, small_pipe, opt):
    out = tmp_path / "p.tab"
    r = run(small_pipe, "-o", out, "--method", "nmrglue", *opt)
    one_error_line(r, f"{opt[0]} is not used by --method nmrglue")
    assert not out.exists()


def test_contour_start_needs_plot_and_bench_data_needs_real(tmp_path, small_pipe):
    one_error_line(run(small_pipe, "-o", tmp_path / "p.tab", "--contour-start", "3"),
                   "--contour-start sets the contours of --plot")
    one_error_line(run("bench", "--speed", "--data", tmp_path), "--data is the folder of --real")
    one_error_line(run("bench", "--real", "--data", tmp_path / "none"), "does not exist")


def test_nmrglue_with_its_own_options_still_runs(tmp_path, small_pipe):
    r = run(small_pipe, "-o", tmp_path / "p.tab", "--method", "nmrglue", "--snr", "10")
    assert r.exit_code == 0, r.output


# --------------------------------------------------------------------------- #
# peakpick.pick(data, None): like nmrglue, no default threshold
# --------------------------------------------------------------------------- #

def test_peakpick_without_any_threshold_raises_like_nmrglue():
    data = np.random.default_rng(0).normal(size=(32, 32))
    with pytest.raises(TypeError):
        ng.peakpick.pick(data, None)                   # nmrglue itself fails
    with pytest.raises(ValueError, match="both None: nothing to pick"):
        peakpick.pick(data, None)
    assert len(peakpick.pick(np.zeros((32, 32)), None, nthres=-1.0)) == 0   # negative only: fine


# --------------------------------------------------------------------------- #
# transposed NMRPipe files and NEF names
# --------------------------------------------------------------------------- #

@pytest.fixture
def transposed(tmp_path):
    """The same spectrum as a normal and as a transposed (nmrglue TP) NMRPipe file."""
    data = gaussian_spectrum((32, 64), np.array([(12.0, 40.0, 80.0, 3.0, 3.0)]), seed=2)
    normal = write_pipe(tmp_path / "n.ft2", data)
    dic, d = ng.pipe.read(str(normal))
    dic_t, d_t = ng.pipe_proc.tp(dic, d, auto=True)
    assert dic_t["FDTRANSPOSED"] == 1
    ng.pipe.write(str(tmp_path / "t.ft2"), dic_t, d_t)
    return normal, tmp_path / "t.ft2"


def _nef_dims(text):
    rows = re.findall(r"^\s+(\d) ppm (\S+) \S+ \S+ \S+ none true (true|false)$", text, re.M)
    return [(int(d), code, acq == "true") for d, code, acq in rows]


def test_transposed_file_axis_roles(tmp_path, transposed):
    normal, trans = transposed
    sn, st = read_spectrum(normal), read_spectrum(trans)
    assert (sn.labels, sn.direct_axis) == (("15N", "1H"), 1)
    assert (st.labels, st.direct_axis) == (("1H", "15N"), 0)
    assert direct_axis(st.dic, st.data) == 0
    for spec, name in ((sn, "n"), (st, "t")):
        peaks = pick(spec.dic, spec.data, spec.uc, pthres=20.0, method="nmrglue")
        tab = write_table(tmp_path / f"{name}.tab", peaks, spec)
        nef = Path(write_table(tmp_path / f"{name}.nef", peaks, spec)).read_text()
        remark = [ln for ln in open(tab) if ln.startswith("REMARK X =")][0]
        if name == "n":
            assert "X = array axis 1 (direct, 1H), Y = array axis 0 (indirect, 15N)" in remark
            assert _nef_dims(nef) == [(1, "15N", False), (2, "1H", True)]
        else:
            assert "X = array axis 1 (indirect, 15N), Y = array axis 0 (direct, 1H)" in remark
            assert _nef_dims(nef) == [(1, "1H", True), (2, "15N", False)]


def test_nef_saveframe_named_after_the_spectrum(tmp_path):
    data = gaussian_spectrum((32, 64), np.array([(12.0, 40.0, 80.0, 3.0, 3.0)]), seed=2)
    (tmp_path / "t1 series").mkdir()
    a = read_spectrum(write_pipe(tmp_path / "t1 series" / "1.ft2", data))
    b = read_spectrum(write_pipe(tmp_path / "hsqc-ref.ft2", data))
    c = read_spectrum(write_bruker(tmp_path / "arbo" / "14", data))
    names = [spectrum_name(s) for s in (a, b, c)]
    assert names == ["t1_series_1", "hsqc_ref", "arbo_14_1"]
    frames = []
    for s, n in zip((a, b, c), names):
        peaks = pick(s.dic, s.data, s.uc, snr=20, method="nmrglue")
        text = Path(write_table(tmp_path / f"{n}.nef", peaks, s)).read_text()
        (frame,) = re.findall(r"_nef_nmr_spectrum\.sf_framecode\s+(\S+)", text)
        assert frame == f"nef_nmr_spectrum_{n}" and f"save_{frame}\n" in text
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", frame)
        frames.append(frame)
    assert len(set(frames)) == 3          # three spectra, three frames: no clash in CCPN
