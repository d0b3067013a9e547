"""The defaults that the API, ``--help`` and the README quote: one source.

Standard library only (``nmrpick-ml --help`` imports it without numpy). The
score threshold of the Mask R-CNN is the shipped model's own, read from
``weights/config.json``. The README's table of defaults is generated from
:func:`defaults_table` (``python benchmarks/update_readme.py`` rewrites it
between its markers) and a test compares the two.
"""

import json
import re
from importlib import resources

__all__ = ["DEFAULT_METHOD", "DEFAULT_SNR", "MODEL_SNR", "DEFAULT_TILE", "DEFAULT_OVERLAP",
           "INFERENCE_TILE", "MAX_TILE", "MULTIPLETS", "CONTOUR_START", "NEGATIVE_WARN_SNR", "model_score_threshold",
           "defaults_table",
           "update_readme"]

#: Picking method when none is given.
DEFAULT_METHOD = "maskrcnn"
#: Threshold of the threshold picker (``method='nmrglue'``), times the robust noise.
DEFAULT_SNR = 8.0
#: Threshold of the Mask R-CNN, times the noise: only a floor (the network and
#: its calibrated score decide what is a peak), low enough to keep 5-8 sigma peaks.
MODEL_SNR = 3.0
#: Mask R-CNN tile size and overlap, points (the training tile).
DEFAULT_TILE, DEFAULT_OVERLAP = 128, 24
#: Tile the shipped model runs at inference (``weights/config.json`` ``tile``; the
#: network is fully convolutional, so larger tiles run, and ``tiling.fit_tile``
#: never goes below DEFAULT_TILE). The area searched is chosen on the training
#: tile's grid whatever the tile (``tiling.ActiveGrid``). Measured with model v1 (256
#: against 128: arborinine 15 picks both, bench spectra F1 mean 0.9351 against 0.9353 but
#: -0.031 on a processed small-molecule spectrum) and with an interim model v2 (realistic
#: spectra slightly worse at 256): the shipped model runs at its training tile.
INFERENCE_TILE = 128
#: J-multiplets of the direct axis: one pick at the centre ("merge") or each line
#: ("keep"); merge measured better on the processed small-molecule 13C spectra
#: (benchmarks/results/rules.md); "auto" merges them except where the indirect nucleus
#: is 15N (amide 1H couplings are seldom resolved: two maxima on one 15N row are two
#: residues; with model v2 merging cost the realistic 15N spectra up to 0.0085 F1 against
#: the rules off, auto 0.0045, and changed no processed protein spectrum): rules.multiplet_mode.
MULTIPLETS = "auto"
#: Largest tile (points): the network's memory grows with its square (--tile 100000
#: would ask 112 GiB).
MAX_TILE = 1024
#: Lowest contour of ``--plot``, times the noise.
CONTOUR_START = 5.0
#: Unpicked negative peaks stronger than this (times the noise) raise a warning.
NEGATIVE_WARN_SNR = 20.0

_START, _END = "<!-- defaults:start -->", "<!-- defaults:end -->"


def model_score_threshold():
    """The shipped model's score threshold (``score_thresh`` of ``weights/config.json``).

    Examples
    --------
    >>> 0 < model_score_threshold() < 1
    True
    """
    path = resources.files("nmrpick_ml").joinpath("weights", "config.json")
    return float(json.loads(path.read_text())["score_thresh"])


def _g(x):
    return f"{x:g}"


def defaults_table():
    """The README's Markdown table of the defaults, from the constants above."""
    rows = [
        ("`--method`", f"`{DEFAULT_METHOD}`", "the Mask R-CNN; `nmrglue` is the threshold picker"),
        ("`--snr` (maskrcnn)", _g(MODEL_SNR),
         "x noise; only a floor: the network and its score decide"),
        ("`--snr` (nmrglue)", _g(DEFAULT_SNR), "x noise: the threshold itself"),
        ("`--score-threshold` (maskrcnn)", _g(model_score_threshold()),
         "the shipped model's own (`weights/config.json`)"),
        ("`--tile`, `--overlap` (maskrcnn)", f"{INFERENCE_TILE}, {DEFAULT_OVERLAP}",
         f"points; the tile no larger than the spectrum needs, at least {DEFAULT_TILE}"),
        ("`--multiplets` (maskrcnn)", f"`{MULTIPLETS}`",
         "a 1H J-multiplet is one pick at its centre (`keep`: each line)"),
        ("`--contour-start` (`--plot`)", _g(CONTOUR_START), "x noise, lowest contour"),
        ("negative-peak warning", _g(NEGATIVE_WARN_SNR),
         "x noise: unpicked negative peaks stronger than this are counted"),
    ]
    lines = ["| option | default | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def update_readme(text):
    """``text`` with the block between the defaults markers replaced by the table."""
    pat = re.compile(re.escape(_START) + r".*?" + re.escape(_END), re.S)
    if not pat.search(text):
        raise ValueError(f"no {_START} ... {_END} block")
    return pat.sub(lambda m: f"{_START}\n{defaults_table()}\n{_END}", text)

