"""Exception types of nmrpick-ml.

The API raises these (never click types); ``cli.py`` turns them into a one-line
``Error: ...`` message and exit code 2.
"""

import re


class NmrpickError(ValueError):
    """Bad input or a file that cannot be used (a subclass of ValueError)."""


class NmrpickTypeError(NmrpickError, TypeError):
    """An argument of the wrong type: an :class:`NmrpickError` (so the command line
    reports it in one line) that is also a TypeError."""


class ModelIntegrityError(NmrpickError):
    """A weights file is truncated, tampered with, or not a model state_dict."""


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text):
    """``text`` as one printable line: control characters become ``\\n``, ``\\x1b``...,
    and the undecodable bytes of a file name (Python's surrogate escapes) ``\\xff``.

    Used for every file name that goes into a message or a table comment, so that a
    name holding a newline or invalid UTF-8 neither breaks the line nor the encoder.

    Examples
    --------
    >>> printable("a\\nb.ft2"), printable("caf\\udce9.ft2"), printable("ok.ft2")
    ('a\\\\nb.ft2', 'caf\\\\xe9.ft2', 'ok.ft2')
    """
    s = str(text)
    if not _UNPRINTABLE.search(s):
        return s

    def esc(m):
        ch = m.group()
        o = ord(ch)
        if ch in _NAMED:
            return _NAMED[ch]
        if 0xDC80 <= o <= 0xDCFF:             # a byte that was not valid UTF-8
            return f"\\x{o - 0xDC00:02x}"
        return f"\\u{o:04x}" if o > 0xFF else f"\\x{o:02x}"
    return _UNPRINTABLE.sub(esc, s)
