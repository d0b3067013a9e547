"""Real vs synthetic realism table: writes benchmarks/results/realism.md.

Usage: python benchmarks/realism.py   (reads the real spectra in place from ../shared/realdata)
"""
import datetime
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from nmrpick_ml._realism import realism_table  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
OUT = ROOT / "benchmarks" / "results" / "realism.md"

if __name__ == "__main__":
    table = realism_table(REALDATA, n_synth=200, seed=0)
    head = (f"# Realism: real spectra vs the synthetic `realistic` recipe\n\n"
            f"Made by `python benchmarks/realism.py` on {platform.node()} ({platform.machine()}, "
            f"Python {platform.python_version()}), {datetime.date.today().isoformat()}. "
            f"Real spectra: `../shared/realdata` (read in place).\n\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(head + table)
    print(head + table)
