"""Writing files safely: the one way nmrpick-ml writes a file.

:func:`atomic_write` is used for every file the package writes (peak tables,
plots, JSON summaries, model weights, ``config.json``, the weights registry,
synthetic spectra, benchmark reports):

* a regular file is written to a hidden temporary file in the same folder,
  flushed to disk (``fsync``) and then moved over the target with
  ``os.replace``, so the target is either the old file or the complete new one;
  a symbolic link to a regular file keeps the link and replaces its target;
* the temporary file is removed on any error, on Ctrl-C (SIGINT) and on SIGTERM
  or SIGHUP (the signal then ends the process as it would have);
* a full disk (ENOSPC, EDQUOT) and other OS errors become one
  :class:`~nmrpick_ml.NmrpickError` naming the file and the reason;
* ``-`` is standard output, and a character device (``/dev/null``, a
  terminal), a FIFO or an open file descriptor's path (``/dev/stdout``,
  ``/proc/self/fd/1``, or a symbolic link to one of them) is written through:
  the node is opened and written, never replaced by a regular file; block
  devices and sockets are refused.

Inside ``with transaction():`` the writes are staged (each one complete and
flushed in its temporary file) and all moved into place when the block ends
without error; an error or a signal inside the block leaves no file written.

:func:`check_target` makes the same checks before any work (folder exists,
name not too long, folder writable, not a folder, not a block device).
Nothing here imports numpy or torch.
"""

import contextlib
import errno
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading

from ._errors import NmrpickError

__all__ = ["STDOUT", "atomic_write", "atomic_write_text", "transaction", "cleanup_on_signals",
           "check_target", "is_write_through"]

#: The path that means standard output.
STDOUT = "-"
#: Signals during which a write cleans up, then ends the process as the signal would.
CLEANUP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
#: Paths of open file descriptors: written through, whatever they point at.
_FD_PATH = re.compile(r"/(proc/(self|thread-self|\d+)/fd/\d+|dev/(stdout|stderr|fd/\d+))")
_state = threading.local()


