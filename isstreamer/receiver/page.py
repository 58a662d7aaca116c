"""The receiver's web page, rendered on the server.

Why server-rendered HTML and SVG: no build step, no chart library to ship or keep up to date, and
one place (``_e``) where everything a client sent is escaped. The page's small script only asks
``/read/version`` every few seconds and swaps in a fresh ``?fragment=1`` rendering when data
changed; without JavaScript a meta refresh does the same.
"""

from __future__ import annotations

import html
import json
import time
from datetime import datetime, timezone
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .store import BucketRow, EventRow, Store, StreamRow

REFRESH_SECONDS = 2
MAX_BUCKETS_ON_PAGE = 50
LATEST_CHARS = 160
CHART_W = 300.0
CHART_H = 80.0


def _e(value: Any) -> str:
    """Escape anything for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


def _iso(epoch: Optional[float]) -> str:
    if epoch is None:
        return ""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(epoch: Optional[float]) -> str:
    """A <time> the script shows in the reader's local time; UTC text without script."""
    if epoch is None:
        return "never"
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{_e(_iso(epoch))}">{_e(shown)} UTC</time>'


def show_value(value: Any) -> str:
    """A value as a person reads it (JSON spelling for booleans, like the API)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    return str(value)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    return f"{value:.6g}"


def chart_svg(points: Sequence[Tuple[float, float]], *, label: str, step: bool = False) -> str:
    """A line chart of (epoch, number) points as inline SVG, scaled to fill the box."""
    if not points:
        return ""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    pad = 6.0
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1

    def sx(x: float) -> float:
        if x1 == x0:
            return CHART_W / 2
        return (x - x0) / (x1 - x0) * CHART_W

    def sy(y: float) -> float:
        return pad + (1 - (y - y0) / (y1 - y0)) * (CHART_H - 2 * pad)

    coords: List[Tuple[float, float]] = []
    for index, (x, y) in enumerate(points):
        if step and index:
            coords.append((sx(x), coords[-1][1]))
        coords.append((sx(x), sy(y)))
    if len(coords) == 1:
        coords = [(0.0, coords[0][1]), (CHART_W, coords[0][1])]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    area = f"{coords[0][0]:.1f},{CHART_H:.1f} {line} {coords[-1][0]:.1f},{CHART_H:.1f}"
    last_x, last_y = coords[-1]
    return (
        f'<svg class="chart" viewBox="0 0 {CHART_W:.0f} {CHART_H:.0f}" preserveAspectRatio="none"'
        f' role="img" aria-label="{_e(label)}">'
        f'<polygon class="area" points="{area}"/>'
        f'<polyline class="line" points="{line}" vector-effect="non-scaling-stroke"/>'
        f'<circle class="dot" cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5"'
        ' vector-effect="non-scaling-stroke"/>'
        "</svg>"
    )


def _stream_card(stream: StreamRow) -> str:
    latest = show_value(stream.latest)
    short = _clip(latest, LATEST_CHARS)
    chart = ""
    scale = ""
    if stream.points:
        chart = chart_svg(stream.points, label=f"{stream.key}: last {len(stream.points)} values",
                          step=stream.kind == "boolean")
        if stream.kind == "number":
            ys = [p[1] for p in stream.points]
            scale = (f'<p class="scale"><span>min {_e(_number(min(ys)))}</span>'
                     f'<span>max {_e(_number(max(ys)))}</span></p>')
    if len(stream.recent) > 1:
        items = "".join(
            f"<li>{_e(_clip(show_value(v), 60))}</li>" for v in stream.recent[1:]
        )
        chart = f'<ol class="history" aria-label="earlier values">{items}</ol>'
    plural = "event" if stream.count == 1 else "events"
    return (
        f'<article class="stream {_e(stream.kind)}" data-stream="{_e(stream.key)}">'
        f'<h3 class="stream-key">{_e(stream.key)}</h3>'
        f'<p class="latest" title="{_e(latest)}">{_e(short)}</p>'
        f'<p class="stats"><span class="count">{stream.count} {plural}</span>'
        f' · {_time(stream.last_update)}</p>'
        f"{chart}{scale}"
        "</article>"
    )


def _bucket_section(bucket: BucketRow, streams: Sequence[StreamRow], *, linked: bool) -> str:
    title = _e(bucket.name)
    if linked:
        title = f'<a href="/buckets/{bucket.id}">{title}</a>'
    plural = "event" if bucket.events == 1 else "events"
    cards = "".join(_stream_card(s) for s in streams)
    if not cards:
        cards = '<p class="empty">No events yet.</p>'
    base = f"/read/buckets/{bucket.id}"
    return (
        f'<section class="bucket" id="bucket-{bucket.id}"'
        f' data-bucket-key="{_e(bucket.bucket_key)}">'
        '<div class="bucket-head">'
        f'<h2 class="bucket-name">{title}</h2>'
        f'<p class="sub"><code class="bucket-key">{_e(bucket.bucket_key)}</code>'
        f' · <span class="bucket-count">{bucket.events} {plural}</span>'
        f" · {len(streams)} stream{'' if len(streams) == 1 else 's'}"
        f" · updated {_time(bucket.last_update or bucket.created)}"
        f' · key {_e(bucket.key_hint)}</p>'
        f'<nav class="links"><a href="{base}/events">JSON</a>'
        f' <a href="{base}/events.csv">CSV</a></nav>'
        "</div>"
        f'<div class="streams">{cards}</div>'
        "</section>"
    )


def _removed_list(removed: Iterable[BucketRow]) -> str:
    items = "".join(
        f"<li><code>{_e(b.bucket_key)}</code> ({_e(b.name)}), deleted {_time(b.removed)}</li>"
        for b in removed
    )
    if not items:
        return ""
    return ('<details class="removed"><summary>Deleted buckets (their keys answer '
            f"BUCKET_REMOVED)</summary><ul>{items}</ul></details>")


def _empty_state(base_url: str) -> str:
    snippet = (
        "from isstreamer import Streamer\n"
        f'with Streamer(bucket_name="Garden", bucket_key="garden", access_key="ist_local",\n'
        f'              stream_api_base="{base_url}") as s:\n'
        '    s.log("temperature", 21.5)'
    )
    return (
        '<div class="welcome"><h2>No buckets yet</h2>'
        "<p>Point a script at this receiver and its events show up here by themselves:</p>"
        f"<pre><code>{_e(snippet)}</code></pre>"
        "<p>Any access key is accepted unless the server was started with "
        "<code>--access-key</code>.</p></div>"
    )


def render_overview(store: Store, base_url: str) -> str:
    """The inside of <main> for "/": every live bucket with its streams."""
    rows = store.buckets()
    live = [b for b in rows if b.removed is None]
    removed = [b for b in rows if b.removed is not None]
    total = sum(b.events for b in live)
    parts = [
        f'<p class="summary"><span id="bucket-total">{len(live)}</span> '
        f"bucket{'' if len(live) == 1 else 's'} · {total} event{'' if total == 1 else 's'}"
        f' · refreshed {_time(time.time())}</p>'
    ]
    if not live:
        parts.append(_empty_state(base_url))
    for bucket in live[:MAX_BUCKETS_ON_PAGE]:
        parts.append(_bucket_section(bucket, store.streams(bucket.id), linked=True))
    if len(live) > MAX_BUCKETS_ON_PAGE:
        parts.append(f'<p class="more">{len(live) - MAX_BUCKETS_ON_PAGE} older buckets are in '
                     '<a href="/read/buckets">/read/buckets</a>.</p>')
    parts.append(_removed_list(removed))
    return "".join(parts)


def _events_table(events: Sequence[EventRow]) -> str:
    if not events:
        return ""
    rows = "".join(
        f"<tr><td>{_time(ev.epoch)}</td><td>{_e(ev.key)}</td>"
        f"<td>{_e(show_value(ev.value))}</td></tr>"
        for ev in events
    )
    return ('<section class="recent"><h2>Latest events</h2><div class="table-wrap"><table>'
            "<thead><tr><th>Time</th><th>Stream</th><th>Value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>")


def render_bucket(store: Store, bucket: BucketRow) -> str:
    """The inside of <main> for "/buckets/ID": one bucket, its streams and latest events."""
    back = '<p class="summary"><a href="/">← all buckets</a></p>'
    if bucket.removed is not None:
        return (back + f'<section class="bucket"><h2>{_e(bucket.name)}</h2><p>This bucket '
                f"was deleted {_time(bucket.removed)}; its key <code>{_e(bucket.bucket_key)}"
                "</code> can never receive data again.</p></section>")
    streams = store.streams(bucket.id)
    recent = store.events(bucket.id, limit=50, newest_first=True)
    return back + _bucket_section(bucket, streams, linked=False) + _events_table(recent)


def render_document(title: str, main_html: str, version: str, base_url: str) -> str:
    """A whole page around a rendered <main>."""
    config = json.dumps({"refreshSeconds": REFRESH_SECONDS})
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel="stylesheet" href="/static/receiver.css">'
        '<link rel="icon" href="data:,">'
        f'<noscript><meta http-equiv="refresh" content="{REFRESH_SECONDS * 3}"></noscript>'
        '<script src="/static/receiver.js" defer></script>'
        "</head><body>"
        '<header class="top"><h1><a href="/">isstreamer</a> <span>local receiver</span></h1>'
        f'<p class="api">API base <code>{_e(base_url)}</code>'
        ' <span id="live" class="live" aria-live="polite">live</span></p></header>'
        f'<main id="content" data-version="{_e(version)}" data-config="{_e(config)}">'
        f"{main_html}</main>"
        '<footer><a href="/read/buckets">/read/buckets</a> · '
        '<a href="/api/versions">/api/versions</a> · data stays on this machine</footer>'
        "</body></html>\n"
    )
