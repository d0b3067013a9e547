"""Thin caller: `nmrpick-ml bench --speed` (writes benchmarks/results/speed.md).

Run from the repository root: python benchmarks/speed.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--speed", *sys.argv[1:]]))
