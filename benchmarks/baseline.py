"""Thin caller: `nmrpick-ml bench --baseline` (writes benchmarks/results/baseline.md).

Run from the repository root: python benchmarks/baseline.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--baseline", *sys.argv[1:]]))
