# -*- coding: utf-8 -*-
"""nmrpick-ml peak picker for POKY (also NMRFAM-Sparky and UCSF Sparky).

Picks the peaks of the selected 2D spectrum with the ``nmrpick-ml`` command
and places them in the spectrum, each with the note ``nmrpick-ml score=0.97``.
This file is a thin shell: it runs the command as a separate process (so the
host's Python never needs torch, numpy or nmrpick_ml), reads back the table
the command wrote and calls ``spectrum.place_peak`` for each row.

Install (POKY): copy this file into the folder that holds your installation's
``poky_site.py`` and add this line to the list of commands in ``poky_site.py``::

    ('ML', 'nmrpick-ml peak picker', ('nmrpick_poky', 'pick_peaks_ml')),

then restart POKY and type ``ML`` (or use the menu entry).

Without installing: open this file in POKY's Notepad and run it (File ->
Run Python Module); it uses ``__main__.main_session``.

UCSF / NMRFAM-Sparky: copy this file to ``~/Sparky/Python/`` and call
``nmrpick_poky.register(session)`` from ``initialize_session(session)`` in
``~/Sparky/Python/sparky_init.py``.

Which ``nmrpick-ml`` runs: the path saved in the project (key
``nmrpick_ml_path``), else the environment variable ``NMRPICK_ML``, else
``nmrpick-ml`` on ``PATH``; if none is found you are asked for the full path
once and it is saved in the project.  To change it later, run in Notepad::

    s.project.save_value('nmrpick_ml_path', '/path/to/env/bin/nmrpick-ml')

The run is stopped after 600 s; change that with
``s.project.save_value('nmrpick_ml_timeout', '1200')``.

What the command is asked for: ``nmrpick-ml DATA_PATH -o TMP/peaks.tab
--format tab -q`` plus ``--snr``, ``--negative`` and ``--score-threshold`` from
the dialogs, and ``--region`` with the region shown in the selected view of the
spectrum (what you see is what is picked; the noise is still measured on the
whole spectrum).  While it runs, POKY's status line
(``session.report_information``) says so every PROGRESS_S seconds.  The NMRPipe ``.tab`` carries both ppm values and the SCORE column
in one file: its Y axis is the first UCSF axis (w1) and its X axis the second
(w2), in the file's ppm; ``scale_offset`` is added before placing.

Standard library only; Python 3, and Python 2.7 syntax where it costs nothing.
"""

import os
import subprocess
import tempfile
import time
import shutil

TITLE = 'nmrpick-ml'
NOTE_PREFIX = 'nmrpick-ml'
EXE_NAME = 'nmrpick-ml'
DEFAULT_TIMEOUT_S = 600.0
PROGRESS_S = 2.0                 # seconds between status-line reports while it runs

KEY_PATH = 'nmrpick_ml_path'
KEY_TIMEOUT = 'nmrpick_ml_timeout'
KEY_SNR = 'nmrpick_ml_snr'
KEY_SCORE = 'nmrpick_ml_score'


class PickError(Exception):
    """A problem to show to the user in one message box."""


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------

def pick_peaks_ml(session):
    """Menu command ``ML``: pick the selected 2D spectrum with nmrpick-ml."""
    try:
        _pick(session)
    except PickError as e:
        session.show_message(TITLE, str(e))


def register(session):
    """Add the ``ML`` command at run time (UCSF/NMRFAM-Sparky ``sparky_init.py``)."""
    session.add_command('ML', 'nmrpick-ml peak picker',
                        lambda: pick_peaks_ml(session))


def main():
    """Notepad entry point (File -> Run Python Module)."""
    import __main__
    session = getattr(__main__, 'main_session', None)
    if session is None:
        raise SystemExit('nmrpick_poky.py: run it inside POKY (Notepad: File -> '
                         'Run Python Module); no __main__.main_session here.')
    pick_peaks_ml(session)


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

