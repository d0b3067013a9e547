"""Base class that makes a double refuse anything it does not define."""


class Strict(object):
    """No ``__dict__`` (every subclass declares ``__slots__``) and a clear error
    for a missing attribute, naming the host whose API lacks it."""

    __slots__ = ()
    _HOST = "host"

    def __getattr__(self, name):
        raise AttributeError("%s %s has no attribute %r (not in shared/hosts.md)"
                             % (self._HOST, type(self).__name__, name))
