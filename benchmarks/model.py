"""Thin caller: `nmrpick-ml bench --model` (writes benchmarks/results/model.md).

Run from the repository root: python benchmarks/model.py
"""
import sys

from nmrpick_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--model", *sys.argv[1:]]))
