"""Thin caller: `nmrpick-ml bench --real` (writes benchmarks/results/real.md).

Run from the repository root: python benchmarks/real.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--real", *sys.argv[1:]]))
