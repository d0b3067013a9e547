# -*- coding: utf-8 -*-
"""nmrpick-ml peak picker for CCPN Analysis v3 (3.0 to 3.2): a macro.

Run it in the Python console (or Macro > Run...) of Analysis::

    %run -i nmrpick_ccpn.py                       # pick the current strip's spectrum
    %run -i nmrpick_ccpn.py --snr 10 --negative   # options, see --help
    %run -i nmrpick_ccpn.py --register            # 3.1+: add the 'nmrpick-ml' picker

Picking takes the first spectrum of the current strip (else ``current.spectrum``,
or ``--spectrum SP:name``), sends it to the ``nmrpick-ml`` command and creates a
new peak list titled ``nmrpick-ml`` with one peak per row, all inside one
``undoBlock`` (one Undo removes them all).  Nothing is created when the command
fails; its one-line error is shown with ``showWarning``.

What the command gets: ``nmrpick-ml INPUT -o TMP/peaks.tab --format tab -q``
(plus ``--snr``, ``--threshold``, ``--negative``, ``--score-threshold``).
INPUT is the spectrum's own file when ``dataFormat`` is NMRPipe or UCSF (3.1+),
else the plane from ``getPlaneData()`` saved as ``TMP/plane.npy`` with a
``plane.json`` of axes (sweep width, spectrometer frequency, reference point
and value per numpy axis).  Only the point columns X_AXIS/Y_AXIS (1-based) are
read back, and converted with ``spectrum.point2ppm(point, dimension=d)`` (3.1+)
or ``mainSpectrumReferences[d-1].pointToValue(point)`` (3.0), so referencing
done in CCPN is honoured.  X is CCPN dimension 1 (the direct axis).

``--register`` (3.1+) defines ``NmrpickMLPicker``, a ``PeakPickerABC`` with
``peakPickerType = 'nmrpick-ml'``, registers it and makes it the peak picker of
the current spectrum; CCPN's own picking (``spectrum.pickPeaks``, drag-to-pick)
then runs nmrpick-ml on the picked region: the command gets the whole plane and
the region as ``--region``, so the noise is that of the whole plane.  CCPN
forgets registered pickers when it closes; to have it in every session, add
this line to a macro that CCPN runs at start-up (or run it once per session)::

    %run -i ~/.ccpn/macros/nmrpick_ccpn.py --register

Which ``nmrpick-ml`` runs: ``--exe PATH``, else a console variable
``NMRPICK_ML_EXE``, else ``DEFAULT_EXE`` below, else the environment variable
``NMRPICK_ML``, else ``nmrpick-ml`` on ``PATH``.  It runs with ``PYTHONHOME``
and ``PYTHONPATH`` removed from its environment (CCPN sets both for its own
Python) and is stopped after ``--timeout`` seconds (default 600, or a console
variable ``NMRPICK_ML_TIMEOUT``).

This file needs no torch and no nmrpick_ml; numpy (which CCPN has) only for the
plane route.  Copy it to ``~/.ccpn/macros/``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# Edit to point at the nmrpick-ml of your environment, e.g.
# DEFAULT_EXE = '/home/me/miniconda3/envs/nmr/bin/nmrpick-ml'
DEFAULT_EXE = None
DEFAULT_TIMEOUT_S = 600.0
TITLE = 'nmrpick-ml'
EXE_NAME = 'nmrpick-ml'
FILE_FORMATS = ('NMRPipe', 'UCSF')


class PickError(Exception):
    """A problem to show to the user in one warning."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise PickError('nmrpick_ccpn.py: ' + message)


