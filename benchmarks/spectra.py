"""Thin caller: `nmrpick-ml bench --spectra` (writes benchmarks/results/spectra.md).

Run from the repository root: python benchmarks/spectra.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--spectra", *sys.argv[1:]]))
