"""Exception types of nmrpick-ml.

The API raises these (never click types); ``cli.py`` turns them into a one-line
``Error: ...`` message and exit code 2.
"""


class NmrpickError(ValueError):
    """Bad input or a file that cannot be used (a subclass of ValueError)."""


class ModelIntegrityError(NmrpickError):
    """A weights file is truncated, tampered with, or not a model state_dict."""
