"""Turn arguments, environment variables and the ini file into one validated ``Settings``.

Precedence for every option: argument > environment variable > ini file > default. The ini
search order and option names are the original's, so existing ``isstreamer.ini`` files keep
working; its bugs (sections read together, ``offline_mode`` compared with the string "false",
``%`` interpolation crashes) are not carried over.
"""

from __future__ import annotations

import configparser
import os
from typing import TYPE_CHECKING, Dict, Mapping, NamedTuple, Optional
from urllib.parse import urlsplit

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .mqtt import MqttSettings

DEFAULT_API_BASE = "https://groker.init.st"
DEFAULT_OFFLINE_FILE = "./isstreamer_out.csv"
CLIENT_SECTION = "isstreamer.client_config"
API_SECTION = "isstreamer.api_config"
MQTT_SECTION = "isstreamer.mqtt"

ENV_ACCESS_KEY = "ISS_ACCESS_KEY"
ENV_BUCKET_NAME = "ISS_BUCKET_NAME"
ENV_BUCKET_KEY = "ISS_BUCKET_KEY"
ENV_API_BASE = "ISS_STREAM_API_BASE"
ENV_INI_FILE = "ISS_INI_FILE"

OVERFLOW_POLICIES = ("spool", "drop_oldest", "drop_newest", "block")
MAX_BUCKET_KEY_CHARS = 250
MAX_BUCKET_NAME_CHARS = 250
_FALSE_WORDS = {"", "0", "false", "no", "off", "n", "f"}
_TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}


class IniValues(NamedTuple):
    """What one ini file says; ``None`` where it says nothing."""

    path: Optional[str] = None
    access_key: Optional[str] = None
    bucket_name: Optional[str] = None
    offline_mode: Optional[str] = None
    offline_file: Optional[str] = None
    stream_api_base: Optional[str] = None
    mqtt: Optional[Dict[str, str]] = None  # the [isstreamer.mqtt] section, as written


def find_ini_file(ini_file_location: Optional[str]) -> Optional[str]:
    """The one ini file to read: the given one (which must exist), ~ first, then the cwd."""
    if ini_file_location is not None:
        path = os.path.expanduser(os.fspath(ini_file_location))
        if not os.path.isfile(path):
            raise ConfigError(
                f"ini_file_location {path!r} does not exist or is not a file; pass the path of "
                "an existing isstreamer.ini, or leave it out to use ~/isstreamer.ini or "
                "./isstreamer.ini"
            )
        return path
    for candidate in (
        os.path.join(os.path.expanduser("~"), "isstreamer.ini"),
        os.path.join(os.getcwd(), "isstreamer.ini"),
    ):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def read_ini(ini_file_location: Optional[str] = None) -> IniValues:
    """Read the ini file, each section on its own and with no ``%`` interpolation."""
    path = find_ini_file(ini_file_location)
    if path is None:
        return IniValues()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigError(f"cannot read ini file {path!r}: {exc}") from None

    def get(section: str, option: str) -> Optional[str]:
        if parser.has_option(section, option):
            return parser.get(section, option).strip()
        return None

    return IniValues(
        path=path,
        access_key=get(CLIENT_SECTION, "access_key"),
        bucket_name=get(CLIENT_SECTION, "default_bucket"),
        offline_mode=get(CLIENT_SECTION, "offline_mode"),
        offline_file=get(CLIENT_SECTION, "offline_file"),
        stream_api_base=get(API_SECTION, "stream_api_base"),
        mqtt=(
            {name: value.strip() for name, value in parser.items(MQTT_SECTION)}
            if parser.has_section(MQTT_SECTION) else None
        ),
    )


def parse_bool(text: str, what: str) -> bool:
    """Read a yes/no setting the way people write them (``False``, ``0``, ``no`` are off)."""
    word = text.strip().lower()
    if word in _FALSE_WORDS:
        return False
    if word in _TRUE_WORDS:
        return True
    raise ConfigError(f"{what} must be true or false (got {text!r})")


def normalize_api_base(base: str, source: str) -> str:
    """Accept a trailing slash or a path prefix; insist on http:// or https://."""
    base = base.strip()
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"stream_api_base from {source} must start with http:// or https:// and name a host "
            f"(got {base!r})"
        )
    return base.rstrip("/")


def is_loopback_url(base: str) -> bool:
    """Whether plain HTTP to this base stays on this machine (and so needs no warning)."""
    return is_loopback_host(urlsplit(base).hostname or "")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    import ipaddress  # only needed for plain-http bases: keep it off the import path

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def offline_path(offline_file: str) -> str:
    """The configured file name, with ``.csv`` added only when it is missing."""
    path = os.path.expanduser(offline_file)
    return path if path.lower().endswith(".csv") else path + ".csv"


def check_bucket(bucket_key: str, bucket_name: str) -> None:
    """Refuse bucket keys and names the API would refuse, before anything is sent."""
    if len(bucket_key) > MAX_BUCKET_KEY_CHARS:
        raise ConfigError(
            f"bucket_key is {len(bucket_key)} characters; the API allows at most "
            f"{MAX_BUCKET_KEY_CHARS}"
        )
    bad = sorted({c for c in bucket_key if c in ":\"'"})
    if bad:
        raise ConfigError(
            f"bucket_key {bucket_key!r} contains {' '.join(bad)}; the API does not allow "
            "':', '\"' or \"'\" in bucket keys"
        )
    if len(bucket_name) > MAX_BUCKET_NAME_CHARS:
        raise ConfigError(
            f"bucket_name is {len(bucket_name)} characters; the API allows at most "
            f"{MAX_BUCKET_NAME_CHARS}"
        )


