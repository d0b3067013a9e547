"""Quote benchmarks/results/*.md in README.md's "Accuracy and speed" section.

Everything between the markers `<!-- results:start -->` and `<!-- results:end -->`
is replaced by the first table of each results file, with the command that made
it, and the table of defaults between `<!-- defaults:start -->` and
`<!-- defaults:end -->` by the one nmrpick_ml._defaults makes from the code, so
that README never holds a number typed by hand.

Run from the repository root:  python benchmarks/update_readme.py
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
# (file, section heading inside it to quote, or None for the first table; title in README)
QUOTES = [
    ("model.md", "## Paper protocol", "Tiles, the paper's protocol"),
    ("model.md", "## Realistic tiles", "Tiles, realistic recipe"),
    ("spectra.md", None, "Whole synthetic spectra, beside nmrglue (same run)"),
    ("real.md", None, "Real spectra against their reference lists"),
    ("speed.md", None, "Speed beside nmrglue (same run)"),
    ("speed.md", "## Peak memory", "Memory"),
    ("baseline.md", "## Best threshold per spectrum", "nmrglue alone, best threshold"),
    ("synth_speed.md", None, "Synthetic training data"),
    ("realism.md", "## The `processed` recipe", "Real spectra inside the processed recipe"),
    ("rules.md", None, "One pick per peak: before and after the rules"),
    ("fit.md", None, "Lineshape fitting"),
]


def _block(text, heading):
    if heading is not None:
        i = text.find(heading)
        if i < 0:
            return None
        text = text[i + len(heading):]
    lines = text.splitlines()
    out, started = [], False
    for line in lines:
        if line.startswith("|"):
            out.append(line)
            started = True
        elif started:
            break
        elif heading is not None and line.startswith("## "):
            break
    if not out:   # a paragraph, e.g. the memory figure
        paras = [p.strip() for p in "\n".join(lines).split("\n\n") if p.strip()
                 and not p.strip().startswith(("#", "Made by", "Machine"))]
        out = paras[:1]
    return "\n".join(out)


def main():
    parts = []
    for fname, heading, title in QUOTES:
        path = os.path.join(RESULTS, fname)
        if not os.path.exists(path):
            continue
        text = open(path).read()
        m = re.search(r"Made by: `([^`]+)`", text)
        block = _block(text, heading)
        if block is None:
            continue
        cmd = f" (`{m.group(1)}`, [{fname}](benchmarks/results/{fname}))" if m else ""
        stale = re.search(r"^\*\*Out of date:\*\*.*$", text, flags=re.M)   # quoted with its table
        note = f"{stale.group(0)}\n\n" if stale else ""
        parts.append(f"**{title}**{cmd}\n\n{note}{block}\n")
    readme = os.path.join(ROOT, "README.md")
    src = open(readme).read()
    new = "<!-- results:start -->\n" + "\n".join(parts) + "<!-- results:end -->"
    src2, n = re.subn(r"<!-- results:start -->.*?<!-- results:end -->", new, src, flags=re.S)
    if n != 1:
        raise SystemExit("README.md has no results markers")
    from nmrpick_ml._defaults import update_readme     # the defaults table, from the code
    src2 = update_readme(src2)
    with open(readme + ".tmp", "w") as fh:
        fh.write(src2)
    os.replace(readme + ".tmp", readme)
    print(f"quoted {len(parts)} blocks into README.md")


if __name__ == "__main__":
    main()
