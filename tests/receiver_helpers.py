"""Helpers for the receiver tests: raw HTTP to a receiver, the way any client would talk to it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import requests

ACCESS_KEY = "ist_receiver_test_key_1234"
JSON_HEADERS = {"Content-Type": "application/json", "Accept-Version": "<=0.0.4"}


def headers(bucket_key: Optional[str] = "bucket", access_key: Optional[str] = ACCESS_KEY,
            **extra: str) -> Dict[str, str]:
    out = dict(JSON_HEADERS)
    if access_key is not None:
        out["X-IS-AccessKey"] = access_key
    if bucket_key is not None:
        out["X-IS-BucketKey"] = bucket_key
    out.update(extra)
    return out


def create_bucket(base: str, bucket_key: str, name: Optional[str] = None,
                  access_key: str = ACCESS_KEY) -> requests.Response:
    body: Dict[str, Any] = {"bucketKey": bucket_key}
    if name is not None:
        body["bucketName"] = name
    return requests.post(base + "/api/buckets", data=json.dumps(body),
                         headers=headers(bucket_key, access_key), timeout=10)


def send_events(base: str, events: Any, bucket_key: str = "bucket",
                access_key: Optional[str] = ACCESS_KEY, **extra: str) -> requests.Response:
    body = events if isinstance(events, bytes) else json.dumps(events).encode("utf-8")
    return requests.post(base + "/api/events", data=body,
                         headers=headers(bucket_key, access_key, **extra), timeout=10)


def error_type(response: requests.Response) -> str:
    return str(response.json()["message"]["error"]["type"])


def raw_exchange(base: str, request: bytes, timeout: float = 10.0) -> Tuple[int, bytes]:
    """Send bytes as they are (no client library fixing them up); (status, whole answer)."""
    match = re.match(r"http://([^:/]+):(\d+)", base)
    assert match, base
    with socket.create_connection((match.group(1), int(match.group(2))), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks: List[bytes] = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
    answer = b"".join(chunks)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer


def body_of(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


class ServeProcess:
    """``isstreamer serve`` in a child process on a free port, stopped with SIGINT."""

    def __init__(self, *args: str, env: Optional[Dict[str, str]] = None) -> None:
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "isstreamer", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env,
        )
        self.lines: List[str] = []
        self.base_url = self._read_base_url(deadline=time.monotonic() + 20)

    def _read_base_url(self, deadline: float) -> str:
        found: Dict[str, str] = {}
        done = threading.Event()

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match and "url" not in found:
                    found["url"] = match.group(1)
                    done.set()
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        done.wait(max(0.0, deadline - time.monotonic()))
        if "url" not in found:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"serve did not start: {''.join(self.lines)} {err}")
        return found["url"]

    def stop(self) -> Tuple[int, str]:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return self.proc.returncode, err
