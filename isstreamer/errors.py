"""Exceptions raised into user code. Background failures are logged, never raised."""

from __future__ import annotations


class ISStreamerError(Exception):
    """Base class for every error isstreamer raises on purpose."""


class ConfigError(ISStreamerError, ValueError):
    """The configuration (arguments, environment or ini file) cannot work as given."""


class InvalidEventError(ISStreamerError, ValueError):
    """A value, key or epoch passed to ``log()`` cannot become a valid event."""
