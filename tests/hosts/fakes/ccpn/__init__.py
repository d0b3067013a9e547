"""Fake ``ccpn`` package for the tests (see tests/hosts/__init__.py)."""
