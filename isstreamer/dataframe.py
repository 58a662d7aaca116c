"""``log_dataframe``: every cell of a pandas DataFrame as an event (``isstreamer[pandas]``).

Each column except the timestamp column becomes a stream (key ``column``, or
``key_prefix + "_" + column`` as in ``log_object``); each row's non-missing cells share the row's
epoch. Missing cells (``None``, ``NaN``, ``NaT``, ``pd.NA``) are skipped, not sent.

Timestamps, the same rule as ``log()``'s ``datetime`` epochs:

* naive times are *local* time (as Python's ``datetime.timestamp()`` reads them; note that
  pandas itself would read them as UTC);
* timezone-aware times are converted to seconds since 1970 exactly;
* numbers are seconds since 1970 (milliseconds, µs and ns are recognised by size, as in ``log()``);
* text is parsed by ``pandas.to_datetime``, then as above.

The timestamps come from ``timestamp_column`` if given, else from a ``DatetimeIndex``, else each
row is stamped with the time it is logged (as is a row whose timestamp is missing).

Rows are converted ``buffer_size`` at a time and only appended to the Streamer's buffer: nothing
is sent from the calling thread, and the sender batches them as usual. A frame larger than
``max_buffer`` meets the Streamer's overflow policy (by default the excess goes to the spool).
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import TYPE_CHECKING, Any, List, Optional

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .streamer import Streamer


def import_pandas() -> ModuleType:
    """pandas, imported only when a DataFrame is logged."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise ConfigError("log_dataframe needs pandas: pip install 'isstreamer[pandas]'") from None


def _epochs(pd: ModuleType, times: Any) -> List[Optional[float]]:
    """Seconds since 1970 for each timestamp (None where missing), per the module's rule."""
    series = pd.Series(times)
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return [None if _missing(pd, v) else float(v) for v in series.tolist()]
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series)
    out: List[Optional[float]] = []
    for stamp in series.tolist():
        if _missing(pd, stamp):
            out.append(None)
        else:  # a pandas Timestamp: to_pydatetime() so that naive means local time
            out.append(stamp.to_pydatetime(warn=False).timestamp())
    return out


def _missing(pd: ModuleType, value: Any) -> bool:
    if value is None:
        return True
    if type(value) is float:
        return math.isnan(value)
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers: not "missing"; log() will say what is wrong
        return False


def log_dataframe(
    streamer: Streamer,
    df: Any,
    timestamp_column: Optional[str] = None,
    key_prefix: str = "",
) -> int:
    """Log every non-missing cell of ``df``; returns how many were passed to ``log()``."""
    pd = import_pandas()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"log_dataframe() needs a pandas DataFrame, not {type(df).__name__}")
    if timestamp_column is not None:
        if timestamp_column not in df.columns:
            raise KeyError(f"timestamp_column {timestamp_column!r} is not a column of the "
                           f"DataFrame (columns: {', '.join(map(str, df.columns))})")
        epochs: Optional[List[Optional[float]]] = _epochs(pd, df[timestamp_column])
        data = df.drop(columns=[timestamp_column])
    elif isinstance(df.index, pd.DatetimeIndex):
        epochs = _epochs(pd, df.index.to_series(index=range(len(df))))
        data = df
    else:
        epochs = None
        data = df
    prefix = f"{key_prefix}_" if key_prefix else ""
    keys = [prefix + str(column) for column in data.columns]
    log = streamer.log
    step = max(1, streamer.BufferSize)
    count = 0
    for start in range(0, len(data), step):
        rows = data.iloc[start:start + step].itertuples(index=False, name=None)
        for offset, row in enumerate(rows):
            epoch = None if epochs is None else epochs[start + offset]
            for key, value in zip(keys, row):
                if _missing(pd, value):
                    continue
                log(key, value, epoch)
                count += 1
    return count
