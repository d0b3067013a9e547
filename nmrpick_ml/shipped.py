"""The weights that ship in the package: paths, their config, hash checks.

``weights/maskrcnn.pt`` (torch state_dict), ``weights/config.json`` (the
picker's settings and the architecture) and ``weights/_registry.py`` (SHA-256
of each shipped file, written by the export). Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources

from ._errors import ModelIntegrityError

__all__ = ["weights_path", "model_config", "sha256_file", "check_shipped", "write_registry"]


def weights_path(name="maskrcnn.pt"):
    """Path of a shipped weights file (inside the installed package)."""
    return resources.files("nmrpick_ml").joinpath("weights", name)


def model_config(path=None):
    """The ``config.json`` that travels with a weights file (or {} if absent).

    Parameters
    ----------
    path : str, optional
        A weights file; its folder's ``config.json`` is read. Default: the
        shipped one.
    """
    p = (resources.files("nmrpick_ml").joinpath("weights", "config.json") if path is None
         else os.path.join(os.path.dirname(os.fspath(path)), "config.json"))
    try:
        with open(p) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ModelIntegrityError(f"{p}: not valid JSON ({exc})") from None


def sha256_file(path):
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_shipped(path, name):
    """Check a shipped file against ``weights/_registry.py``; return its SHA-256.

    Raises
    ------
    ModelIntegrityError
        The file is missing or its hash differs from the registry's.
    """
    from .weights import _registry
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelIntegrityError(f"weights file {p} not found; reinstall nmrpick-ml")
    expected = _registry.SHA256.get(name)
    got = sha256_file(p)
    if expected != got:
        raise ModelIntegrityError(
            f"weights {p}: sha256 mismatch (expected {str(expected)[:12]}..., got {got[:12]}...); "
            "the file is truncated or was changed: reinstall nmrpick-ml")
    return got


def write_registry(dest_dir, hashes):
    """Merge ``hashes`` ({file name: SHA-256}) into ``dest_dir/_registry.py`` (atomically).

    Entries not named in ``hashes`` are kept.
    """
    import ast
    from .files import atomic_write_text
    path = os.path.join(os.fspath(dest_dir), "_registry.py")
    old = {}
    if os.path.isfile(path):
        with open(path) as fh:
            tree = ast.parse(fh.read())
        for node in tree.body:
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SHA256":
                old = ast.literal_eval(node.value)
    old.update(hashes)
    body = ", ".join(f'"{k}": "{v}"' for k, v in sorted(old.items()))
    text = ('"""SHA-256 of the shipped weights, checked by ``load_model`` before loading.\n\n'
            'Updated by ``nmrpick_ml.train.export_weights`` and '
            '``nmrpick_ml.onnx_export.ship_onnx``; do not edit by hand.\n"""\n\n'
            f"SHA256 = {{{body}}}\n")
    atomic_write_text(path, text)
    return path
