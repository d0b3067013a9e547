"""Reading spectra and writing peak tables (nmrpick_ml.io); no torch here."""

import json
import os
import shutil

import numpy as np
import nmrglue as ng
import pytest

from conftest import (AXES, gaussian_spectrum, make_udic, npy_axes, write_bruker, write_npy,
                      write_pipe, write_ucsf)
from nmrpick_ml import NmrpickError
from nmrpick_ml._validate import PEAK_DTYPE, empty_peaks
from nmrpick_ml.io import (Spectrum, read_spectrum, read_table, uc_from_dic, write_table)

PTS = [(0, 0), (5, 17), (31.5, 63), (17.25, 40.75)]


def small(shape=(32, 64), seed=3):
    return gaussian_spectrum(shape, np.array([(10.0, 20.0, 50.0, 3.0, 3.0)]), seed=seed)


def assert_ppm(spec, ucs):
    """ppm of known points equal nmrglue's own unit conversion to 1e-6 ppm."""
    for y, x in PTS:
        y = min(y, spec.data.shape[0] - 1)
        x = min(x, spec.data.shape[1] - 1)
        assert spec.uc[0].ppm(y) == pytest.approx(ucs[0].ppm(y), abs=1e-6)
        assert spec.uc[1].ppm(x) == pytest.approx(ucs[1].ppm(x), abs=1e-6)


# --------------------------------------------------------------------------- #
# formats
# --------------------------------------------------------------------------- #

def test_read_pipe(tmp_path):
    data = small()
    path = write_pipe(tmp_path / "s.ft2", data)
    spec = read_spectrum(path)
    assert isinstance(spec, Spectrum) and spec.format == "pipe"
    assert spec.data.dtype == np.float32 and spec.data.shape == (32, 64)
    np.testing.assert_array_equal(spec.data, data)
    assert spec.labels == ("15N", "1H")
    assert spec.obs_mhz == pytest.approx((AXES[0]["obs"], AXES[1]["obs"]), rel=1e-6)
    assert spec.sw_hz == pytest.approx((AXES[0]["sw"], AXES[1]["sw"]), rel=1e-6)
    dic, ref = ng.pipe.read(str(path))
    assert_ppm(spec, [ng.pipe.make_uc(dic, ref, dim=i) for i in range(2)])
    # and the axes are the ones written: the centre point sits at the carrier
    assert spec.uc[0].ppm(16) == pytest.approx(118.0, abs=1e-6)


def test_read_ucsf(tmp_path):
    data = small()
    path = write_ucsf(tmp_path / "s.ucsf", data)
    spec = read_spectrum(path)
    assert spec.format == "ucsf" and spec.labels == ("15N", "1H")
    np.testing.assert_array_equal(spec.data, data)
    dic, ref = ng.sparky.read(str(path))
    assert_ppm(spec, [ng.sparky.make_uc(dic, ref, dim=i) for i in range(2)])


def test_read_bruker_pdata_experiment_and_2rr(tmp_path):
    data = small()
    pdata = write_bruker(tmp_path / "expt" / "5", data)
    dic, ref = ng.bruker.read_pdata(str(pdata), scale_data=True)
    udic = ng.bruker.guess_udic(dic, ref)
    ucs = [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]
    for given in (pdata, tmp_path / "expt" / "5", pdata / "2rr"):
        spec = read_spectrum(given)
        assert spec.format == "bruker" and spec.labels == ("15N", "1H")
        assert spec.path == str(pdata)
        assert spec.data.shape == (32, 64)
        np.testing.assert_allclose(spec.data, ref.astype(np.float32))
        assert_ppm(spec, ucs)
    # the written Bruker axes are the same as the NMRPipe ones
    pipe = read_spectrum(write_pipe(tmp_path / "same.ft2", data))
    assert spec.uc[0].ppm(7) == pytest.approx(pipe.uc[0].ppm(7), abs=1e-6)
    assert spec.uc[1].ppm(50) == pytest.approx(pipe.uc[1].ppm(50), abs=1e-6)


