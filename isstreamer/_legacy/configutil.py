"""``ISStreamer.configutil.getConfig``: the original's ini reader, with its bugs fixed."""

from __future__ import annotations

from typing import Dict, Optional

from isstreamer.config import DEFAULT_API_BASE, DEFAULT_OFFLINE_FILE, normalize_api_base, read_ini


def getConfig(ini_file_location: Optional[str] = None) -> Dict[str, str]:  # noqa: N802
    """The ini file's settings as the original returned them (strings, same keys)."""
    ini = read_ini(ini_file_location)
    base = DEFAULT_API_BASE
    if ini.stream_api_base:
        base = normalize_api_base(ini.stream_api_base, f"ini file {ini.path}")
    return {
        "bucket": ini.bucket_name or "",
        "access_key": ini.access_key or "",
        "offline_mode": ini.offline_mode if ini.offline_mode is not None else "false",
        "offline_file": ini.offline_file or DEFAULT_OFFLINE_FILE,
        "stream_api_base": base,
    }
