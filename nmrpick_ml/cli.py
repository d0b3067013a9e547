"""The ``nmrpick-ml`` command: a thin shell over the API (click).

``nmrpick-ml SPECTRUM -o OUT`` runs the default ``pick`` command
(:class:`PickGroup` routes an unknown first token to it); other commands
(``train``, ``bench``, ``simulate``) are added with ``@main.command()`` at the
marked place at the end of this file, importing their module inside the
function so that ``nmrpick-ml --help`` stays fast.

This module imports only click at the top; numpy, nmrglue and the API are
imported inside the commands, and torch never here.
"""

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import click

from . import _defaults as D
from ._errors import NmrpickError, printable
from ._version import __version__

#: Exit status: success, internal error (a bug: traceback), bad input or usage.
EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
#: Exit status after Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130

# kept in step with nmrpick_ml.picking.METHODS and nmrpick_ml.io.TABLE_FORMATS
# (a test checks it) so that --help need not import numpy/nmrglue
_METHODS = ("nmrglue", "maskrcnn")
#: Picking method of `nmrpick-ml SPECTRUM` when --method is not given.
DEFAULT_METHOD = D.DEFAULT_METHOD
#: A progress bar is drawn (stderr a terminal, not -q) when a pass has more tiles than this.
PROGRESS_MIN_TILES = 30
# click >= 8.2 raises this for a bare `nmrpick-ml`; older click exits in the parser
_NoArgsIsHelpError = getattr(click.exceptions, "NoArgsIsHelpError", ())
_FORMATS = ("tab", "list", "csv", "nef")


class _FiniteRange(click.FloatRange):
    """click's FloatRange that also refuses nan and inf (which compare False to any bound)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


class PickGroup(click.Group):
    """A click Group whose unknown first token is a spectrum for ``pick``.

    ``nmrpick-ml spectrum.ft2 -o peaks.tab`` is ``nmrpick-ml pick
    spectrum.ft2 -o peaks.tab``; subcommand names win (a file literally named
    ``train`` is picked with ``nmrpick-ml pick train``). :meth:`main` runs
    click with ``standalone_mode=False`` and turns usage errors and
    :class:`~nmrpick_ml.NmrpickError` into one ``Error: ...`` line and exit 2.
    """

    default_command = "pick"

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None and not cmd_name.startswith("-"):
            ctx.meta["nmrpick_ml.arg0"] = cmd_name       # a spectrum, not a command
            cmd = super().get_command(ctx, self.default_command)
        return cmd

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        arg0 = ctx.meta.pop("nmrpick_ml.arg0", None)
        if arg0 is not None:                              # put the file name back
            rest.insert(0, arg0)
            name = cmd.name
        return name, cmd, rest

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        try:
            rv = super().main(args, prog_name or "nmrpick-ml", standalone_mode=False, **extra)
        except _NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as exc:               # usage errors, bad options
            _error(exc.format_message())
            sys.exit(EXIT_BAD_INPUT if isinstance(exc, click.UsageError) else exc.exit_code)
        except NmrpickError as exc:                       # bad input, from the API
            _error(exc)
            sys.exit(EXIT_BAD_INPUT)
        except MemoryError:
            _error("out of memory: the spectrum (or --tile) is too large for this machine")
            sys.exit(EXIT_BAD_INPUT)
        except (click.Abort, KeyboardInterrupt):         # Ctrl-C: files were cleaned up
            _error("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:                           # `nmrpick-ml ... -o - | head`
            sys.exit(EXIT_BAD_INPUT)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def _error(message):
    """One ``Error: ...`` line on stderr (file names escaped: one line, always encodable)."""
    try:
        click.echo(f"Error: {printable(message)}", err=True)
    except (OSError, ValueError):      # stderr closed
        pass


_MAIN_HELP = """Pick the peaks of 2D NMR spectra.

\b
  nmrpick-ml SPECTRUM... -o OUTPUT [options]    (the default command, `pick`)
  nmrpick-ml COMMAND [options]

The default command reads each SPECTRUM, picks its peaks and writes a peak
table. Its options are listed by `nmrpick-ml pick --help`. A spectrum file
named like a command (e.g. `train`) is picked with `nmrpick-ml pick train`.

