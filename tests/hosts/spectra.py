"""Small real 15N/1H HSQC files with known peaks, written with nmrglue.

Numpy axis 0 is 15N (indirect; UCSF w1; NMRPipe Y; CCPN dimension 2) and axis 1
is 1H (direct; UCSF w2; NMRPipe X; CCPN dimension 1).  The grid is coarse on
purpose (0.25 ppm per 15N point, 0.03125 ppm per 1H point) so that a result
one point off fails the 0.2 / 0.02 ppm tolerances.  Peaks sit on grid points.
"""

from dataclasses import dataclass, field

import numpy as np

# (15N point, 1H point), 0-based, and relative amplitude
PEAKS = [((20, 80), 1.00), ((30, 150), 0.80), ((45, 110), 0.90), ((60, 190), 0.70),
         ((75, 95), 0.85), ((90, 170), 0.95), ((105, 130), 0.75)]
AMPLITUDE = 1.0e6
NOISE = 2.0e3                      # SNR >= 350
FWHH = (3.0, 4.0)                  # points (15N, 1H)

# per numpy axis: label, points, spectrometer MHz, sweep width ppm, centre ppm
AXES = (("15N", 128, 60.8, 32.0, 118.0), ("1H", 512, 600.0, 16.0, 4.7))


@dataclass
class Hsqc:
    """A written spectrum: its path, format, data and true peaks."""
    path: str
    fmt: str                       # "ucsf" or "pipe"
    dic: dict
    data: np.ndarray
    points: list = field(default_factory=lambda: [p for p, _ in PEAKS])

    @property
    def axes(self):
        """Per numpy axis: dict(label, n, obs, sw_ppm, sw_hz, first_ppm, ppm_per_point)."""
        out = []
        for label, n, obs, sw_ppm, centre in AXES:
            out.append(dict(label=label, n=n, obs=obs, sw_ppm=sw_ppm, sw_hz=sw_ppm * obs,
                            first_ppm=centre + sw_ppm / 2.0, ppm_per_point=sw_ppm / n))
        return out

    def file_ppm(self):
        """True peaks as (15N ppm, 1H ppm) from the file's own referencing."""
        import nmrglue as ng
        mod = ng.sparky if self.fmt == "ucsf" else ng.pipe
        ucs = [mod.make_uc(self.dic, self.data, dim) for dim in (0, 1)]
        return [(ucs[0].ppm(i), ucs[1].ppm(j)) for i, j in self.points]


def _udic():
    import nmrglue as ng
    udic = ng.fileiobase.create_blank_udic(2)
    for k, (label, n, obs, sw_ppm, centre) in enumerate(AXES):
        udic[k].update(size=n, complex=False, encoding="states" if k == 0 else "direct",
                       sw=sw_ppm * obs, obs=obs, car=centre * obs, label=label,
                       time=False, freq=True)
    return udic


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    shape = (AXES[0][1], AXES[1][1])
    data = rng.normal(0.0, NOISE, shape)
    y = np.arange(shape[0])[:, None]
    x = np.arange(shape[1])[None, :]
    k = 4.0 * np.log(2.0)
    for (py, px), amp in PEAKS:
        data += AMPLITUDE * amp * np.exp(-k * ((y - py) / FWHH[0]) ** 2 - k * ((x - px) / FWHH[1]) ** 2)
    return data.astype(np.float32)


def write_hsqc(path, fmt, seed=0):
    """Write the HSQC as ``fmt`` ("ucsf" or "pipe") to ``path``; return an Hsqc."""
    import nmrglue as ng
    data = make_data(seed)
    udic = _udic()
    if fmt == "ucsf":
        dic = ng.sparky.create_dic(udic)
        ng.sparky.write(str(path), dic, data, overwrite=True)
        dic, data = ng.sparky.read(str(path))
    elif fmt == "pipe":
        dic = ng.pipe.create_dic(udic)
        ng.pipe.write(str(path), dic, data, overwrite=True)
        dic, data = ng.pipe.read(str(path))
    else:
        raise ValueError("fmt must be 'ucsf' or 'pipe'; got %r" % (fmt,))
    return Hsqc(str(path), fmt, dic, data)