def check_int(value: object, name: str, minimum: int = 1) -> int:
    return _positive_int(value, name, minimum)


def check_seconds(value: object, name: str) -> float:
    return _positive_number(value, name)


def _positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be a whole number >= {minimum} (got {value!r})")
    return value


def _positive_number(value: object, name: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value != value or value < 0 or (value == 0 and not allow_zero):  # type: ignore[operator]
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a number of seconds {bound} (got {value!r})")
    return float(value)  # type: ignore[arg-type]


class Settings(NamedTuple):
    """Everything a Streamer needs to know, validated once at construction."""

    bucket_name: str
    bucket_key: str
    access_key: str
    stream_api_base: str
    offline: bool
    offline_file: str
    debug_level: int
    buffer_size: int
    use_async: bool
    flush_interval: float
    close_timeout: float
    max_buffer: int
    overflow: str
    request_timeout: float
    retry_time: float
    retry_backoff: float
    ini_path: Optional[str]
    mqtt: Optional[MqttSettings] = None


def resolve(
    *,
    bucket_name: Optional[str],
    bucket_key: Optional[str],
    access_key: Optional[str],
    ini_file_location: Optional[str],
    debug_level: int,
    buffer_size: int,
    offline: Optional[bool],
    use_async: bool,
    stream_api_base: Optional[str],
    offline_file: Optional[str],
    flush_interval: float,
    close_timeout: float,
    max_buffer: int,
    overflow: str,
    request_timeout: float,
    retry_time: float,
    retry_backoff: float,
    environ: Optional[Mapping[str, str]] = None,
    mqtt: Optional[MqttSettings] = None,
) -> Settings:
    """Combine the sources; raise ``ConfigError`` naming the option and what to do."""
    env = os.environ if environ is None else environ
    if ini_file_location is None and env.get(ENV_INI_FILE):
        ini_file_location = env[ENV_INI_FILE]
    ini = read_ini(ini_file_location)

    def pick(arg: Optional[str], env_name: Optional[str], ini_value: Optional[str]) -> str:
        # The original treats "" as "not given", so scripts pass "" to mean "use the ini".
        if arg:
            return str(arg)
        if env_name and env.get(env_name):
            return env[env_name]
        return ini_value or ""

    if isinstance(debug_level, bool) or not isinstance(debug_level, int):
        raise ConfigError(f"debug_level must be a whole number (got {debug_level!r})")

    if offline is None:
        is_offline = (
            parse_bool(ini.offline_mode, f"offline_mode in {ini.path}")
            if ini.offline_mode is not None
            else False
        )
    else:
        is_offline = bool(offline)

    api_source = "the stream_api_base argument"
    raw_base = stream_api_base
    if not raw_base and env.get(ENV_API_BASE):
        raw_base, api_source = env[ENV_API_BASE], f"${ENV_API_BASE}"
    if not raw_base and ini.stream_api_base:
        raw_base, api_source = ini.stream_api_base, f"[{API_SECTION}] in {ini.path}"
    base = normalize_api_base(raw_base or DEFAULT_API_BASE, api_source)

    if mqtt is None and ini.mqtt is not None:
        from .mqtt import MqttSettings  # only when configured: paho itself loads even later

        mqtt = MqttSettings.from_ini(ini.mqtt, ini.path)

    key = pick(access_key, ENV_ACCESS_KEY, ini.access_key).strip()
    if not key and not is_offline and mqtt is None:  # a broker needs no Initial State key
        raise ConfigError(
            "no access key: pass Streamer(access_key=...), set the "
            f"{ENV_ACCESS_KEY} environment variable, or put access_key under "
            f"[{CLIENT_SECTION}] in isstreamer.ini (~/isstreamer.ini or ./isstreamer.ini). "
            "Find your key in your Initial State account settings."
        )

    name = pick(bucket_name, ENV_BUCKET_NAME, ini.bucket_name)
    bkey = pick(bucket_key, ENV_BUCKET_KEY, None)
    check_bucket(bkey, name)

    size = _positive_int(buffer_size, "buffer_size")
    cap = _positive_int(max_buffer, "max_buffer")
    if cap < size:
        raise ConfigError(f"max_buffer ({cap}) must be at least buffer_size ({size})")
    if overflow not in OVERFLOW_POLICIES:
        raise ConfigError(
            f"overflow must be one of {', '.join(OVERFLOW_POLICIES)} (got {overflow!r})"
        )

    return Settings(
        bucket_name=name,
        bucket_key=bkey,
        access_key=key,
        stream_api_base=base,
        offline=is_offline,
        offline_file=offline_path(offline_file or ini.offline_file or DEFAULT_OFFLINE_FILE),
        debug_level=debug_level,
        buffer_size=size,
        use_async=bool(use_async),
        flush_interval=_positive_number(flush_interval, "flush_interval"),
        close_timeout=_positive_number(close_timeout, "close_timeout", allow_zero=True),
        max_buffer=cap,
        overflow=overflow,
        request_timeout=_positive_number(request_timeout, "request_timeout"),
        retry_time=_positive_number(retry_time, "retry_time", allow_zero=True),
        retry_backoff=_positive_number(retry_backoff, "retry_backoff"),
        ini_path=ini.path,
        mqtt=mqtt,
    )
