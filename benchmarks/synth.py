"""Thin caller: `nmrpick-ml bench --synth` (writes benchmarks/results/synth_speed.md).

Run from the repository root: python benchmarks/synth.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--synth", *sys.argv[1:]]))