def _parser():
    p = _Parser(prog='%run -i nmrpick_ccpn.py',
                description='Pick the current 2D spectrum with nmrpick-ml.')
    p.add_argument('--spectrum', metavar='PID', help="e.g. SP:hsqc (default: current strip's)")
    p.add_argument('--snr', type=float, help='threshold as a multiple of the noise')
    p.add_argument('--threshold', type=float, help='absolute threshold (spectrum units)')
    p.add_argument('--negative', action='store_true', help='pick negative peaks too')
    p.add_argument('--score-threshold', type=float, dest='score', help='minimum score 0..1')
    p.add_argument('--source', choices=('auto', 'plane', 'file'), default='auto',
                   help='send the file (NMRPipe/UCSF) or the plane from getPlaneData()')
    p.add_argument('--title', default=TITLE, help='title of the new peak list')
    p.add_argument('--exe', help='path of the nmrpick-ml command')
    p.add_argument('--timeout', type=float, help='seconds (default 600)')
    p.add_argument('--register', action='store_true',
                   help="3.1+: register the 'nmrpick-ml' PeakPicker and use it for the spectrum")
    return p


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def main(ns, argv):
    """Run the macro in the console namespace ``ns``; return the new peak list."""
    try:
        opts = _parser().parse_args(argv)
    except SystemExit:          # --help
        return None
    except PickError as e:
        _warn(ns, str(e))
        return None
    timeout = float(opts.timeout or ns.get('NMRPICK_ML_TIMEOUT') or DEFAULT_TIMEOUT_S)
    exe_setting = opts.exe or ns.get('NMRPICK_ML_EXE') or DEFAULT_EXE
    try:
        if opts.register:
            register_picker(ns, find_executable(exe_setting), timeout, opts)
            return None
        spectrum = _spectrum(ns, opts.spectrum)
        if spectrum.dimensionCount != 2:
            raise PickError('%s is %dD; nmrpick-ml picks 2D spectra only.'
                            % (spectrum.pid, spectrum.dimensionCount))
        return pick_spectrum(ns, spectrum, find_executable(exe_setting), timeout, opts)
    except PickError as e:
        _warn(ns, str(e))
        return None


def _warn(ns, message):
    show = ns.get('showWarning')
    if show is not None:
        show(TITLE, message)
    elif ns.get('warning') is not None:
        ns['warning'](message)
    else:
        sys.stderr.write('%s: %s\n' % (TITLE, message))


def _info(ns, message):
    if ns.get('info') is not None:
        ns['info'](message)
    else:
        sys.stdout.write(message + '\n')


def _spectrum(ns, pid=None):
    if pid:
        spectrum = ns['project'].getByPid(pid)
        if spectrum is None:
            raise PickError('No spectrum %s in the project.' % pid)
        return spectrum
    current = ns.get('current')
    strip = getattr(current, 'strip', None)
    if strip is not None and not strip.isDeleted and strip.spectra:
        return strip.spectra[0]
    spectrum = getattr(current, 'spectrum', None)
    if spectrum is None:
        raise PickError('No current strip or spectrum: open a 2D spectrum in a '
                        'spectrum display (or pass --spectrum SP:name).')
    return spectrum


# ---------------------------------------------------------------------------
# Picking a spectrum into a new peak list
# ---------------------------------------------------------------------------

