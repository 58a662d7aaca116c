"""Submodules of the ``ISStreamer`` compatibility package (see ISStreamer.py)."""
