"""Real vs synthetic realism tables: writes benchmarks/results/realism.md.

Usage: python benchmarks/realism.py [N]  (reads the real spectra in place from ../shared/realdata;
N processed spectra, default 500). Same as ``nmrpick-ml bench --realism``.
"""
import datetime
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from nmrpick_ml._realism import processed_realism_table, realism_table  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
OUT = ROOT / "benchmarks" / "results" / "realism.md"

if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    proc, _ = processed_realism_table(REALDATA, n=n, seed=0)
    table = realism_table(REALDATA, n_synth=200, seed=0)
    head = (f"# Realism: real spectra vs the synthetic recipes\n\n"
            f"Made by `python benchmarks/realism.py{'' if n == 500 else f' {n}'}` on {platform.node()} "
            f"({platform.machine()}, Python {platform.python_version()}), "
            f"{datetime.date.today().isoformat()}. Real spectra: `../shared/realdata` (read in place).\n\n"
            f"## The `processed` recipe (acquisition and processing simulated)\n\n{proc}\n"
            f"## The `realistic` recipe (frequency-domain peaks; model v1 trained on it)\n\n")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(head + table)
    print(head + table)
