"""Start-up: what reading and picking import, and that nothing is lost by deferring it."""

import subprocess
import sys

import numpy as np
from scipy.stats import chi2

from conftest import TRUTH, gaussian_spectrum, write_pipe
from nmrpick_ml import _noise

#: scipy packages that cost most of a second to import and that reading a
#: spectrum does not need (nmrglue's package import pulls them in).
HEAVY = ("scipy.signal", "scipy.optimize", "scipy.interpolate", "scipy.stats")

_PROBE = """
import sys
from nmrpick_ml.io import read_spectrum
s = read_spectrum(sys.argv[1])
print(s.shape, ' '.join(m for m in %r if m in sys.modules) or 'none')
import nmrglue as ng
import numpy as np
x = np.arange(16.0) + 1j
assert np.allclose(ng.proc_base.fft(x), np.fft.fftshift(np.fft.fft(x)))
from nmrglue.analysis import peakpick
assert peakpick is ng.peakpick
d = np.zeros((32, 32)); d[10, 20] = 5.0
print(ng.peakpick.pick(d, 1.0)[0]['X_AXIS'], ng.proc_autophase.autops.__name__)
""" % (HEAVY,)


def test_reading_imports_no_heavy_scipy_and_nmrglue_stays_whole(tmp_path):
    path = write_pipe(tmp_path / "s.ft2", gaussian_spectrum((64, 128), TRUTH[:2], seed=3))
    p = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.strip().splitlines()
    assert first == "(64, 128) none"
    assert second == "20.0 autops"      # the deferred modules run, and work, when used


def test_noise_chi2_constant_is_scipys():
    assert _noise.PLANE_DOF == 64 - 3
    assert abs(_noise.CHI2_Q25 - chi2.ppf(0.25, _noise.PLANE_DOF)) < 1e-9
    rng = np.random.default_rng(0)
    assert abs(_noise.estimate_noise(rng.normal(0, 3.0, (512, 512))) / 3.0 - 1) < 0.02