def test_read_npy_with_sidecar(tmp_path):
    data = small()
    axes = npy_axes(data.shape)
    axes[0].update(ref_point=11, ref_ppm=120.5)        # 1-based reference point
    path = write_npy(tmp_path / "s.npy", data, axes)
    spec = read_spectrum(path)
    assert spec.format == "npy" and spec.labels == ("15N", "1H")
    assert spec.uc[0].ppm(10) == pytest.approx(120.5, abs=1e-9)
    assert spec.uc[1].ppm(0) == pytest.approx(axes[1]["ref_ppm"], abs=1e-9)
    assert spec.uc[0].hz(10) - spec.uc[0].hz(11) == pytest.approx(AXES[0]["sw"] / 32)
    # the same axes as an explicit axes= file
    other = tmp_path / "other.json"
    shutil.move(tmp_path / "s.json", other)
    with pytest.raises(NmrpickError, match="sidecar JSON"):
        read_spectrum(path)
    assert read_spectrum(path, axes=other).uc[0].ppm(10) == pytest.approx(120.5)
    other.write_text("{not json")
    with pytest.raises(NmrpickError, match="cannot read the axes JSON"):
        read_spectrum(path, axes=other)
    other.write_text(json.dumps({"axes": axes[:1]}))
    with pytest.raises(NmrpickError, match="must list 2 axes"):
        read_spectrum(path, axes=other)


def test_format_from_content_not_extension(tmp_path):
    data = small()
    pipe = write_pipe(tmp_path / "a.ft2", data)
    ucsf = write_ucsf(tmp_path / "b.ucsf", data)
    shutil.copy(pipe, tmp_path / "renamed.dat")
    shutil.copy(pipe, tmp_path / "noext")
    shutil.copy(ucsf, tmp_path / "sparky.bin")
    assert read_spectrum(tmp_path / "renamed.dat").format == "pipe"
    assert read_spectrum(tmp_path / "noext").format == "pipe"
    assert read_spectrum(tmp_path / "sparky.bin").format == "ucsf"
    (tmp_path / "fake.ft2").write_text("not a spectrum\n" * 200)
    with pytest.raises(NmrpickError, match="not a NMRPipe file"):
        read_spectrum(tmp_path / "fake.ft2")


def test_pseudo3d_planes(tmp_path):
    base = small()
    stack = np.stack([base, 2 * base, 3 * base])
    path = write_pipe(tmp_path / "series.ft2", stack)
    spec = read_spectrum(path, plane=2)
    np.testing.assert_allclose(spec.data, 3 * base, rtol=1e-6)
    assert spec.plane == 2 and spec.labels == ("15N", "1H")
    dic, ref = ng.pipe.read(str(path))
    assert_ppm(spec, [ng.pipe.make_uc(dic, ref, dim=i) for i in (1, 2)])
    with pytest.raises(NmrpickError, match=r"3-D spectrum .*choose a 2-D plane"):
        read_spectrum(path)
    with pytest.raises(NmrpickError, match="plane 3 is out of range; the file has 3 planes"):
        read_spectrum(path, plane=3)
    with pytest.raises(NmrpickError, match="plane=0 given but the file is a 2-D"):
        read_spectrum(write_pipe(tmp_path / "flat.ft2", base), plane=0)
    # a UCSF 3-D plane uses the w2/w3 axes
    ucsf = tmp_path / "series.ucsf"
    ng.sparky.write(str(ucsf), ng.sparky.create_dic(make_udic(stack.shape)), stack)
    s3 = read_spectrum(ucsf, plane=1)
    dic, ref = ng.sparky.read(str(ucsf))
    assert_ppm(s3, [ng.sparky.make_uc(dic, ref, dim=i) for i in (1, 2)])


def test_uc_from_dic_matches_reader(tmp_path):
    data = small()
    paths = [write_pipe(tmp_path / "s.ft2", data), write_ucsf(tmp_path / "s.ucsf", data),
             write_bruker(tmp_path / "e" / "1", data), write_npy(tmp_path / "s.npy", data)]
    for p in paths:
        spec = read_spectrum(p)
        ucs = uc_from_dic(spec.dic, spec.data)
        for a, b in zip(ucs, spec.uc):
            assert a.ppm(3.5) == pytest.approx(b.ppm(3.5), abs=1e-9)
    with pytest.raises(NmrpickError, match="pass uc="):
        uc_from_dic({"something": 1}, data)


# --------------------------------------------------------------------------- #
# the shared real spectra, read in place
# --------------------------------------------------------------------------- #

REAL = [("arborinine_13C_hsqc", "14/pdata/1", "bruker"),
        ("deep_picker_15N_hsqc_crop", "plane001.ft2", "pipe"),
        ("fitnmr_t1_miniprotein_15N_hsqc", "1.ft2", "pipe"),
        ("relax_sod1_15N_hsqc", "128_0_FT.ft2", "pipe")]