def pick_spectrum(ns, spectrum, exe, timeout, opts):
    """Run nmrpick-ml on the 2D ``spectrum``; its peaks in a new peak list."""
    new_api = hasattr(spectrum, 'point2ppm')          # 3.1+
    to_ppm = _point_converter(spectrum)
    tmp = tempfile.mkdtemp(prefix='nmrpick-ml-')
    try:
        source, scale = _input_file(spectrum, opts.source, tmp)
        args = _threshold_args(opts.snr, opts.threshold, opts.negative, opts.score)
        rows = run_nmrpick(exe, source, tmp, args, timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if not rows:
        _info(ns, 'nmrpick-ml found no peaks in %s; no peak list created.' % spectrum.pid)
        return None
    peaks = []
    for row in rows:
        x, y = row['X_AXIS'], row['Y_AXIS']
        kw = {'ppmPositions': (to_ppm(x, 1), to_ppm(y, 2)),
              'height': row['HEIGHT'] * scale}
        if new_api:
            if _finite(row.get('VOL')):
                kw['volume'] = row['VOL'] * scale
            if _finite(row.get('XW')) and _finite(row.get('YW')):
                kw['pointLineWidths'] = (row['XW'], row['YW'])
        peaks.append(kw)

    undoBlock = _undo_block(ns)
    comment = 'nmrpick-ml ' + ' '.join(args)
    with undoBlock():
        peakList = spectrum.newPeakList(title=opts.title, comment=comment.strip())
        for kw in peaks:
            peakList.newPeak(**kw)
    _info(ns, 'nmrpick-ml: %d peaks in new peak list %s of %s'
          % (len(peaks), peakList.pid, spectrum.pid))
    return peakList


def _undo_block(ns):
    try:
        from ccpn.core.lib.ContextManagers import undoBlock
    except ImportError:
        undoBlock = ns.get('undoBlock')
        if undoBlock is None:
            raise PickError('undoBlock not found; is this CCPN Analysis 3.x?')
    return undoBlock


def _point_converter(spectrum):
    """1-based point -> ppm for CCPN dimension d, with CCPN's referencing."""
    if hasattr(spectrum, 'point2ppm'):
        return lambda point, d: spectrum.point2ppm(point, dimension=d)
    refs = spectrum.mainSpectrumReferences                      # 3.0
    return lambda point, d: refs[d - 1].pointToValue(point)


def _finite(value):
    return isinstance(value, float) and value == value and abs(value) != float('inf')


def _input_file(spectrum, source, tmp):
    """(path for nmrpick-ml, factor that converts its heights to CCPN units)."""
    fmt = getattr(spectrum, 'dataFormat', None)                 # 3.1+
    path = spectrum.path
    usable = fmt in FILE_FORMATS and bool(path) and os.path.isfile(path)
    if source == 'file' and not usable:
        raise PickError('--source file needs an NMRPipe or UCSF file on disk; %s '
                        'is %s at %s.' % (spectrum.pid, fmt or 'unknown', path))
    if source != 'plane' and usable:
        return path, spectrum.scale               # file values are not scaled
    data = spectrum.getPlaneData()                # (y, x), already scaled
    return write_plane(data, plane_axes(spectrum), tmp), 1.0


def plane_axes(spectrum, starts=(1, 1), shape=None):
    """Axes JSON for nmrpick-ml, numpy axis order (CCPN dimension 2, then 1).

    ``starts`` are the 1-based first points of a region per CCPN dimension and
    ``shape`` its numpy shape; the default is the whole spectrum.
    """
    axes = []
    for d in (2, 1):
        i = d - 1
        n = spectrum.pointCounts[i] if shape is None else shape[2 - d]
        sw_hz = spectrum.spectralWidthsHz[i] * float(n) / spectrum.pointCounts[i]
        axes.append({'label': spectrum.isotopeCodes[i] or spectrum.axisCodes[i],
                     'sw_hz': sw_hz,
                     'obs_mhz': spectrum.spectrometerFrequencies[i],
                     'ref_point': spectrum.referencePoints[i] - (starts[i] - 1),
                     'ref_ppm': spectrum.referenceValues[i]})
    return axes


def write_plane(data, axes, tmp):
    import numpy as np                            # CCPN ships numpy
    data = np.asarray(data)
    if data.ndim != 2:
        raise PickError('Expected a 2D plane, got an array of shape %r.' % (data.shape,))
    path = os.path.join(tmp, 'plane.npy')
    np.save(path, np.ascontiguousarray(data))
    with open(os.path.join(tmp, 'plane.json'), 'w') as f:
        json.dump({'axes': axes}, f)
    return path


def _threshold_args(snr, threshold, negative, score):
    args = []
    if snr is not None:
        args += ['--snr', repr(float(snr))]
    if threshold is not None:
        args += ['--threshold', repr(float(threshold))]
    if negative:
        args.append('--negative')
    if score is not None:
        args += ['--score-threshold', repr(float(score))]
    return args


# ---------------------------------------------------------------------------
# The 3.1+ peak-picker plug-in
# ---------------------------------------------------------------------------

def make_picker_class(exe, timeout, args, report):
    """Define ``NmrpickMLPicker`` (needs CCPN 3.1+'s PeakPickerABC)."""
    from ccpn.core.lib.PeakPickers.PeakPickerABC import PeakPickerABC, SimplePeak

    class NmrpickMLPicker(PeakPickerABC):
        """CCPN peak picker that runs the nmrpick-ml command on the region."""

        peakPickerType = 'nmrpick-ml'
        onlyFor1D = False
        _nmrpickExe = exe
        _nmrpickTimeout = timeout
        _nmrpickArgs = tuple(args)
        _nmrpickReport = staticmethod(report)

        def findPeaks(self, data):
            """SimplePeaks (0-based points of ``data``, numpy order) found in ``data``.

            ``data`` is the region CCPN asks for (``sliceTuples``, e.g. a drag).
            The command gets the whole plane and that region as ``--region``, so
            that the noise (and with it the threshold floor and the score) is
            measured on the whole plane, not on the dragged box.
            """
            shape = getattr(data, 'shape', ())
            if len(shape) != 2:
                self._nmrpickReport('nmrpick-ml picks 2D data only; got shape %r.' % (shape,))
                return []
            # (first, last) 1-based point of the region per CCPN dimension, set by pickPeaks
            slices = getattr(self, 'sliceTuples', None)
            starts = tuple(int(min(s)) for s in slices) if slices else (1, 1)
            stops = tuple(int(max(s)) for s in slices) if slices else (shape[1], shape[0])
            pos, neg = self.positiveThreshold, self.negativeThreshold
            thr = abs(pos) if pos else (abs(neg) if neg else None)
            extra = _threshold_args(None, thr, bool(neg), None)
            plane, region = _whole_plane(self.spectrum, shape, starts, stops)
            tmp = tempfile.mkdtemp(prefix='nmrpick-ml-')
            try:
                if plane is not None:
                    path = write_plane(plane, plane_axes(self.spectrum), tmp)
                    extra += ['--region', region]
                    offset = starts                   # table points: of the whole plane
                else:                                 # no whole plane: the region alone
                    path = write_plane(data, plane_axes(self.spectrum, starts, shape), tmp)
                    offset = (1, 1)
                rows = run_nmrpick(self._nmrpickExe, path, tmp,
                                   list(self._nmrpickArgs) + extra, self._nmrpickTimeout)
            except PickError as e:
                self._nmrpickReport(str(e))
                return []
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            peaks = []
            for row in rows:
                widths = None
                if _finite(row.get('XW')) and _finite(row.get('YW')):
                    widths = (row['XW'], row['YW'])   # CCPN dimension order
                points = (row['Y_AXIS'] - offset[1], row['X_AXIS'] - offset[0])
                peaks.append(SimplePeak(points=points, height=row['HEIGHT'], lineWidths=widths,
                                        volume=row['VOL'] if _finite(row.get('VOL')) else None))
            return peaks

    return NmrpickMLPicker


def _whole_plane(spectrum, shape, starts, stops):
    """(whole plane, ``--region`` text) for a region of a 2D spectrum, or (None, None).

    The region's edges are those of its first and last points (+-0.5), in
    ppm of CCPN's referencing (``point2ppm``), as X (dimension 1) and Y (2).
    """
    if getattr(spectrum, 'dimensionCount', 2) != 2 or not hasattr(spectrum, 'point2ppm'):
        return None, None
    try:
        plane = spectrum.getPlaneData()
    except Exception:                       # noqa: BLE001 - any host failure: region alone
        return None, None
    if len(getattr(plane, 'shape', ())) != 2 or plane.shape[0] < shape[0] \
            or plane.shape[1] < shape[1]:
        return None, None
    ppm = [sorted((spectrum.point2ppm(starts[i] - 0.5, dimension=i + 1),
                   spectrum.point2ppm(stops[i] + 0.5, dimension=i + 1))) for i in range(2)]
    return plane, 'X=%.6f:%.6f,Y=%.6f:%.6f' % (ppm[0][0], ppm[0][1], ppm[1][0], ppm[1][1])


def register_picker(ns, exe, timeout, opts):
    try:
        spectrum = _spectrum(ns, opts.spectrum)
    except PickError:
        spectrum = None
    if spectrum is not None and not hasattr(spectrum, 'point2ppm'):
        raise PickError('The peak-picker plug-in needs CCPN Analysis 3.1 or later.')
    try:
        cls = make_picker_class(exe, timeout,
                                _threshold_args(opts.snr, None, False, opts.score),
                                lambda message: _warn(ns, message))
    except ImportError:
        raise PickError('The peak-picker plug-in needs CCPN Analysis 3.1 or later.')
    registrar = getattr(cls, '_registerPeakPicker', None) or cls.register
    try:
        registrar()
    except RuntimeError:        # already registered in this session
        pass
    ns['NmrpickMLPicker'] = cls
    msg = "Registered the 'nmrpick-ml' peak picker (NmrpickMLPicker)."
    if spectrum is not None:
        spectrum.peakPicker = cls(spectrum=spectrum)
        msg += ' It is now the peak picker of %s.' % spectrum.pid
    _info(ns, msg)
    return cls


# ---------------------------------------------------------------------------
# Finding and running nmrpick-ml (the same helpers live in nmrpick_poky.py)
# ---------------------------------------------------------------------------

def _is_exe(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def find_executable(explicit=None):
    """``explicit``, then $NMRPICK_ML, then ``nmrpick-ml`` on PATH."""
    if explicit:
        path = os.path.expanduser(str(explicit))
        if not _is_exe(path):
            raise PickError('nmrpick-ml not found: %s is not an executable file.' % path)
        return path
    for candidate in (os.environ.get('NMRPICK_ML'), shutil.which(EXE_NAME)):
        if _is_exe(candidate):
            return candidate
    raise PickError('The nmrpick-ml command was not found on PATH. Set its full path '
                    'in the console, e.g.\nNMRPICK_ML_EXE = "/home/me/miniconda3/envs/'
                    'nmr/bin/nmrpick-ml"\n(or run with --exe PATH).')


def clean_env():
    """The user's environment without the host's PYTHONHOME/PYTHONPATH."""
    env = dict(os.environ)
    env.pop('PYTHONHOME', None)
    env.pop('PYTHONPATH', None)
    return env


def run_nmrpick(exe, source, tmp, args, timeout):
    """Run nmrpick-ml on ``source`` and return the rows of its ``.tab``."""
    out = os.path.join(tmp, 'peaks.tab')
    run_command([exe, source, '-o', out, '--format', 'tab', '-q'] + list(args),
                timeout, tmp)
    return read_tab(out)


def run_command(cmd, timeout, workdir):
    """Run ``cmd``; raise PickError with its last stderr line when it fails."""
    err_path = os.path.join(workdir, 'stderr.txt')
    log_path = os.path.join(workdir, 'stdout.txt')
    kwargs = {'start_new_session': True} if os.name == 'posix' else {}
    with open(os.devnull, 'rb') as stdin, open(log_path, 'wb') as out, \
            open(err_path, 'wb') as err:
        try:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err,
                                    env=clean_env(), cwd=workdir, **kwargs)
        except OSError as e:
            raise PickError('Could not start %s: %s' % (cmd[0], e))
        deadline = time.time() + timeout
        while proc.poll() is None:
            if time.time() > deadline:
                _kill(proc)
                raise PickError('nmrpick-ml did not finish within %g s and was stopped; '
                                'nothing was created (raise the limit with --timeout).'
                                % timeout)
            time.sleep(0.05)
    if proc.returncode != 0:
        line = _last_line(err_path)
        if line.startswith('Error'):
            raise PickError(line)               # bad input: the command's own words
        raise PickError('nmrpick-ml failed (exit code %d)%s' % (
            proc.returncode, ': ' + line if line else '.'))


def _kill(proc):
    try:
        if os.name == 'posix':
            os.killpg(proc.pid, 9)
        else:
            proc.kill()
    except OSError:
        pass
    proc.wait()


def _last_line(path):
    """The ``Error: ...`` line of stderr, else its last non-empty line."""
    with open(path, 'rb') as f:
        lines = [ln.strip() for ln in f.read().decode('utf-8', 'replace').splitlines()]
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if ln.startswith('Error')]
    return (errors or lines or [''])[-1]


