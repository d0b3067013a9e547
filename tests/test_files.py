"""The one atomic-write helper (nmrpick_ml.files): temp file, cleanup, special files."""

import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from nmrpick_ml import NmrpickError
from nmrpick_ml.files import atomic_write, atomic_write_text, check_target, transaction

REPO = Path(__file__).resolve().parents[1]


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def _tmp_leftovers(before, target=None):
    """New entries in the temp folder, or (``target``) the package's temporary
    names (``.NAME.*.part``, ``.nmrpick-ml-probe.*``) beside ``target``: other
    processes may write to a shared /tmp at the same time."""
    if target is None:
        return sorted(set(os.listdir(tempfile.gettempdir())) - before)
    folder, name = os.path.split(target)
    return sorted(n for n in set(os.listdir(folder)) - before
                  if n.startswith((f".{name}.", ".nmrpick-ml-probe.")))


def test_replaces_whole_file_keeps_mode_and_leaves_nothing(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    p.chmod(0o640)
    assert atomic_write_text(p, "new\n") == str(p)
    assert p.read_text() == "new\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")

    def half(tmp):
        Path(tmp).write_text("partial")
        raise RuntimeError("writer failed")
    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write(p, half)
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_symlink_to_regular_file_keeps_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.txt", "real.txt"]


def test_transaction_writes_all_or_none(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    with pytest.raises(ZeroDivisionError):
        with transaction():
            atomic_write_text(a, "a")
            atomic_write_text(b, "b")
            assert os.path.exists(a) is False       # staged, not yet in place
            1 / 0
    assert os.listdir(tmp_path) == []
    with transaction():
        atomic_write_text(a, "a")
        atomic_write_text(b, "b")
    assert a.read_text() == "a" and b.read_text() == "b"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_dev_null_and_character_devices_are_written_through():
    before = set(os.listdir("/dev"))
    atomic_write_text("/dev/null", "table\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _tmp_leftovers(before, "/dev/null") == []


def test_full_device_says_the_disk_is_full():
    before = set(os.listdir("/dev"))
    with pytest.raises(NmrpickError, match=r"/dev/full: cannot write \(no space left on the "
                                           r"disk \(the disk is full\)\)"):
        atomic_write_text("/dev/full", "x" * 10000)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert _tmp_leftovers(before, "/dev/full") == []


def test_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, "through the pipe\n")
    reader.join(10)
    assert got == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert os.listdir(tmp_path) == ["pipe"]


def test_symlink_to_proc_fd_and_dash_go_to_stdout(tmp_path):
    link = tmp_path / "out.tab"
    link.symlink_to("/proc/self/fd/1")
    code = ("import sys; from nmrpick_ml.files import atomic_write_text as w; "
            f"w({str(link)!r}, 'via link\\n'); w('-', 'via dash\\n')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "via link\nvia dash\n"
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"
    assert os.listdir(tmp_path) == ["out.tab"]


def test_block_device_is_refused(tmp_path):
    node = tmp_path / "blk"
    try:
        os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 200))
    except (PermissionError, OSError):
        pytest.skip("cannot make a block device node here (not root)")
    with pytest.raises(NmrpickError, match="is a block device"):
        check_target(node)
    with pytest.raises(NmrpickError, match="is a block device"):
        atomic_write_text(node, "x")
    assert stat.S_ISBLK(os.lstat(node).st_mode)


def test_check_target_refusals(tmp_path):
    with pytest.raises(NmrpickError, match=r"file name too long \(300 bytes"):
        check_target(tmp_path / ("x" * 296 + ".tab"))
    with pytest.raises(NmrpickError, match="does not exist"):
        check_target(tmp_path / "nowhere" / "a.tab")
    with pytest.raises(NmrpickError, match="is a folder"):
        check_target(tmp_path)
    with pytest.raises(NmrpickError, match="cannot write in output folder"):
        check_target("/proc/a.tab")
    assert check_target("-") is True and check_target(tmp_path / "a.tab") is False
    assert os.listdir(tmp_path) == []


def test_full_disk_removes_the_temporary_file(small_disk):
    p = small_disk / "big.txt"
    p.write_text("old")
    with pytest.raises(NmrpickError, match=r"big.txt: cannot write \(no space left on the disk"):
        atomic_write_text(p, "x" * 1_000_000)
    assert os.listdir(small_disk) == ["big.txt"] and p.read_text() == "old"


_SLOW_WRITER = """
import sys, time
from pathlib import Path
from nmrpick_ml.files import atomic_write, transaction
def slow(tmp):
    with open(tmp, "w") as fh:
        fh.write("partial")
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
if sys.argv[2] == "transaction":
    with transaction():
        atomic_write(sys.argv[1] + "/a.txt", lambda t: Path(t).write_text("done"))
        atomic_write(sys.argv[1] + "/b.txt", slow)
else:
    atomic_write(sys.argv[1] + "/a.txt", slow)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
@pytest.mark.parametrize("how", ["single", "transaction"])
def test_signal_during_write_leaves_nothing(tmp_path, sig, how):
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(tmp_path), how],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), text=True)
    try:
        assert proc.stdout.readline() == "writing\n"
        assert len(os.listdir(tmp_path)) == (2 if how == "transaction" else 1)   # temp files
        proc.send_signal(sig)
        proc.wait(30)
    finally:
        proc.kill()
        proc.wait()
    assert os.listdir(tmp_path) == []
    assert proc.returncode == -sig      # ended by the signal, as without the cleanup


def test_signal_outside_a_write_keeps_the_default_handler():
    before = signal.getsignal(signal.SIGTERM)
    atomic_write_text("/dev/null", "x")
    with transaction():
        atomic_write_text("/dev/null", "y")
    assert signal.getsignal(signal.SIGTERM) == before