class _Signalled(BaseException):
    """Raised by the temporary signal handler inside a write."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# --------------------------------------------------------------------------- #
# what a path is
# --------------------------------------------------------------------------- #

def _display(path):
    return "standard output" if os.fspath(path) == STDOUT else os.fspath(path)


def _link_chain(path):
    """The absolute paths a chain of symbolic links at ``path`` passes through."""
    p = os.path.abspath(os.fspath(path))
    chain = [p]
    for _ in range(40):
        if not os.path.islink(p):
            break
        try:
            p = os.path.normpath(os.path.join(os.path.dirname(p), os.readlink(p)))
        except OSError:
            break
        chain.append(p)
    return chain


def is_write_through(path):
    """True when ``path`` is written through rather than replaced.

    That is standard output (``-``), a character device or FIFO (or a link to
    one), or an open file descriptor's path (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``, or a link to one).

    Raises
    ------
    NmrpickError
        A block device or a socket (or a link to one).
    """
    path = os.fspath(path)
    if path == STDOUT:
        return True
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return True
        kind = "a block device" if stat.S_ISBLK(st.st_mode) else "a socket or other special file"
        raise NmrpickError(f"{path}: is {kind}; refusing to write a file there")
    return any(_FD_PATH.fullmatch(p) for p in _link_chain(path))


def _name_max(folder):
    try:
        return os.pathconf(folder or ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_target(path, what="output"):
    """Check, before any work, that ``path`` can be written.

    Parameters
    ----------
    path : str or path-like
        The file to write, or ``-`` for standard output.
    what : str
        What the file is, for messages (``"output"``, ``"--plot"``...).

    Returns
    -------
    write_through : bool
        True for standard output and special files (see :func:`is_write_through`).

    Raises
    ------
    NmrpickError
        The path is empty, a folder, a block device or socket; its folder does not
        exist or cannot be written; its name is too long for the file system.
    """
    path = os.fspath(path)
    if path == STDOUT:
        return True
    if not path:
        raise NmrpickError(f"{what}: empty file name")
    if "\x00" in path:
        raise NmrpickError(f"{what} {path!r}: file name holds a NUL character")
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise NmrpickError(f"{path}: is a folder, not an {what} file name")
    through = is_write_through(path)
    if through:
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise NmrpickError(f"{path}: permission denied (cannot write it)")
        return True
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise NmrpickError(f"{path}: {what} folder {os.path.dirname(path) or '.'!r} does "
                           "not exist")
    name = os.fsencode(os.path.basename(real))
    limit = _name_max(folder)
    if len(name) > limit:
        raise NmrpickError(f"{_short(path)}: file name too long ({len(name)} bytes; this "
                           f"file system allows {limit})")
    if len(os.fsencode(real)) >= 4096:
        raise NmrpickError(f"{_short(path)}: path too long ({len(os.fsencode(real))} bytes)")
    try:                                      # the real test: can a file be made there?
        fd, probe = tempfile.mkstemp(prefix=".nmrpick-ml-probe.", dir=folder)
    except OSError as exc:
        raise NmrpickError(f"{_short(path)}: cannot write in {what} folder "
                           f"{os.path.dirname(path) or '.'!r} ({_why(exc)})") from None
    os.close(fd)
    os.unlink(probe)
    return False


def _short(path, n=80):
    s = os.fspath(path)
    return s if len(s) <= n else s[:n // 2] + "..." + s[-n // 2:]


def _why(exc):
    """The reason of an OSError, in words."""
    code = getattr(exc, "errno", None)
    return {
        errno.ENOSPC: "no space left on the disk (the disk is full)",
        getattr(errno, "EDQUOT", -1): "disk quota exceeded (the disk is full for you)",
        errno.EROFS: "read-only file system",
        errno.ENAMETOOLONG: "file name too long",
        errno.EFBIG: "file too large for the file system",
        errno.EPIPE: "the reader closed the output (broken pipe)",
        errno.ENOENT: "its folder does not exist",
    }.get(code) or (exc.strerror or str(exc))


def _os_error(path, exc):
    """An OSError while writing ``path`` as one NmrpickError."""
    why = _why(exc)
    return NmrpickError(f"{_short(_display(path))}: cannot write ({why}); nothing was written")


# --------------------------------------------------------------------------- #
# signals
# --------------------------------------------------------------------------- #

def _raise_signalled(signum, frame):
    raise _Signalled(signum)


@contextlib.contextmanager
def cleanup_on_signals():
    """While inside, SIGTERM/SIGHUP raise an exception (when their handler is the
    default one and this is the main thread), so that ``except``/``finally``
    blocks clean up; the outermost block then re-sends the signal, so the
    process ends as it would have. :func:`atomic_write` and :func:`transaction`
    use it; a caller waiting on worker processes can too (to stop them)."""
    depth = getattr(_state, "depth", 0)
    installed = {}
    if depth == 0 and threading.current_thread() is threading.main_thread():
        for s in CLEANUP_SIGNALS:
            try:
                if signal.getsignal(s) == signal.SIG_DFL:
                    installed[s] = signal.signal(s, _raise_signalled)
            except (ValueError, OSError):
                pass
    _state.depth = depth + 1
    try:
        yield
    except _Signalled as exc:
        if depth:
            raise
        _restore(installed)
        installed = {}
        signal.signal(exc.signum, signal.SIG_DFL)
        os.kill(os.getpid(), exc.signum)
        raise SystemExit(128 + exc.signum) from None   # if the signal is blocked
    finally:
        _state.depth = depth
        _restore(installed)


def _restore(installed):
    for s, prev in installed.items():
        try:
            signal.signal(s, prev)
        except (ValueError, OSError):
            pass


@contextlib.contextmanager
def _signals_blocked():
    """Hold SIGINT/SIGTERM/SIGHUP back while cleaning up (delivered after)."""
    sigs = {signal.SIGINT, *CLEANUP_SIGNALS}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, ValueError, OSError):
        old = None
    try:
        yield
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #

def _fsync(path, directory=False):
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _stage(path, write_fn):
    """Write ``write_fn``'s file to a temporary path; return the commit record."""
    path = os.fspath(path)
    through = is_write_through(path)
    if through:
        folder, target, mode = None, path, None      # the default temp folder
    else:
        target = os.path.realpath(path)              # a link keeps pointing at the file
        folder = os.path.dirname(target)
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    # plain characters only: writers such as nmrglue's read a '%' as a plane template
    name = re.sub(r"[^\w.-]", "_", os.path.basename(target)[:64]) if not through \
        else "nmrpick-ml-out"
    tmp = None
    try:
        with _signals_blocked():                     # no signal between create and record
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
        os.close(fd)
        write_fn(tmp)
        _fsync(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException as exc:
        with _signals_blocked():
            if tmp is not None:
                _remove(tmp)
        if isinstance(exc, OSError):
            raise _os_error(path, exc) from exc
        raise
    return (path, target, tmp, through)


def _commit(record):
    path, target, tmp, through = record
    try:
        if not through:
            os.replace(tmp, target)
            _fsync(os.path.dirname(target), directory=True)
            return
        with open(tmp, "rb") as src:
            if path == STDOUT:
                out = getattr(sys.stdout, "buffer", None)
                if out is None:                       # a text-only replacement stream
                    sys.stdout.write(src.read().decode("utf-8", "replace"))
                else:
                    sys.stdout.flush()
                    shutil.copyfileobj(src, out)
                    out.flush()
                sys.stdout.flush()
            else:
                with open(target, "wb") as dst:      # write through: the node stays
                    shutil.copyfileobj(src, dst)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    finally:
        if through or os.path.lexists(tmp):
            _remove(tmp)


def atomic_write(path, write_fn):
    """Write a file atomically: ``write_fn(tmp)`` writes it, then it is moved into place.

    Parameters
    ----------
    path : str or path-like
        The file to write; ``-`` is standard output. A character device, FIFO,
        or an open file descriptor's path (``/dev/stdout``, ``/proc/self/fd/1``)
        is written through (the node is never replaced).
    write_fn : callable
        ``write_fn(tmp_path)`` writes the whole content to ``tmp_path`` (a
        temporary file in the target's folder, already created, empty).

    Returns
    -------
    path : str
        ``path`` as given.

    Raises
    ------
    NmrpickError
        The disk is full, the folder cannot be written, the name is too long, ...
        (the temporary file is removed first). Exceptions of ``write_fn`` pass
        through, after the cleanup.

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> _ = atomic_write(p, lambda tmp: open(tmp, "w").write("hello\\n"))
    >>> open(p).read(), sorted(os.listdir(os.path.dirname(p)))
    ('hello\\n', ['a.txt'])
    """
    with cleanup_on_signals():
        record = _stage(path, write_fn)
        staged = getattr(_state, "staged", None)
        if staged is not None:                        # inside transaction(): commit later
            staged.append(record)
            return os.fspath(path)
        try:
            _commit(record)
        except BaseException:
            with _signals_blocked():
                _remove(record[2])
            raise
    return os.fspath(path)


def atomic_write_text(path, text, encoding="utf-8"):
    """:func:`atomic_write` of a string (UTF-8 by default)."""
    def write(tmp):
        with open(tmp, "w", encoding=encoding) as fh:
            fh.write(text)
    return atomic_write(path, write)


@contextlib.contextmanager
def transaction():
    """Stage every :func:`atomic_write` inside the block and commit them at its end.

    On an exception or a signal inside the block every staged temporary file
    is removed and no target is touched. Nested blocks join the outer one.

    Examples
    --------
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> try:
    ...     with transaction():
    ...         _ = atomic_write(os.path.join(d, "a.txt"), lambda t: open(t, "w").write("a"))
    ...         raise RuntimeError("later failure")
    ... except RuntimeError:
    ...     pass
    >>> os.listdir(d)
    []
    """
    if getattr(_state, "staged", None) is not None:
        yield
        return
    with cleanup_on_signals():
        _state.staged = staged = []
        try:
            yield
            _state.staged = None
            # written-through outputs first: they can block (a FIFO) or fail (a full
            # device) while the regular files still wait in their temporary files
            staged.sort(key=lambda r: not r[3])
            for i, record in enumerate(staged):
                try:
                    _commit(record)
                except BaseException:
                    with _signals_blocked():
                        for r in staged[i:]:
                            _remove(r[2])
                    raise
        except BaseException:
            with _signals_blocked():
                for r in staged:
                    _remove(r[2])
            raise
        finally:
            _state.staged = None