def _pick(session):
    spectrum = _choose_spectrum(session)
    if spectrum is None:
        return
    if spectrum.dimension != 2:
        raise PickError('%s is a %dD spectrum; nmrpick-ml picks 2D spectra only.'
                        % (spectrum.name, spectrum.dimension))
    data_path = spectrum.data_path
    if data_path.lower().endswith('.pzst'):
        raise PickError(
            '%s is stored in POKY\'s compressed .pzst format, which nmrpick-ml '
            '(nmrglue) cannot read.\nSave or convert it to an uncompressed '
            '.ucsf file, open that file in POKY and run ML again.' % data_path)
    if not os.path.isfile(data_path):
        raise PickError('The data file of %s was not found:\n%s'
                        % (spectrum.name, data_path))

    project = session.project
    options = _ask_options(session, spectrum)
    if options is None:
        return
    exe = find_executable(session)
    if exe is None:
        return

    args = []
    region = displayed_region(session, spectrum)
    if region is not None:
        args += ['--region', region_arg(region)]
    if options['snr'] is not None:
        args += ['--snr', repr(options['snr'])]
    if options['negative']:
        args.append('--negative')
    if options['score'] is not None:
        args += ['--score-threshold', repr(options['score'])]

    tmp = tempfile.mkdtemp(prefix='nmrpick-ml-')
    try:
        out = os.path.join(tmp, 'peaks.tab')
        timeout = _timeout(project)

        def progress(elapsed):
            _status(session, 'nmrpick-ml: picking %s ... %d s (stopped at %d s)'
                    % (spectrum.name, elapsed, timeout))
        progress(0)
        try:
            run_command([exe, data_path, '-o', out, '--format', 'tab', '-q'] + args,
                        timeout, tmp, progress)
        except PickError:
            _status(session, 'nmrpick-ml: failed on %s' % spectrum.name)
            raise
        rows = read_tab(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    placed, outside = _place(spectrum, rows)
    msg = 'nmrpick-ml placed %d peak%s on %s.' % (
        len(placed), '' if len(placed) == 1 else 's', spectrum.name)
    _status(session, msg)
    if region is not None:
        msg += ('\nPicked in the displayed region %s ppm (%s) x %s ppm (%s); the noise was '
                'measured on the whole spectrum.' % (
                    _span(region, 1), spectrum.nuclei[1], _span(region, 0), spectrum.nuclei[0]))
    if outside:
        msg += '\n%d position%s outside the spectrum region skipped.' % (
            outside, '' if outside == 1 else 's')
    if options['old_peaks']:
        for peak in spectrum.peak_list():
            peak.selected = False
        for peak in options['old_peaks']:
            peak.selected = True
        msg += ('\nThe %d earlier nmrpick-ml peaks are selected: press Delete '
                'to remove them (POKY\'s scripting API has no call that deletes '
                'a peak).' % len(options['old_peaks']))
    session.show_message(TITLE, msg)


def _status(session, message):
    """A line in POKY's main-window status (``report_information``), if it has one."""
    report = getattr(session, 'report_information', None)
    if report is not None:
        report(message)


def displayed_region(session, spectrum):
    """The region of ``spectrum`` shown in the selected view, in file ppm:
    ((low per axis), (high per axis)), or None when no view of it is selected."""
    view = session.selected_view()
    if view is None or view.spectrum is not spectrum:
        return None
    low, high = view.region
    offset = spectrum.scale_offset
    return (tuple(low[i] - offset[i] for i in range(2)),
            tuple(high[i] - offset[i] for i in range(2)))


def region_arg(region):
    """``--region`` of nmrpick-ml: X (= w2, axis 1) and Y (= w1, axis 0) in file ppm."""
    low, high = region
    return 'X=%.6f:%.6f,Y=%.6f:%.6f' % (low[1], high[1], low[0], high[0])


def _span(region, axis):
    return '%.3f..%.3f' % (region[0][axis], region[1][axis])


def _choose_spectrum(session):
    spectrum = session.selected_spectrum()
    if spectrum is not None:
        return spectrum
    name = session.show_spectrumselectiondialog('nmrpick-ml: select a 2D spectrum', 0)
    if not name:
        return None
    for sp in session.project.spectrum_list():
        if sp.name == name:
            return sp
    raise PickError('No spectrum named %r in this project.' % name)


def _ask_options(session, spectrum):
    """Ask the picking options; None when the user cancels (empty answer)."""
    project = session.project
    snr = _ask_number(session, 'Threshold as a multiple of the noise\n'
                      '("auto" = nmrpick-ml\'s own default):',
                      project.saved_value(KEY_SNR) or 'auto')
    if snr is False:
        return None
    score = _ask_number(session, 'Minimum score between 0 and 1\n'
                        '("auto" = the model\'s own threshold):',
                        project.saved_value(KEY_SCORE) or 'auto', high=1.0)
    if score is False:
        return None
    project.save_value(KEY_SNR, 'auto' if snr is None else repr(snr))
    project.save_value(KEY_SCORE, 'auto' if score is None else repr(score))
    negative = bool(session.show_message_yes_no(TITLE, 'Pick negative peaks too?'))

    old = [p for p in spectrum.peak_list()
           if (p.note or '').startswith(NOTE_PREFIX)]
    if old and not session.show_message_yes_no(
            TITLE, '%s already has %d nmrpick-ml peaks.\nSelect them after '
            'picking so that you can delete them (replace)?\n'
            '(No keeps them.)' % (spectrum.name, len(old))):
        old = []
    return {'snr': snr, 'score': score, 'negative': negative, 'old_peaks': old}


def _ask_number(session, msg, default, high=None):
    """A float (> 0, or 0..high when high is given), None for "auto", or
    False when the user cancels (POKY's input dialog returns '')."""
    text = session.show_inputdialog(TITLE, msg, default)
    if text is None or not text.strip():
        return False
    text = text.strip()
    if text.lower() == 'auto':
        return None
    try:
        value = float(text)
    except ValueError:
        raise PickError('Not a number: %r' % text)
    if high is None and not value > 0:
        raise PickError('%s: the threshold must be a number > 0.' % text)
    if high is not None and not 0 <= value <= high:
        raise PickError('%s: the score threshold must be between 0 and %g.'
                        % (text, high))
    return value


def _timeout(project):
    value = project.saved_value(KEY_TIMEOUT)
    try:
        return float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


def _place(spectrum, rows):
    """Place the rows (file ppm) at displayed ppm; return (peaks, n_outside)."""
    offset = spectrum.scale_offset
    low, high = spectrum.region
    placed, outside = [], 0
    for row in rows:
        # .tab Y = numpy axis 0 = UCSF w1 = POKY axis 0; X = w2 = POKY axis 1
        pos = (row['Y_PPM'] + offset[0], row['X_PPM'] + offset[1])
        if not all(low[i] <= pos[i] <= high[i] for i in range(2)):
            outside += 1
            continue
        peak = spectrum.place_peak(pos)
        score = row.get('SCORE')
        if score is None or score != score:        # absent or NaN
            peak.note = NOTE_PREFIX
        else:
            peak.note = '%s score=%.2f' % (NOTE_PREFIX, score)
        placed.append(peak)
    return placed, outside


# ---------------------------------------------------------------------------
# Finding and running nmrpick-ml (the same helpers live in nmrpick_ccpn.py)
# ---------------------------------------------------------------------------

def _is_exe(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def which(name):
    """``shutil.which`` (absent in Python 2.7)."""
    finder = getattr(shutil, 'which', None)
    if finder is not None:
        return finder(name)
    exts = os.environ.get('PATHEXT', '').split(os.pathsep) if os.name == 'nt' else ['']
    for folder in os.environ.get('PATH', '').split(os.pathsep):
        for ext in exts:
            path = os.path.join(folder, name + ext)
            if _is_exe(path):
                return path
    return None


def find_executable(session):
    """Saved project setting, then $NMRPICK_ML, then PATH, then ask the user."""
    project = session.project
    saved = project.saved_value(KEY_PATH)
    for candidate in (saved, os.environ.get('NMRPICK_ML'), which(EXE_NAME)):
        if _is_exe(candidate):
            return candidate
    answer = session.show_inputdialog(
        TITLE, 'Full path of the nmrpick-ml command of the Python environment '
        'where nmrpick-ml is installed\n(e.g. /home/me/miniconda3/envs/nmr/bin/'
        'nmrpick-ml; "which nmrpick-ml" in that environment prints it):',
        saved or '')
    if not answer or not answer.strip():
        return None
    path = os.path.expanduser(answer.strip())
    if not _is_exe(path):
        raise PickError('Not an executable file: %s' % path)
    project.save_value(KEY_PATH, path)
    return path


def clean_env():
    """The user's environment without the host's PYTHONHOME/PYTHONPATH."""
    env = dict(os.environ)
    env.pop('PYTHONHOME', None)
    env.pop('PYTHONPATH', None)
    return env


def run_command(cmd, timeout, workdir, progress=None):
    """Run ``cmd``; raise PickError with its last stderr line when it fails.

    ``progress(elapsed_seconds)`` is called every PROGRESS_S seconds while it runs."""
    err_path = os.path.join(workdir, 'stderr.txt')
    log_path = os.path.join(workdir, 'stdout.txt')
    kwargs = {}
    if os.name == 'posix':
        kwargs['preexec_fn'] = os.setsid      # own process group: kill it all
    with open(os.devnull, 'rb') as stdin, open(log_path, 'wb') as out, \
            open(err_path, 'wb') as err:
        try:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err,
                                    env=clean_env(), cwd=workdir, **kwargs)
        except OSError as e:
            raise PickError('Could not start %s:\n%s' % (cmd[0], e))
        start = time.time()
        deadline = start + timeout
        reported = start
        while proc.poll() is None:
            now = time.time()
            if progress is not None and now - reported >= PROGRESS_S:
                reported = now
                progress(now - start)
            if now > deadline:
                _kill(proc)
                raise PickError('nmrpick-ml did not finish within %g s and was '
                                'stopped; nothing was placed.\n(Raise the limit '
                                'with project.save_value(\'%s\', \'SECONDS\').)'
                                % (timeout, KEY_TIMEOUT))
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


if __name__ == '__main__':
    main()
