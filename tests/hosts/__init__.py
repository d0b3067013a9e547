"""Test doubles of the two host programs of the nmrpick-ml macros.

Built only from /work/shared/hosts.md (the facts gathered about POKY and CCPN
Analysis v3).  The doubles are strict: an attribute, method or keyword that is
not in hosts.md raises ``AttributeError``/``TypeError`` here as it would (or
might) in the real program, so a macro cannot pass by using an invented call.

Modules
-------
spectra
    Real small 15N/1H HSQC files (``.ucsf`` and NMRPipe ``.ft2``) with known peaks.
poky_double
    ``Session``/``Project``/``Spectrum``/``Peak`` of POKY, backed by a ``.ucsf``.
ccpn_double
    The console namespace of CCPN Analysis 3.0 / 3.1 / 3.2 (``project``,
    ``current``, ``showWarning``, ...) backed by an NMRPipe or UCSF file, with
    project-level re-referencing.
fakes/
    Importable stand-ins for the ``ccpn`` modules the CCPN macro imports
    (``ccpn.core.lib.ContextManagers.undoBlock`` and
    ``ccpn.core.lib.PeakPickers.PeakPickerABC``); ``ccpn_double`` puts this
    folder on ``sys.path``.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
FAKES = os.path.join(HERE, "fakes")