@pytest.mark.parametrize("name,rel,fmt", REAL, ids=[r[0] for r in REAL])
def test_real_spectra(realdata, name, rel, fmt):
    folder = realdata / name
    manifest = json.loads((folder / "manifest.json").read_text())
    spec = read_spectrum(folder / rel)
    assert spec.format == fmt
    assert list(spec.labels) == manifest["axes"]
    if fmt == "bruker":
        dic, ref = ng.bruker.read_pdata(str(folder / rel), scale_data=True)
        udic = ng.bruker.guess_udic(dic, ref)
        ucs = [ng.fileiobase.uc_from_udic(udic, i) for i in range(2)]
    else:
        dic, ref = ng.pipe.read(str(folder / rel))
        ucs = [ng.pipe.make_uc(dic, ref, dim=i) for i in range(2)]
    assert spec.data.shape == ref.shape
    np.testing.assert_allclose(spec.data, ref.astype(np.float32))
    assert_ppm(spec, ucs)
    # the reference peaks' ppm and fractional points agree through our uc
    rows = [line.split(",") for line in (folder / "reference_peaks.csv").read_text().split()[1:]]
    for row in rows:
        for ax in (0, 1):
            assert spec.uc[ax].ppm(float(row[3 + ax])) == pytest.approx(float(row[1 + ax]),
                                                                        abs=5e-3)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #

def test_missing_and_unknown(tmp_path):
    with pytest.raises(NmrpickError, match="no such file or folder"):
        read_spectrum(tmp_path / "nothing.ft2")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(NmrpickError, match="unknown file format"):
        read_spectrum(tmp_path / "notes.txt")
    (tmp_path / "empty.ft2").write_bytes(b"")
    with pytest.raises(NmrpickError, match="empty file"):
        read_spectrum(tmp_path / "empty.ft2")
    (tmp_path / "x.pzst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(100))
    with pytest.raises(NmrpickError, match="POKY compressed"):
        read_spectrum(tmp_path / "x.pzst")
    os.mkfifo(tmp_path / "pipe.ft2")
    with pytest.raises(NmrpickError, match="not a regular file"):
        read_spectrum(tmp_path / "pipe.ft2")


def test_folders(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(NmrpickError, match="folder is not Bruker processed data"):
        read_spectrum(tmp_path / "plain")
    fid = tmp_path / "fidexp"
    fid.mkdir()
    (fid / "acqus").write_text("##TITLE= x\n##END=\n")
    (fid / "ser").write_bytes(bytes(64))
    with pytest.raises(NmrpickError, match="time-domain .*Fourier transformed"):
        read_spectrum(fid)
    with pytest.raises(NmrpickError, match="time-domain .*Fourier transformed"):
        read_spectrum(fid / "ser")
    exp = write_bruker(tmp_path / "e" / "1", small()).parent.parent
    shutil.move(exp / "pdata" / "1", exp / "pdata" / "2")
    with pytest.raises(NmrpickError, match="has no pdata/1; give one of .*pdata/2"):
        read_spectrum(exp)


def test_one_and_four_dimensional(tmp_path):
    one = tmp_path / "one.ft1"
    ng.pipe.write(str(one), ng.pipe.create_dic(make_udic((100,), AXES[1:])),
                  np.ones(100, np.float32))
    with pytest.raises(NmrpickError, match="1-D spectrum of 100 points"):
        read_spectrum(one)
    with pytest.raises(NmrpickError, match="1-D spectrum"):
        read_spectrum(write_bruker(tmp_path / "b1" / "1", np.arange(64.0)))
    np.save(tmp_path / "four.npy", np.zeros((2, 2, 8, 8), np.float32))
    (tmp_path / "four.json").write_text(json.dumps({"axes": npy_axes((2, 2, 8, 8), AXES * 2)}))
    with pytest.raises(NmrpickError, match="4-D spectrum"):
        read_spectrum(tmp_path / "four.npy")


def test_time_domain_and_complex(tmp_path):
    fid = tmp_path / "test.fid"
    udic = make_udic((16, 32), time=True, complex_=True)
    ng.pipe.write(str(fid), ng.pipe.create_dic(udic), np.ones((16, 32), np.complex64))
    with pytest.raises(NmrpickError, match=r"time-domain data \(FDF\dFTFLAG=0.*Fourier "
                                           "transformed and phased first"):
        read_spectrum(fid)
    cplx = tmp_path / "test.ft2"
    udic = make_udic((16, 32), complex_=True)
    ng.pipe.write(str(cplx), ng.pipe.create_dic(udic), np.ones((16, 32), np.complex64))
    with pytest.raises(NmrpickError, match=r"complex data \(FDF\dQUADFLAG=0.*imaginary"):
        read_spectrum(cplx)
    np.save(tmp_path / "c.npy", np.ones((8, 8), np.complex64))
    (tmp_path / "c.json").write_text(json.dumps({"axes": npy_axes((8, 8))}))
    with pytest.raises(NmrpickError, match="complex data"):
        read_spectrum(tmp_path / "c.npy")


def test_truncated_and_corrupt(tmp_path):
    data = small()
    pipe = write_pipe(tmp_path / "s.ft2", data).read_bytes()
    (tmp_path / "half.ft2").write_bytes(pipe[: len(pipe) // 2])
    with pytest.raises(NmrpickError, match="corrupt or truncated NMRPipe"):
        read_spectrum(tmp_path / "half.ft2")
    (tmp_path / "head.ft2").write_bytes(pipe[:1000])
    with pytest.raises(NmrpickError, match="truncated NMRPipe file"):
        read_spectrum(tmp_path / "head.ft2")
    ucsf = write_ucsf(tmp_path / "s.ucsf", data).read_bytes()
    (tmp_path / "half.ucsf").write_bytes(ucsf[: len(ucsf) // 2])
    with pytest.raises(NmrpickError, match="corrupt or truncated UCSF"):
        read_spectrum(tmp_path / "half.ucsf")
    # cut inside the headers: nmrglue raises struct.error there
    for n, match in ((100, r"\(100 bytes, shorter than its 180-byte file header\)"),
                     (300, r"\(300 bytes, shorter than its 436-byte header \(180 \+ 128")):
        (tmp_path / f"head{n}.ucsf").write_bytes(ucsf[:n])
        with pytest.raises(NmrpickError, match="truncated UCSF file " + match):
            read_spectrum(tmp_path / f"head{n}.ucsf")
    pdata = write_bruker(tmp_path / "e" / "1", data)
    raw = (pdata / "2rr").read_bytes()
    for wrong in (raw[: len(raw) // 2], raw + bytes(4096), raw[:-3], b""):
        (pdata / "2rr").write_bytes(wrong)
        with pytest.raises(NmrpickError, match="corrupt or truncated Bruker"):
            read_spectrum(pdata)
    npy = write_npy(tmp_path / "s.npy", data).read_bytes()
    (tmp_path / "half.npy").write_bytes(npy[: len(npy) // 2])
    shutil.copy(tmp_path / "s.json", tmp_path / "half.json")
    with pytest.raises(NmrpickError, match="corrupt or truncated .npy"):
        read_spectrum(tmp_path / "half.npy")


# --------------------------------------------------------------------------- #
# tables
# --------------------------------------------------------------------------- #

def some_peaks(spec):
    from nmrpick_ml import pick
    peaks = pick(spec.dic, spec.data, spec.uc)
    assert len(peaks) >= 1
    return peaks


def test_write_tab_nmrglue_reads_it(tmp_path):
    spec = read_spectrum(write_pipe(tmp_path / "s.ft2", small()))
    peaks = some_peaks(spec)
    out = write_table(tmp_path / "p.tab", peaks, spec)
    comments, formats, tab = ng.pipe.read_table(out)
    assert list(tab.dtype.names) == ["INDEX", "X_AXIS", "Y_AXIS", "X_PPM", "Y_PPM", "X_HZ",
                                     "Y_HZ", "XW", "YW", "XW_HZ", "YW_HZ", "HEIGHT", "VOL",
                                     "CLUSTID", "SCORE", "J_HZ", "N_LINES"]
    assert len(formats) == 17
    assert any(c.startswith("REMARK") for c in comments)
    assert any(c.startswith("DATA  X_AXIS 1H") for c in comments)
    np.testing.assert_allclose(tab["X_AXIS"], peaks.X_AXIS + 1, atol=1e-3)   # 1-based
    np.testing.assert_allclose(tab["Y_AXIS"], peaks.Y_AXIS + 1, atol=1e-3)
    np.testing.assert_allclose(tab["X_HZ"], spec.uc[1].hz(peaks.X_AXIS), atol=1e-3)
    np.testing.assert_allclose(tab["Y_PPM"], peaks.Y_PPM, atol=1e-5)
    np.testing.assert_allclose(tab["XW"], peaks.X_LW, atol=1e-3)
    back = read_table(out)                                        # our round trip
    assert back.dtype == PEAK_DTYPE
    for col in PEAK_DTYPE.names:
        np.testing.assert_allclose(back[col], peaks[col], rtol=1e-5, atol=1e-3, err_msg=col)
    assert sorted(os.listdir(tmp_path)) == ["p.tab", "s.ft2"]     # no temporary left


def test_write_empty_tables(tmp_path):
    spec = read_spectrum(write_pipe(tmp_path / "s.ft2", small()))
    for ext in ("tab", "list", "csv", "nef"):
        write_table(tmp_path / f"e.{ext}", empty_peaks(), spec)
    with pytest.warns(UserWarning):        # numpy: the table has no rows
        _, _, tab = ng.pipe.read_table(str(tmp_path / "e.tab"))
    assert tab.size == 0
    back = read_table(tmp_path / "e.tab")
    assert len(back) == 0 and back.dtype == PEAK_DTYPE
    assert len(read_table(tmp_path / "e.csv")) == 0


def test_write_list_csv_nef(tmp_path):
    import pandas as pd
    spec = read_spectrum(write_ucsf(tmp_path / "s.ucsf", small()))
    peaks = some_peaks(spec)
    # sparky list: w1 = axis 0
    lines = open(write_table(tmp_path / "p.list", peaks, spec)).read().splitlines()
    assert lines[0].split() == ["Assignment", "w1", "w2", "Data", "Height"] and lines[1] == ""
    rows = [r.split() for r in lines[2:]]
    assert len(rows) == len(peaks) and all(r[0] == "?-?" for r in rows)
    np.testing.assert_allclose([float(r[1]) for r in rows], peaks.Y_PPM, atol=1e-4)
    np.testing.assert_allclose([float(r[2]) for r in rows], peaks.X_PPM, atol=1e-4)
    # csv, also from a DataFrame, and with fmt= overriding the extension
    frame = pd.DataFrame.from_records(peaks)
    df = pd.read_csv(write_table(tmp_path / "p.txt", frame, spec, fmt="csv"))
    assert list(df.columns) == list(PEAK_DTYPE.names)
    np.testing.assert_allclose(df["X_PPM"], peaks.X_PPM)
    # nef: meta data, one spectrum saveframe, dimensions and peaks
    text = open(write_table(tmp_path / "p.nef", peaks, spec)).read()
    assert text.startswith("data_")
    assert "save_nef_nmr_meta_data" in text and "_nef_nmr_meta_data.format_version   1.1" in text
    assert text.count("save_nef_nmr_spectrum_s\n") == 1
    assert text.count("\nsave_\n") == 2
    loops = text.split("loop_")[1:]
    dims = [ln.split() for ln in loops[0].split("stop_")[0].splitlines()
            if ln.strip() and not ln.strip().startswith("_")]
    assert [d[:3] for d in dims] == [["1", "ppm", "15N"], ["2", "ppm", "1H"]]
    assert [d[-1] for d in dims] == ["false", "true"]                 # is_acquisition
    tags = [ln.strip() for ln in loops[1].splitlines() if ln.strip().startswith("_nef_peak.")]
    rows = [ln.split() for ln in loops[1].split("stop_")[0].splitlines()
            if ln.strip() and not ln.strip().startswith("_")]
    assert len(rows) == len(peaks) and all(len(r) == len(tags) for r in rows)
    col = {t.split(".")[1]: i for i, t in enumerate(tags)}
    np.testing.assert_allclose([float(r[col["position_1"]]) for r in rows], peaks.Y_PPM, atol=1e-5)
    np.testing.assert_allclose([float(r[col["position_2"]]) for r in rows], peaks.X_PPM, atol=1e-5)
    with pytest.raises(NmrpickError, match="needs `spectrum`"):
        write_table(tmp_path / "q.nef", peaks)


def test_write_refusals(tmp_path):
    path = write_pipe(tmp_path / "s.ft2", small())
    spec = read_spectrum(path)
    peaks = some_peaks(spec)
    before = path.read_bytes()
    with pytest.raises(NmrpickError, match="output path is the input"):
        write_table(path, peaks, spec, fmt="tab")
    assert path.read_bytes() == before
    pdata = write_bruker(tmp_path / "e" / "1", small())
    with pytest.raises(NmrpickError, match="output path is the input"):
        write_table(pdata / "procs", peaks, read_spectrum(pdata), fmt="tab")
    with pytest.raises(NmrpickError, match="unknown output format '.xyz'"):
        write_table(tmp_path / "p.xyz", peaks)
    with pytest.raises(NmrpickError, match="unknown output format 'xml'"):
        write_table(tmp_path / "p.tab", peaks, fmt="xml")
    with pytest.raises(NmrpickError, match="output folder .* does not exist"):
        write_table(tmp_path / "nowhere" / "p.tab", peaks)
    with pytest.raises(NmrpickError, match="is a folder"):
        write_table(tmp_path, peaks, fmt="tab")
    with pytest.raises(NmrpickError, match="lacks the column"):
        write_table(tmp_path / "p.tab", peaks[["Y_AXIS", "X_AXIS"]])
    assert not (tmp_path / "p.tab").exists()
