"""Fake ``ccpn.core.lib.ContextManagers``: only ``undoBlock``.

The state records how many outermost undo blocks were opened and whether one is
open now, so the CCPN double can tell whether a peak was made inside one.
"""

from contextlib import contextmanager

_STATE = {"depth": 0, "blocks": 0}


@contextmanager
def undoBlock(application=None):
    """One undoable step: everything made inside is undone together."""
    _STATE["depth"] += 1
    if _STATE["depth"] == 1:
        _STATE["blocks"] += 1
    try:
        yield
    finally:
        _STATE["depth"] -= 1


def _open_block():
    """Number of the outermost block open now, or None outside any block."""
    return _STATE["blocks"] if _STATE["depth"] else None


def _reset():
    _STATE["depth"] = 0
    _STATE["blocks"] = 0