def read_tab(path):
    """Rows of an NMRPipe ``.tab`` as dicts; numbers as floats, NULLVALUE as NaN."""
    names, rows, null = None, [], None
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith('#'):
                continue
            key = fields[0]
            if key.replace('_', '').isalpha() and key.isupper():    # header line
                if key == 'VARS':
                    names = fields[1:]
                elif key == 'NULLVALUE' and len(fields) > 1:
                    null = float(fields[1])
                continue
            if names is None:
                raise PickError('%s: no VARS line before the data.' % path)
            if len(fields) != len(names):
                raise PickError('%s: a row has %d fields for %d columns:\n%s'
                                % (path, len(fields), len(names), line.strip()))
            row = {}
            for name, text in zip(names, fields):
                try:
                    value = float(text)
                    row[name] = float('nan') if value == null else value
                except ValueError:
                    row[name] = text
            rows.append(row)
    if names is None:
        raise PickError('%s: not an NMRPipe table (no VARS line).' % path)
    return rows


def _argv():
    """Arguments of ``%run -i nmrpick_ccpn.py ARGS`` (none for other callers)."""
    me = os.path.basename(globals().get('__file__', '') or '')
    if sys.argv and me and os.path.basename(sys.argv[0]) == me:
        return sys.argv[1:]
    return []


if __name__ == '__main__':
    nmrpickPeakList = main(globals(), _argv())
