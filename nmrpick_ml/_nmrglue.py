"""Import nmrglue without the scipy start-up cost its package import pays.

``import nmrglue`` runs the package's ``__init__``, which imports every
submodule, and with them ``scipy.signal``, ``scipy.optimize``,
``scipy.interpolate``, ``scipy.ndimage`` and ``scipy.special``: about a
second of CPU on a laptop (``python -X importtime -c "import nmrglue"``),
on every start of the command line and of the POKY and CCPN macros, while
reading a spectrum needs only ``nmrglue.fileio`` (pure numpy).

:func:`import_nmrglue` imports nmrglue with its processing and analysis
modules (:data:`DEFERRED`) made *deferred*: each is registered under its own
name before the package import and executes on the first access to one of its
attributes (``ng.proc_base.fft``, ``ng.peakpick.pick``), exactly as it would
have at import time. Everything of nmrglue stays where it is and works; only
when its scipy is imported changes. Where nmrglue is already imported (e.g. by
a macro's host), it is returned as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
import types

__all__ = ["import_nmrglue", "DEFERRED"]

#: nmrglue's modules that import scipy at their top level (nmrglue 0.12), and
#: those that import names from them; each runs on its first use.
DEFERRED = (
    "process.proc_base", "process.proc_bl", "process.proc_lp", "process.proc_autophase",
    "process.pipe_proc",
    "analysis.leastsqbound", "analysis.segmentation", "analysis.peakpick", "analysis.linesh",
    "analysis.lineshapes1d",
)

_LOCK = threading.RLock()


class _Deferred(types.ModuleType):
    """A module whose code runs on the first access to an attribute it lacks.

    The import system's own attributes (``__spec__``, ``__name__``, ...) are
    set from the start, so ``import`` and ``from ... import`` statements that
    name the module do not run it; the first other attribute does.
    """

    def __getattr__(self, name):
        with _LOCK:
            if type(self) is _Deferred:         # not run yet (or another thread ran it)
                self.__class__ = types.ModuleType
                try:
                    self.__spec__.loader.exec_module(self)
                except BaseException:
                    sys.modules.pop(self.__name__, None)
                    raise
        return getattr(self, name)


def import_nmrglue():
    """The ``nmrglue`` package, imported with :data:`DEFERRED` modules deferred.

    Returns
    -------
    module
        ``nmrglue`` (the real package; ``sys.modules["nmrglue"]``).
    """
    if "nmrglue" in sys.modules:
        return sys.modules["nmrglue"]
    with _LOCK:
        if "nmrglue" not in sys.modules:
            spec = importlib.util.find_spec("nmrglue")   # finds it, does not import it
            root = os.path.dirname(spec.origin) if spec and spec.origin else None
            for sub in DEFERRED if root else ():
                name = f"nmrglue.{sub}"
                path = os.path.join(root, *sub.split(".")) + ".py"
                if name in sys.modules or not os.path.isfile(path):
                    continue
                mspec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(mspec)
                module.__class__ = _Deferred
                sys.modules[name] = module
            try:
                importlib.import_module("nmrglue")
            except BaseException:
                for sub in DEFERRED:
                    if type(sys.modules.get(f"nmrglue.{sub}")) is _Deferred:
                        del sys.modules[f"nmrglue.{sub}"]
                raise
    return sys.modules["nmrglue"]
