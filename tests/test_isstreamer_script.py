"""An unchanged ISStreamer 2.0.0 script, configured only through isstreamer.ini."""

from __future__ import annotations

import textwrap

from conftest import run_python

SCRIPT = textwrap.dedent(
    """
    import time
    from ISStreamer.Streamer import Streamer

    streamer = Streamer(bucket_name="Script Bucket", bucket_key="script_bucket")
    streamer.log("My Messages", "Stream Starting")
    for n in range(1, 13):
        streamer.log("My Numbers", n)
    streamer.log("epoch given", 1, epoch=time.time() - 60)
    streamer.log_object({"a": 1, "b": 2})
    streamer.log_object([10, 20], key_prefix="arr")
    streamer.ship_messages([{"key": "shipped", "value": 5, "epoch": time.time()}])
    streamer.ship_to_api("/api/buckets", {"bucketKey": "side_bucket", "bucketName": "Side"})
    streamer.console_message("hello from the script", level=0)
    streamer.flush()
    streamer.set_bucket(bucket_name="Second Bucket", bucket_key="second_bucket")
    streamer.log("key1", "starting")
    print("pending", len(streamer.LogQueue), streamer.BucketKey, streamer.IsClosed)
    streamer.close()
    print("closed", streamer.IsClosed)
    """
)


def test_original_script_runs_unchanged_against_ini_configuration(api, tmp_path) -> None:
    work = tmp_path / "work"
    (work / "isstreamer.ini").write_text(
        "[isstreamer.client_config]\n"
        "access_key = ist_script_key_7777\n"
        "\n[isstreamer.api_config]\n"
        f"stream_api_base = {api.base}\n"
    )
    (work / "script.py").write_text(SCRIPT)
    result = run_python(open(work / "script.py").read(), cwd=str(work))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "hello from the script"  # only what level 0 prints
    assert "pending 1 second_bucket False" in result.stdout
    assert "closed True" in result.stdout

    reqs = api.requests
    assert [r.path for r in reqs][:1] == ["/api/buckets"]
    assert all(r.headers["X-IS-AccessKey"] == "ist_script_key_7777" for r in reqs)
    assert api.buckets() == {"script_bucket": "Script Bucket", "side_bucket": "Side",
                             "second_bucket": "Second Bucket"}
    first = [(e["key"], e["value"]) for e in api.events("script_bucket")]
    assert first == (
        [("My Messages", "Stream Starting")]
        + [("My Numbers", n) for n in range(1, 13)]
        + [("epoch given", 1), ("dict_a", 1), ("dict_b", 2), ("arr_0", 10), ("arr_1", 20),
           ("shipped", 5)]
    )
    assert [(e["key"], e["value"]) for e in api.events("second_bucket")] == [("key1", "starting")]
    sizes = [len(r.json()) for r in api.posts("/api/events")]
    assert max(sizes) <= 10
    bucket_posts = [i for i, r in enumerate(reqs)
                    if r.path == "/api/buckets" and r.json()["bucketKey"] == "second_bucket"]
    second_events = [i for i, r in enumerate(reqs) if r.path == "/api/events"
                     and r.headers.get("X-IS-BucketKey") == "second_bucket"]
    assert bucket_posts[0] < second_events[0]