\b
INPUT FORMATS (recognised from the content, not the extension)
  NMRPipe      .ft2/.ft/.dat; a 3-D stream needs --plane (0-based)
  UCSF/Sparky  .ucsf (POKY's .pzst must be saved as .ucsf first)
  Bruker       a pdata/N folder (2rr + procs, proc2s), or the experiment
               folder (pdata/1 is taken)
  NumPy        .npy 2-D array + sidecar JSON of the axes (same stem .json or
               --axes): {"axes": [{"label", "sw_hz", "obs_mhz",
               "ref_point" (1-based), "ref_ppm"}, ...]} in numpy axis order
The spectrum must be real, Fourier transformed and phased, and finite: time-
domain, complex, NaN/Inf-holding, 1-D and 4-D data are refused.

\b
OUTPUT FORMATS (from the -o extension, or --format)
  .tab   NMRPipe table: INDEX X_AXIS Y_AXIS X_PPM Y_PPM X_HZ Y_HZ XW YW
         XW_HZ YW_HZ HEIGHT VOL CLUSTID SCORE. X = direct axis (array axis
         1), Y = indirect (axis 0); X_AXIS/Y_AXIS 1-based points; XW/YW full
         width at half height in points; *_HZ in Hz; ppm in ppm (a transposed
         NMRPipe file: X is the indirect axis, as the REMARK line says)
  .list  Sparky/POKY: Assignment w1 w2 Data Height (w1 = indirect axis)
  .csv   pick()'s columns: Y_AXIS X_AXIS (0-based points) cID Y_LW X_LW VOL
         Y_PPM X_PPM Y_LW_HZ X_LW_HZ HEIGHT SCORE
  .nef   NEF saveframe nef_nmr_spectrum_<spectrum name>; dimension 1 = array
         axis 0; is_acquisition marks the direct dimension (from the header)
SCORE is the confidence 0..1 (1.0 for threshold picks, --method nmrglue).

\b
MAIN PICK OPTIONS (all: nmrpick-ml pick --help)
  -o PATH            output table, or an existing folder for several inputs;
                     - is standard output (.tab unless --format)
  --format FMT       tab, list, csv or nef (default: from the -o extension)
  --method M         nmrglue (threshold picker) or maskrcnn (the network);
                     default: @DEFAULT_METHOD@
  --snr X            threshold = X times the robust noise (default @SNR@ for
                     nmrglue; @MSNR@ for maskrcnn, where it is only a floor)
  --score-threshold S  maskrcnn: drop picks scoring below S (default @SCORE@,
                     the shipped model's own)
  --threshold T      absolute threshold in data units (overrides --snr)
  --negative         also pick negative peaks (below -threshold); without it a
                     warning counts the negative peaks above @NEGSNR@ x noise
  --region RANGES    pick inside ppm ranges only: X_LO:X_HI,Y_LO:Y_HI (the
                     table's X, Y) or 1H=6.5:10.5,15N=100:135; the noise is
                     still measured on the whole spectrum
  --exclude RANGES   drop picks inside these ranges (repeatable), e.g.
                     1H=4.6:4.8 (a band: water)
  --engine E         maskrcnn: onnx (default; ONNX Runtime, no torch) or torch
  --plane N          plane of a 3-D file (0-based)
  --axes JSON        sidecar axes JSON of a .npy input
  --plot FILE        picture of the spectrum and the picks (.png, .pdf, .svg;
                     needs matplotlib: pip install 'nmrpick-ml[plot]')
  --contour-start X  lowest contour of --plot, x noise (default @CONTOUR@)
  --json-summary F   machine-readable summary: n_peaks, noise, threshold,
                     time_s, method, model_version, resample_factors,
                     n_tiles, score_threshold, input, output (- is stdout)
  -j N               parallel processes for several inputs
  -q / -v            quieter (errors only) / more verbose

\b
EXIT STATUS
  0  success (also when no peak is found, e.g. an all-zero spectrum)
  1  internal error (a bug: please report it with the traceback)
  2  bad input or usage: one `Error: ...` line on stderr, no table written
     (several inputs: a bad one fails alone; 2 when any failed)
  130 interrupted (Ctrl-C); temporary files are removed

\b
EXAMPLES
  nmrpick-ml hsqc.ft2 -o peaks.tab
  nmrpick-ml expt/14/pdata/1 -o peaks.list --snr 10 --negative
  nmrpick-ml hsqc.ft2 -o amides.tab --region 1H=6.5:10.5,15N=100:135
  nmrpick-ml series.ft3 --plane 0 -o plane0.nef
  nmrpick-ml *.ucsf -o tables/ -j 4 --format csv --json-summary run.json
  nmrpick-ml hsqc.ucsf -o peaks.tab --method maskrcnn --plot picks.png
""".replace("@DEFAULT_METHOD@", DEFAULT_METHOD).replace("@SNR@", f"{D.DEFAULT_SNR:g}").replace(
    "@MSNR@", f"{D.MODEL_SNR:g}").replace("@SCORE@", f"{D.model_score_threshold():g}").replace(
    "@NEGSNR@", f"{D.NEGATIVE_WARN_SNR:g}").replace("@CONTOUR@", f"{D.CONTOUR_START:g}")


@click.group(cls=PickGroup, help=_MAIN_HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="nmrpick-ml",
                      message="%(prog)s %(version)s")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.option("-v", "--verbose", count=True, help="Print more (format, shape, ppm ranges).")
@click.pass_context
def main(ctx, quiet, verbose):
    ctx.obj = {"verbosity": -1 if quiet else verbose}


def _verbosity(ctx, quiet, verbose):
    base = (ctx.obj or {}).get("verbosity", 0)
    return -1 if (quiet or base < 0) else max(base, verbose)


_PICK_EPILOG = """\b
The threshold is --threshold (data units) if given, else --snr times the
robust noise (standard deviation). With several inputs -o must be an existing
folder; each table is written there as <stem>.<format>. A summary line per
input goes to stderr unless -q; with --method maskrcnn it also gives the
model version, the number of tiles run, the resampling factors (axis 0 x
axis 1; 1 = none) and the score threshold, and a progress bar is drawn on a
terminal when a spectrum needs more than 30 tiles. --json-summary writes
n_peaks, noise, threshold, time_s, method, model_version, resample_factors,
n_tiles, score_threshold, input and output (one object; for several inputs
{"files": [...]}). --plot draws the spectrum (contours from --contour-start
x noise, default @CONTOUR@, ppm axes) with the picks numbered by INDEX and
coloured by SCORE (one input).
""".replace("@CONTOUR@", f"{D.CONTOUR_START:g}")


@main.command("pick", epilog=_PICK_EPILOG,
              context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("spectra", nargs=-1, required=True, metavar="SPECTRUM...")
@click.option("-o", "--output", required=True, metavar="PATH",
              help="Output table, or an existing folder (required for several inputs); "
                   "- writes the table to standard output.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS),
              help="Table format; default from the -o extension (tab for a folder).")
@click.option("--method", type=click.Choice(_METHODS), default=DEFAULT_METHOD, show_default=True,
              help="Picker: nmrglue's threshold picker, or the Mask R-CNN.")
@click.option("--snr", type=_FiniteRange(min=0, min_open=True),
              help=f"Threshold as a multiple of the noise [default: {D.DEFAULT_SNR:g} for "
                   f"nmrglue, {D.MODEL_SNR:g} for maskrcnn (a floor: the network decides)].")
@click.option("--threshold", type=_FiniteRange(min=0, min_open=True),
              help="Absolute threshold in data units (overrides --snr).")
@click.option("--negative", is_flag=True, help="Also pick negative peaks (below -threshold).")
@click.option("--score-threshold", type=_FiniteRange(0, 1),
              help="Mask R-CNN: drop peaks scoring below this (0..1) [default: "
                   f"{D.model_score_threshold():g}, the shipped model's own].")
@click.option("--region", metavar="RANGES",
              help="Pick only inside these ppm ranges: X_LOW:X_HIGH,Y_LOW:Y_HIGH (the "
                   "table's X then Y) or by nucleus, e.g. 1H=6.5:10.5,15N=100:135 (an axis "
                   "left out is whole). The noise is still measured on the whole spectrum; "
                   "--plot shows this region.")
@click.option("--exclude", metavar="RANGES", multiple=True,
              help="Drop picks inside these ppm ranges (same form; e.g. 1H=4.6:4.8 is a "
                   "band across the other axis: water). Repeatable.")
@click.option("--plane", type=click.IntRange(min=0), help="Plane of a 3-D file (0-based).")
@click.option("--axes", metavar="JSON", help="Sidecar axes JSON of a .npy input.")
@click.option("--model", metavar="PATH", help="Mask R-CNN weights (default: the shipped ones).")
@click.option("--tile", type=click.IntRange(min=8, max=D.MAX_TILE), default=None,
              help="Mask R-CNN tile size, points [default: the model's, "
                   f"{D.INFERENCE_TILE} for the shipped one, no larger than the spectrum needs "
                   f"and not below its training tile, {D.DEFAULT_TILE}].")
@click.option("--overlap", type=click.IntRange(min=0), help=f"Mask R-CNN tile overlap, points [default: {D.DEFAULT_OVERLAP}].")
@click.option("--engine", type=click.Choice(("onnx", "torch")), default="onnx", show_default=True,
              help="What runs the network: ONNX Runtime (no torch) or torch (needed for --device).")
@click.option("--device", default="cpu", show_default=True,
              help="Torch device for the model (--engine torch).")
@click.option("--json-summary", metavar="FILE",
              help="Write a machine-readable summary (JSON); - writes it to standard output.")
@click.option("--plot", metavar="FILE",
              help="Write a picture of the spectrum and its picks (.png, .pdf, .svg; one input).")
@click.option("--contour-start", type=_FiniteRange(min=0, min_open=True),
              default=D.CONTOUR_START, show_default=True, metavar="X",
              help="--plot: lowest contour, in noise units.")
@click.option("--fit", "fit", is_flag=True,
              help="Fit the picks with lineshapes: fitted positions, widths, heights, volumes "
                   "and their standard errors (see README: Lineshape fitting).")
@click.option("--lineshape", type=click.Choice(["pseudo-voigt", "gaussian", "lorentzian"]),
              default="pseudo-voigt", show_default=True, help="--fit: lineshape per axis.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel processes for several inputs.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@click.option("-v", "--verbose", count=True, help="Print more.")
@click.option("--multiplets", type=click.Choice(["auto", "merge", "keep"]),
              default=D.MULTIPLETS, show_default=True,
              help="maskrcnn: a 1H J-multiplet (lines 2-18 Hz apart on one row) as one pick at "
                   "its centre with J_HZ and N_LINES (merge), or each line (keep); auto: keep "
                   "where the indirect nucleus is 15N, else merge.")
@click.pass_context
def pick_command(ctx, spectra, output, fmt, method, snr, threshold, negative, score_threshold,
                 region, exclude, plane, axes, model, tile, overlap, engine, device, json_summary,
                 plot, contour_start, fit, lineshape, jobs, quiet, verbose, multiplets):
    """Pick the peaks of each SPECTRUM and write a table to -o."""
    from .files import transaction
    from .io import check_output_path
    verbosity = _verbosity(ctx, quiet, verbose)
    _refuse_unused(ctx, method, plot)
    if not fit and _given(ctx, "lineshape"):
        raise click.UsageError("--lineshape is used by --fit only; add --fit or drop it")
    jobs_list = _plan(spectra, output, fmt)
    if plot and len(jobs_list) > 1:
        raise NmrpickError(f"--plot draws one spectrum; got {len(jobs_list)} inputs")
    _check_outputs(jobs_list, json_summary, plot, axes)
    if json_summary:                      # every output location, before any work
        check_output_path(json_summary, what="--json-summary")
    if plot:
        from ._plot import check_plot_path
        check_plot_path(plot)
    opts = dict(method=method, snr=snr, threshold=threshold, negative=negative,
                score_threshold=score_threshold, region=region, exclude=list(exclude),
                plane=plane, axes=axes, model=model, tile=tile,
                overlap=overlap, engine=engine, device=device, plot=plot,
                contour_start=contour_start, fit=fit, lineshape=lineshape,
                progress=verbosity >= 0 and _is_terminal(sys.stderr), multiplets=multiplets)
    if len(jobs_list) == 1:
        inp, out, f = jobs_list[0]
        with transaction():               # table, plot and summary together, or none
            results = [_run_one(inp, out, f, opts, raise_errors=True)]
            if json_summary:
                _write_summary(json_summary, results[0])
    else:
        results = _run_batch(jobs_list, opts, jobs)
    for r in results:
        _report(r, verbosity)
    failed = [r for r in results if "error" in r]
    if len(results) > 1:
        if json_summary:                  # also when some failed: it lists which
            _write_summary(json_summary, {
                "nmrpick_ml_version": __version__, "n_files": len(results),
                "n_failed": len(failed), "failed": [r["input"] for r in failed],
                "files": results})
        if failed:
            click.echo(f"{len(failed)} of {len(results)} inputs failed: "
                       + ", ".join(printable(r["input"]) for r in failed), err=True)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _write_summary(path, payload):
    """The --json-summary file: strict JSON (a NaN or Inf number becomes null)."""
    from .files import atomic_write_text

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, str):
            return printable(v)
        return v
    atomic_write_text(path, json.dumps(clean(payload), indent=2, allow_nan=False) + "\n")


def _run_batch(jobs_list, opts, jobs):
    """Run several inputs (``jobs`` processes); each failure is its own result."""
    if jobs == 1:
        return [_run_one(i, o, f, opts) for i, o, f in jobs_list]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from .files import cleanup_on_signals
    ctx_mp = multiprocessing.get_context("spawn")   # safe with threaded torch/BLAS
    opts = dict(opts, progress=False)               # bars of parallel workers would mix
    ex = ProcessPoolExecutor(max_workers=min(jobs, len(jobs_list)), mp_context=ctx_mp)
    try:
        with cleanup_on_signals():                 # SIGTERM here stops the workers too
            futures = [ex.submit(_run_one, i, o, f, opts) for i, o, f in jobs_list]
            results = []
            for (inp, _, _), fu in zip(jobs_list, futures):
                try:
                    results.append(fu.result())
                except Exception as exc:          # noqa: BLE001 - a worker died (killed, OOM)
                    results.append({"input": str(inp), "error": f"{inp}: the worker process "
                                    f"failed ({type(exc).__name__}: {exc})"})
    except BaseException:
        for proc in list(getattr(ex, "_processes", {}).values()):
            proc.terminate()              # a worker cleans its own temporary file up
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown()
    return results


def _file_id(path):
    """What names one file: ``-``, else the real path and the (device, inode) if it exists."""
    if path == "-":
        return {"-"}
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return {real, (st.st_dev, st.st_ino)}
    except OSError:
        return {real}


def _check_outputs(plan, json_summary, plot, axes):
    """Refuse, before any work, two outputs on one path and an output that is a file
    some input reads (its sidecar JSON or Bruker parameter files included)."""
    from .io import input_files
    outputs = [(o, "-o") for _, o, _ in plan]
    outputs += [(p, opt) for p, opt in ((json_summary, "--json-summary"), (plot, "--plot")) if p]
    seen = {}
    for out, what in outputs:
        for key in _file_id(out):
            if key in seen:
                other, what_b = seen[key]
                if out == "-":
                    raise NmrpickError(f"{what_b} and {what} both write to standard output (-); "
                                       "give one of them a file name")
                raise NmrpickError(f"{out}: {what_b} and {what} name the same file ({other}); "
                                   "give each output its own name")
            seen[key] = (out, what)
    read = set()
    for s, _, _ in plan:
        try:
            for f in input_files(s, axes):
                read |= _file_id(f)
        except NmrpickError:
            if len(plan) == 1:
                raise
            # this input fails alone when it is run
    for out, what in outputs:
        if out != "-" and _file_id(out) & read:
            raise NmrpickError(f"{out}: output path is the input"
                               + ("" if what == "-o" else f" (given as {what})")
                               + "; choose another name")


#: Options that only the Mask R-CNN uses, and why the threshold picker has no use for them.
_MODEL_ONLY = {
    "score_threshold": "the threshold picker gives every pick SCORE 1.0",
    "model": "the threshold picker runs no network",
    "tile": "the threshold picker does not cut the spectrum into tiles",
    "overlap": "the threshold picker does not cut the spectrum into tiles",
    "device": "the threshold picker runs no network",
    "engine": "the threshold picker runs no network",
    "multiplets": "the threshold picker reports each maximum as nmrglue does",
}


def _given(ctx, name):
    """True when option ``name`` was given on the command line (not its default)."""
    return ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)


def _refuse_unused(ctx, method, plot):
    """Refuse options that the chosen method (or the absence of --plot) leaves unused."""
    opt = {p.name: p.opts[-1] for p in ctx.command.params}
    if method == "nmrglue":
        for name, why in _MODEL_ONLY.items():
            if _given(ctx, name):
                raise click.UsageError(f"{opt[name]} is not used by --method nmrglue ({why}); "
                                       "drop it, or use --method maskrcnn")
    if not plot and _given(ctx, "contour_start"):
        raise click.UsageError(f"{opt['contour_start']} sets the contours of --plot; "
                               "give --plot FILE too")


def _stem(path):
    """Output stem of an input: the file stem; for Bruker ``<data set>_<expno>_<procno>``."""
    p = Path(os.path.abspath(path))
    if p.name in ("2rr", "3rrr") or (p.is_file() and p.parent.parent.name == "pdata"):
        p = p.parent
    if p.is_dir():
        if p.parent.name == "pdata":
            exp = p.parent.parent
            return f"{exp.parent.name}_{exp.name}_{p.name}"
        if (p / "pdata").is_dir():
            return f"{p.parent.name}_{p.name}_1"
        return p.name
    return p.stem


def _plan(spectra, output, fmt):
    """[(input, output path, format)], checking the output side before any work."""
    from .io import check_output_path, table_format
    out_is_dir = output.endswith(("/", os.sep)) or os.path.isdir(output)
    if len(spectra) > 1 and not out_is_dir:
        raise click.UsageError(f"several inputs need -o to be an existing folder; got {output!r}")
    if out_is_dir:
        if not os.path.isdir(output):
            raise NmrpickError(f"{output}: output folder does not exist")
        fmt = table_format("x", fmt or "tab")
        plan = [(s, os.path.join(output, f"{_stem(s)}.{fmt}"), fmt) for s in spectra]
        seen = {}
        for s, o, _ in plan:
            if o in seen:
                raise NmrpickError(f"{seen[o]} and {s} would both be written to {o}")
            seen[o] = s
    else:
        check_output_path(output, inputs=[spectra[0]])
        plan = [(spectra[0], output, table_format(output, fmt))]
    for s, o, _ in plan:
        check_output_path(o, inputs=[s])
    return plan


def _run_one(inp, out, fmt, opts, raise_errors=False):
    """read_spectrum -> pick -> write_table for one input; a summary dict.

    NmrpickError is returned as ``{"input", "error"}`` (raised with
    ``raise_errors``); warnings are collected in ``"warnings"``.
    """
    from ._validate import check_spectrum, is_constant
    from .io import read_spectrum, write_table
    from .picking import find_peaks, noise_threshold
    from .region import resolve_regions

    t0 = time.perf_counter()
    bar = _TileBar(os.path.basename(os.path.normpath(str(inp)))) if opts.get("progress") else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spec = read_spectrum(inp, plane=opts["plane"], axes=opts["axes"])
            try:
                data = check_spectrum(spec.data)
                noise, pthres = noise_threshold(data, opts["snr"], method=opts["method"])
                if opts["threshold"] is not None:
                    pthres = opts["threshold"]
                if is_constant(data):             # find_peaks warns and returns no peaks
                    pthres_arg, nthres = None, None
                else:
                    pthres_arg, nthres = pthres, (-pthres if opts["negative"] else None)
                box, excluded = resolve_regions(opts.get("region"), opts.get("exclude"),
                                                spec.labels, spec.uc, data.shape)
                extra = {}
                if opts["method"] == "maskrcnn":
                    u = spec.uc[spec.direct_axis]
                    extra = dict(multiplets=opts["multiplets"], direct_axis=spec.direct_axis,
                                 labels=spec.labels,
                                 hz_per_point=abs(u.hz(1.0) - u.hz(0.0)))
                found = find_peaks(data, noise=noise, pthres=pthres_arg, nthres=nthres,
                                   snr=opts["snr"], method=opts["method"],
                                   score_threshold=opts["score_threshold"], tile=opts["tile"],
                                   overlap=opts["overlap"], device=opts["device"],
                                   engine=opts.get("engine"), model=opts["model"],
                                   progress=bar, region=box, exclude=excluded, **extra)
                if opts.get("fit"):
                    from .fit import fit_table
                    peaks = fit_table(found, data, spec.uc, shape=opts["lineshape"])
                else:
                    peaks = found.to_table(spec.uc)
                n_negative = None
                if nthres is None and not is_constant(data):
                    n_negative = _warn_negative(data, noise, box)
            except NmrpickError as exc:           # name the file in the API's message
                raise NmrpickError(f"{inp}: {exc}") from None
            finally:
                if bar is not None:
                    bar.close()
            write_table(out, peaks, spec, fmt)
            if opts.get("plot"):
                from ._plot import plot_peaks
                plot_peaks(opts["plot"], spec, peaks, noise, region=opts.get("region"),
                           contour_start=opts.get("contour_start", D.CONTOUR_START))
        except NmrpickError as exc:
            if raise_errors:
                raise
            return {"input": str(inp), "error": str(exc)}
        except Exception as exc:          # noqa: BLE001 - in a batch, one bug fails one file
            if raise_errors:
                raise
            return {"input": str(inp), "error": f"{inp}: internal error ({type(exc).__name__}: "
                                                f"{exc}); please report it"}
    factors = found.factors
    return {
        "input": str(inp), "output": str(out), "format": fmt, "n_peaks": int(len(peaks)),
        "noise": float(noise), "threshold": float(pthres),
        "negative_threshold": None if nthres is None else float(nthres),
        "time_s": round(time.perf_counter() - t0, 4), "method": opts["method"],
        # what the picker used (threshold picks use no model, tiles or resampling)
        "model_version": found.model_version,
        "resample_factors": None if factors is None else [float(f) for f in factors],
        "n_tiles": found.n_tiles,
        "score_threshold": found.score_threshold,
        "plot": opts.get("plot"), "n_negative_unpicked": n_negative,
        "plane": spec.plane, "shape": list(spec.data.shape), "labels": list(spec.labels),
        "ppm_limits": [list(lim) for lim in spec.ppm_limits()], "input_format": spec.format,
        "warnings": [str(w.message) for w in caught],
    }


def _warn_negative(data, noise, box):
    """Count the strong negative peaks a positive-only pick left out (inside the
    point box ``box`` of --region); warn when there are any. Returns the count."""
    from ._negative import count_negative_peaks
    n = count_negative_peaks(data, noise, box=box)
    if n:
        warnings.warn(f"{n} negative peak{'s' if n != 1 else ''} above "
                      f"{D.NEGATIVE_WARN_SNR:g} x noise {'were' if n != 1 else 'was'} not "
                      "picked: pass --negative")
    return n


def _report(r, verbosity):
    if "error" in r:
        _error(r["error"])
        return
    if verbosity < 0:
        return
    name = printable(r["input"])
    for w in r["warnings"]:
        click.echo(f"Warning: {name}: {printable(w)}", err=True)
    if verbosity >= 1:
        lims = ", ".join(f"{lab} {a:.3f}..{b:.3f} ppm"
                         for lab, (a, b) in zip(r["labels"], r["ppm_limits"]))
        click.echo(f"{name}: {r['input_format']} {tuple(r['shape'])}, {lims}", err=True)
    ratio = r["threshold"] / r["noise"] if r["noise"] else float("nan")
    model = ""
    if r.get("model_version") is not None:
        fy, fx = r["resample_factors"]
        model = (f", model {r['model_version']}, {r['n_tiles']} tiles, resampling "
                 f"{fy:.3g} x {fx:.3g}, score >= {r['score_threshold']:.3g}")
    elif r.get("score_threshold") is not None:
        model = f", score >= {r['score_threshold']:.3g}"
    plot = f" (plot {printable(r['plot'])})" if r.get("plot") else ""
    out = "standard output" if r["output"] == "-" else printable(r["output"])
    click.echo(f"{name}: {r['n_peaks']} peaks, noise {r['noise']:.3g}, threshold "
               f"{r['threshold']:.3g} ({ratio:.1f} x noise){model}, {r['time_s']:.2f} s -> "
               f"{out}{plot}", err=True)


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):      # replaced or closed streams
        return False


class _TileBar:
    """pick()'s ``progress(done, total)`` callback: a tqdm bar on stderr.

    Drawn only for a pass of more than :data:`PROGRESS_MIN_TILES` tiles, from
    the first call (after the first batch of tiles); a new pass (the negative
    peaks: ``done`` goes back) starts a new bar. The bar is removed when closed.
    """

    def __init__(self, desc, min_tiles=PROGRESS_MIN_TILES, file=None):
        self.desc, self.min_tiles, self.file = desc, min_tiles, file
        self.bar, self.done = None, 0

    def __call__(self, done, total):
        if total <= self.min_tiles:
            return
        if self.bar is None or done < self.done or total != self.bar.total:
            self.close()
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=done, desc=self.desc, unit="tile", leave=False,
                            file=self.file if self.file is not None else sys.stderr)
        else:
            self.bar.update(done - self.done)
        self.done = done

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --------------------------------------------------------------------------- #
# Further subcommands (train, bench, simulate) go below this line, each as
#     @main.command()
#     def train(...):
#         from .train import ...   # heavy imports inside the function
# so that `nmrpick-ml --help` and the default pick command never import torch.
# --------------------------------------------------------------------------- #


@main.command("simulate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("output", metavar="OUT")
@click.option("--size", default="512x1024", show_default=True, metavar="N1xN2",
              help="Points on axis 0 (indirect, 15N) x axis 1 (direct, 1H).")
@click.option("--peaks", type=click.IntRange(min=0), default=200, show_default=True,
              help="Number of peaks.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--negative", is_flag=True, help="Make about a third of the peaks negative.")
@click.option("--no-crowding", is_flag=True, help="Spread peaks evenly (no dense regions).")
@click.option("--recipe", type=click.Choice(["realistic", "processed"]), default="realistic",
              show_default=True,
              help="realistic: frequency-domain peaks; processed: simulated acquisition and "
                   "processing (a protein 15N or small-molecule 13C HSQC).")
def simulate_command(output, size, peaks, seed, negative, no_crowding, recipe):
    """Write a realistic synthetic 2D spectrum OUT (.ft2, .ft or .ucsf) and its
    true peaks (OUT stem + _peaks.csv), to test any picker.

    \b
    realistic: a 1H-15N HSQC at 600 MHz with ppm referencing, peaks of
    Gaussian/Lorentzian/pseudo-Voigt shapes over three decades of height,
    crowded regions, correlated noise, t1 ridges and a small baseline.
    processed: each peak acquired (damped exponentials, 1H J-multiplets) and
    processed (window, first-point scaling, zero-filling, FT, phase) as
    NMRPipe would, with noise processed alongside, t1 noise, sidebands;
    OUT stem + _processing.json says how.
    The CSV lists every true peak: Y_AXIS, X_AXIS (0-based points), Y_PPM,
    X_PPM, Y_LW, X_LW (FWHH, points), HEIGHT, SNR, shapes or (processed)
    KIND, MULTIPLET, N_LINES, J1_HZ, J2_HZ, X_LINE_LW, RESOLVED; TARGET.

    \b
    Example: nmrpick-ml simulate test.ft2 --size 512x1024 --peaks 200 --seed 1
    """
    from .io import check_output_path
    from .synth import PROCESSED, REALISTIC, simulate, write_spectrum
    try:
        n0, n1 = (int(v) for v in size.lower().split("x"))
        if n0 < 8 or n1 < 8:
            raise ValueError
    except ValueError:
        raise NmrpickError(f"--size must be N1xN2 with N1, N2 >= 8, e.g. 512x1024; got {size!r}") from None
    ext = os.path.splitext(output)[1].lower()
    if ext not in (".ft2", ".ft", ".ucsf", ".dat"):
        raise NmrpickError(f"{output}: OUT must end in .ft2, .ft, .dat (NMRPipe) or .ucsf")
    check_output_path(output, inputs=[], replace_spectra=True)
    sim = simulate(shape=(n0, n1), n_peaks=peaks, seed=seed, negative=negative,
                   crowded=not no_crowding, recipe=PROCESSED if recipe == "processed" else REALISTIC)
    paths = write_spectrum(output, sim)
    click.echo(f"wrote {paths[0]} ({n0}x{n1}, {peaks} peaks, noise {sim.noise:.4g}) and "
               + ", ".join(paths[1:]), err=True)


@main.command("series", context_settings={"help_option_names": ["-h", "--help"],
                                         "max_content_width": 100})
@click.argument("spectra", nargs=-1, required=True, metavar="SPECTRUM...")
@click.option("-o", "--output", required=True, metavar="FILE.csv",
              help="Long table: one row per peak and plane (.csv).")
@click.option("--wide", metavar="FILE", help="Wide table, one row per peak (.csv or NMRPipe .tab).")
@click.option("--reference-plane", type=click.IntRange(min=0),
              help="Pick on this plane (0-based) [default: the sum of the planes].")
@click.option("--delays", metavar="FILE", help="Delay per plane, one a line (vclist/vdlist).")
@click.option("--decay", type=click.Choice(["exp"]), help="Fit I0 exp(-R t) per peak (needs --delays).")
@click.option("--plot-series", metavar="DIR", help="One small decay plot per peak in DIR.")
@click.option("--free-positions", is_flag=True, help="Each plane its own centre (titrations).")
@click.option("--lineshape", type=click.Choice(["pseudo-voigt", "gaussian", "lorentzian"]),
              default="pseudo-voigt", show_default=True, help="Lineshape per axis.")
@click.option("--method", type=click.Choice(_METHODS), default=DEFAULT_METHOD, show_default=True,
              help="Picker of the reference.")
@click.option("--snr", type=click.FloatRange(min=0, min_open=True),
              help="Pick threshold as a multiple of the reference's noise.")
@click.option("--threshold", type=click.FloatRange(min=0, min_open=True),
              help="Absolute pick threshold on the reference (data units).")
@click.option("--score-threshold", type=click.FloatRange(0, 1), help="Mask R-CNN score floor.")
@click.option("--model", metavar="PATH", help="Mask R-CNN weights (default: the shipped ones).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
def series_command(spectra, output, wide, reference_plane, delays, decay, plot_series,
                   free_positions, lineshape, method, snr, threshold, score_threshold, model,
                   quiet):
    """Fit a pseudo-3D series: one SPECTRUM (NMRPipe 3-D stream, UCSF 3-D) or several
    2-D files in plane order. The peaks are picked once (on the sum of the planes, or
    --reference-plane N), then every plane is fitted with shared positions and widths
    and one height per plane.

    \b
    Long table (-o, .csv): INDEX, PLANE (from 0), X_PPM, Y_PPM, X_AXIS, Y_AXIS
    (0-based points), HEIGHT, HEIGHT_ERR, VOL, VOL_ERR, XW, YW, X_ETA, Y_ETA,
    CLUSTID. Wide table (--wide): one row per peak with HEIGHT_q, HEIGHT_ERR_q,
    Z_Aq = HEIGHT_q / HEIGHT_0 and, with --decay exp, I0, I0_ERR, R, R_ERR.

    \b
    Example: nmrpick-ml series t2.ft2 -o t2.csv --delays vdlist --decay exp
    """
    from .files import atomic_write_text, transaction
    from .io import check_output_path
    from .series import pick_series, read_delays, read_series, wide_table_text
    from .series import plot_series as draw_series
    t0 = time.perf_counter()
    if os.path.splitext(output)[1].lower() != ".csv":
        raise NmrpickError(f"{output}: the long table is written as .csv")
    check_output_path(output, inputs=spectra)
    if wide:
        if os.path.splitext(wide)[1].lower() not in (".csv", ".tab"):
            raise NmrpickError(f"{wide}: --wide writes .csv or .tab")
        check_output_path(wide, inputs=spectra)
        if os.path.realpath(wide) == os.path.realpath(output):
            raise NmrpickError(f"{wide}: --wide must not be the -o file")
    if decay and not delays:
        raise click.UsageError("--decay exp needs --delays FILE")
    if plot_series:
        from ._plot import require_matplotlib
        require_matplotlib()
        parent = os.path.dirname(os.path.abspath(plot_series))
        if not os.path.isdir(parent):
            raise NmrpickError(f"{plot_series}: its folder {parent} does not exist")
    planes = read_series(spectra)
    t = read_delays(delays) if delays else None
    res = pick_series(planes, reference="sum" if reference_plane is None else reference_plane,
                      delays=t, decay=decay, free_positions=free_positions, shape=lineshape,
                      method=method, snr=snr, pthres=threshold, score_threshold=score_threshold,
                      model=model)
    with transaction():
        atomic_write_text(output, res.long.to_csv(index=False))
        if wide:
            atomic_write_text(wide, res.wide.to_csv(index=False) if wide.lower().endswith(".csv")
                              else wide_table_text(res.wide))
    if plot_series:
        draw_series(plot_series, res, t)
    if not quiet:
        ref = "sum of the planes" if reference_plane is None else f"plane {reference_plane}"
        extra = ", decays fitted" if decay else ""
        click.echo(f"{spectra[0]}{' ...' if len(spectra) > 1 else ''}: {res.info['n_planes']} "
                   f"planes, {res.info['n_peaks']} peaks picked on the {ref}{extra}, "
                   f"{time.perf_counter() - t0:.2f} s -> {output}", err=True)
    return EXIT_OK


#: The defaults of train() (one source for the command line and the API).
from .train import DEFAULTS as _TRAIN  # noqa: E402  (no torch: train imports it lazily)


@main.command("train", context_settings={"help_option_names": ["-h", "--help"],
                                         "show_default": True})
@click.option("--out", default=_TRAIN["out"], metavar="DIR",
              help="Output folder: checkpoint.pt, train_log.csv, maskrcnn.pt.")
@click.option("--steps", type=click.IntRange(min=1), default=_TRAIN["steps"],
              help="Total optimiser steps (sets the learning-rate schedule).")
@click.option("--minutes", type=click.FloatRange(min=0), default=_TRAIN["minutes"],
              help="Stop with a checkpoint after this many minutes; continue with --resume.")
@click.option("--batch-size", type=click.IntRange(min=1), default=_TRAIN["batch_size"], help="Tiles per step and process.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=_TRAIN["lr"], help="AdamW learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=_TRAIN["weight_decay"], help="AdamW weight decay.")
@click.option("--warmup", type=click.IntRange(min=1), default=_TRAIN["warmup"], help="Linear warm-up steps.")
@click.option("--p-paper", type=click.FloatRange(0, 1), default=_TRAIN["p_paper"],
              help="Fraction of tiles from the paper recipe.")
@click.option("--p-realistic", type=click.FloatRange(0, 1), default=_TRAIN["p_realistic"],
              help="Fraction of tiles from the realistic recipe (the rest: processed).")
@click.option("--arch", type=click.Choice(["v2", "v1"]), default=_TRAIN["arch"], help="Network architecture.")
@click.option("--seed", type=int, default=_TRAIN["seed"], help="Seed of the synthetic tiles and the weights.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default=_TRAIN["device"])
@click.option("--threads", type=click.IntRange(min=1), default=_TRAIN["threads"], help="Torch CPU threads.")
@click.option("--ckpt-minutes", type=click.FloatRange(min=0), default=_TRAIN["ckpt_minutes"],
              help="Minutes between checkpoints.")
@click.option("--resume", default=_TRAIN["resume"], metavar="PATH|auto",
              help="Continue from a checkpoint (exact) or a weights-only resume file "
                   "(optimiser re-warmed); 'auto' = OUT/checkpoint.pt.")
@click.option("--init", default=_TRAIN["init"], metavar="PATH", help="Start from these weights (a state_dict).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--export", metavar="CHECKPOINT", default=None,
              help="Instead of training: ship CHECKPOINT as the package's weights (maskrcnn.pt, "
                   "config.json with a fitted score calibration, registry hash).")
@click.option("--save-resume", metavar="PATH", default=None,
              help="Instead of training: write the weights-only resume file of OUT/checkpoint.pt "
                   "to PATH (under 20 MB, for committing between sessions).")
@click.option("--calibration-tiles", type=click.IntRange(min=10), default=400,
              help="Realistic tiles for the score calibration of --export.")
def train_command(export, save_resume, calibration_tiles, **kw):
    """Train the Mask R-CNN from scratch on synthetic tiles (CPU by default).

    \b
    Examples:
      nmrpick-ml train --steps 25000 --out runs/v2 --threads 1 --minutes 150
      nmrpick-ml train --out runs/v2 --steps 25000 --resume runs/v2_resume.pt
      torchrun --nproc_per_node=4 -m nmrpick_ml.train --device cuda ...
    """
    import logging

    import numpy as np

    from . import train as T
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if export:
        cfg = T.ship(export, calibration_tiles, kw["threads"])
        click.echo(f"shipped {cfg['version']}: nmrpick_ml/weights/maskrcnn.pt, config.json "
                   f"(calibration on {cfg['calibration']['n_picks']} picks)")
        return
    if save_resume:
        T.save_resume(os.path.join(kw["out"], "checkpoint.pt"), save_resume)
        click.echo(f"wrote {save_resume} ({os.path.getsize(save_resume) / 1e6:.1f} MB)")
        return
    res = T.train(**kw)
    if int(os.environ.get("RANK", "0")) == 0:
        tail = np.mean(res.losses[-20:]) if res.losses else float("nan")
        click.echo(f"trained {res.steps} steps in {res.seconds:.0f} s; last loss {tail:.4f}; "
                   f"weights {res.weights}; checkpoint {res.checkpoint}")
        if res.replicas:
            click.echo(f"{len(res.replicas)} replicas, identical weights: {len(set(res.replicas)) == 1}")


@main.command("bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--baseline", is_flag=True, help="nmrglue threshold sweep on the benchmark spectra.")
@click.option("--model", "model_bench", is_flag=True, help="The tile benchmark of the network.")
@click.option("--spectra", is_flag=True, help="Whole spectra: ours beside nmrglue, same run.")
@click.option("--processed", is_flag=True,
              help="With --spectra: the 20 processed-recipe spectra (spectra_processed.md).")
@click.option("--real", is_flag=True, help="The real spectra (of --data).")
@click.option("--data", "data_dir", metavar="DIR",
              type=click.Path(exists=True, file_okay=False, dir_okay=True),
              help="--real: folder of real spectra, one sub-folder each with its manifest.json "
                   "[default: ../shared/realdata beside the repository].")
@click.option("--speed", is_flag=True, help="Whole-process time and memory, both engines beside nmrglue; per-tile stages.")
@click.option("--speed-no-torch-big", "no_torch_big", is_flag=True,
              help="With --speed: leave the torch engine out on 4096x4096 (n/a in the table).")
@click.option("--synth", is_flag=True, help="Speed of making synthetic tiles.")
@click.option("--realism", is_flag=True,
              help="Real spectra's figures against the processed and realistic recipes.")
@click.option("--weights", metavar="PATH", help="Weights to benchmark (default: shipped).")
@click.option("--compare", metavar="WEIGHTS",
              help="Tiles of every recipe: the shipped model beside WEIGHTS (model_compare.md).")
@click.option("--n", "n_tiles", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Tiles per protocol for --model.")
@click.option("--outdir", metavar="DIR", help="Results folder (default ./benchmarks/results).")
def bench_command(baseline, model_bench, spectra, processed, real, data_dir, speed, no_torch_big,
                  synth, realism, weights, compare, n_tiles, outdir):
    """Run benchmarks; each prints a table and writes benchmarks/results/NAME.md."""
    from . import bench
    if not any((baseline, model_bench, spectra, real, speed, synth, realism, compare)):
        raise click.UsageError("choose at least one of --baseline --model --spectra --real --speed "
                               "--synth --realism --compare")
    if compare:
        n = n_tiles if n_tiles != 1000 else 300
        bench.bench_compare(compare, n=n, outdir=outdir,
                            command=f"nmrpick-ml bench --compare {compare}"
                                    + (f" --n {n_tiles}" if n_tiles != 1000 else ""))
    if data_dir and not real:
        raise click.UsageError("--data is the folder of --real; give --real too")
    if realism:
        bench.bench_realism(outdir=outdir)
    if synth:
        bench.bench_synth(outdir=outdir)
    if baseline:
        bench.bench_baseline(outdir=outdir)
    if model_bench:
        cmd = "nmrpick-ml bench --model" + (f" --n {n_tiles}" if n_tiles != 1000 else "")
        bench.bench_model(weights, n=n_tiles, command=cmd, outdir=outdir)
    if spectra and processed:
        bench.bench_spectra(weights, outdir=outdir, spectra=bench.PROCESSED_SPECTRA,
                            report="spectra_processed", command="nmrpick-ml bench --spectra --processed")
    elif spectra:
        bench.bench_spectra(weights, outdir=outdir)
    if real:
        cmd = "nmrpick-ml bench --real" + (f" --data {data_dir}" if data_dir else "")
        bench.bench_real(weights, root=data_dir, command=cmd, outdir=outdir)
    if no_torch_big and not speed:
        raise click.UsageError("--speed-no-torch-big goes with --speed")
    if speed:
        bench.bench_speed(weights, outdir=outdir, torch_big=not no_torch_big,
                          command="nmrpick-ml bench --speed" + (" --speed-no-torch-big" if no_torch_big else ""))


if __name__ == "__main__":      # python -m nmrpick_ml.cli
    main()
