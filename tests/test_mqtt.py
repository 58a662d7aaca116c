"""The MQTT destination against a real mosquitto broker on 127.0.0.1 (``isstreamer[mqtt]``)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from fake_api import free_port

from isstreamer import ConfigError, Streamer
from isstreamer.mqtt import MqttSettings, topic_part

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
)


def require(tool: Optional[str], what: str) -> str:
    """Skip where a developer lacks the tool; in CI (.ci/run installs it) that is a failure."""
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is not installed; .ci/run installs it (APT_PACKAGES)")
        pytest.skip(f"{what} is not installed (Debian: apt-get install {what})")
    return tool


class Broker:
    """A mosquitto process with a generated config, stopped at teardown."""

    def __init__(self, directory: str, port: int, extra: str = "") -> None:
        binary = require(MOSQUITTO, "mosquitto")
        self.port = port
        conf = os.path.join(directory, f"mosquitto-{port}.conf")
        lines = [f"listener {port} 127.0.0.1", "persistence false", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice", "log_type information"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # keep root's access to the test's private files
        if "allow_anonymous" not in extra:
            lines.append("allow_anonymous true")
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n" + extra)
        self.process = subprocess.Popen([binary, "-c", conf], stderr=subprocess.PIPE, text=True)
        self.log: List[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line)
                if " running" in line:
                    ready.set()
            ready.set()  # it exited

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(15) or self.process.poll() is not None:
            self.stop()
            raise AssertionError("mosquitto did not start:\n" + "".join(self.log))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


class Subscriber:
    """A plain paho client that records what arrives under ``topic``."""

    def __init__(self, port: int, topic: str, **settings: Any) -> None:
        import paho.mqtt.client as paho

        self.messages: List[Tuple[str, Any, bool]] = []
        self.cond = threading.Condition()
        subscribed = threading.Event()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        if "username" in settings:
            client.username_pw_set(settings["username"], settings.get("password"))
        if "ca_certs" in settings:
            client.tls_set(ca_certs=settings["ca_certs"])

        def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            c.subscribe(topic, qos=1)

        def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
            subscribed.set()

        def on_message(c: Any, userdata: Any, message: Any) -> None:
            with self.cond:
                self.messages.append((message.topic, json.loads(message.payload), message.retain))
                self.cond.notify_all()

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        assert subscribed.wait(10), "the test subscriber could not subscribe"

    def events(self, topic: str) -> List[Any]:
        with self.cond:
            return [e for t, body, _ in self.messages if t == topic for e in body]

    def wait_for_events(self, topic: str, count: int, timeout: float = 30) -> List[Any]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.events(topic)) >= count, timeout)
        found = self.events(topic)
        assert ok, f"waited {timeout} s for {count} events on {topic}; got {len(found)}"
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def start_broker(tmp_path) -> Iterator[Any]:
    started: List[Broker] = []

    def start(port: Optional[int] = None, extra: str = "") -> Broker:
        broker = Broker(str(tmp_path), port or free_port(), extra)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def subscribe() -> Iterator[Any]:
    made: List[Subscriber] = []

    def make(port: int, topic: str = "test/#", **settings: Any) -> Subscriber:
        subscriber = Subscriber(port, topic, **settings)
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()


@pytest.fixture
def mqtt_streamer(tmp_path) -> Iterator[Any]:
    made: List[Streamer] = []

    def make(settings: MqttSettings, **kwargs: Any) -> Streamer:
        kwargs.setdefault("bucket_name", "Garden")
        kwargs.setdefault("bucket_key", "garden")
        kwargs.setdefault("spool_dir", str(tmp_path / "spool"))
        streamer = Streamer(mqtt=settings, **kwargs)
        made.append(streamer)
        return streamer

    yield make
    for streamer in made:
        streamer.close(timeout=5)


def as_tuples(events: List[Any]) -> List[Tuple[str, Any]]:
    return [(e["key"], e["value"]) for e in events]


def test_events_are_published_qos1_with_the_bucket_announced(
    start_broker, subscribe, mqtt_streamer
) -> None:
    broker = start_broker()
    subscriber = subscribe(broker.port)
    streamer = mqtt_streamer(MqttSettings(host="127.0.0.1", port=broker.port,
                                          topic_prefix="test"))  # no access key needed
    logged = [("n", i) for i in range(25)] + [("msg", "done"), ("ok", True), ("x", 1.5)]
    for key, value in logged:
        streamer.log(key, value, 1700000000 + len(key))
    assert streamer.flush(timeout=10)
    stats = streamer.stats()
    assert (stats["sent"], stats["spooled"], stats["failed"]) == (28, 0, 0)

    events = subscriber.wait_for_events("test/garden/events", 28)
    assert as_tuples(events) == logged
    assert {e["epoch"] for e in events} == {1700000001, 1700000003, 1700000002}
    bucket = [(body, retained) for t, body, retained in subscriber.messages
              if t == "test/garden/bucket"]
    assert bucket == [({"bucketKey": "garden", "bucketName": "Garden"}, False)]
    # messages hold at most buffer_size (10) events
    sizes = [len(body) for t, body, _ in subscriber.messages if t.endswith("/events")]
    assert max(sizes) <= 10 and sum(sizes) == 28

    # retained: a subscriber that comes later still learns the bucket's name
    late = subscribe(broker.port, "test/+/bucket")
    with late.cond:
        assert late.cond.wait_for(lambda: late.messages, 10)
    assert late.messages == [("test/garden/bucket",
                              {"bucketKey": "garden", "bucketName": "Garden"}, True)]


def test_broker_down_events_are_spooled_then_replayed_when_it_comes_up(
    start_broker, subscribe, mqtt_streamer, caplog
) -> None:
    port = free_port()
    streamer = mqtt_streamer(MqttSettings(host="127.0.0.1", port=port, topic_prefix="test"),
                             retry_time=0.5)
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        for i in range(5):
            streamer.log("n", i)
        assert not streamer.flush(timeout=10)
    assert streamer.stats()["spooled"] == 5
    assert "not reachable" in caplog.text

    broker = start_broker(port)
    subscriber = subscribe(port)
    events = subscriber.wait_for_events("test/garden/events", 5)
    assert as_tuples(events) == [("n", i) for i in range(5)]
    streamer.log("n", 5)  # live again
    assert streamer.flush(timeout=10)
    assert as_tuples(subscriber.wait_for_events("test/garden/events", 6))[-1] == ("n", 5)
    stats = streamer.stats()
    assert (stats["sent"], stats["replayed"], stats["logged"]) == (1, 5, 6)
    assert broker.process.poll() is None


def test_username_and_password(start_broker, subscribe, mqtt_streamer, tmp_path, caplog) -> None:
    passwd = require(shutil.which("mosquitto_passwd"), "mosquitto")
    password_file = tmp_path / "passwords"
    subprocess.run([passwd, "-b", "-c", str(password_file), "pi", "s3cret-pass"], check=True)
    broker = start_broker(extra=f"allow_anonymous false\npassword_file {password_file}\n")
    subscriber = subscribe(broker.port, username="pi", password="s3cret-pass")

    wrong = mqtt_streamer(MqttSettings(host="127.0.0.1", port=broker.port, topic_prefix="test",
                                       username="pi", password="wrong-pass"),
                          bucket_key="wrong", retry_time=1.0)
    with caplog.at_level(logging.WARNING, logger="isstreamer"):
        wrong.log("n", 1)
        assert not wrong.flush(timeout=10)
    assert wrong.stats()["spooled"] == 1
    assert "refused the connection" in caplog.text
    assert "wrong-pass" not in caplog.text and "****pass" in caplog.text

    right = mqtt_streamer(MqttSettings(host="127.0.0.1", port=broker.port, topic_prefix="test",
                                       username="pi", password="s3cret-pass"))
    right.log("n", 2)
    assert right.flush(timeout=10)
    assert as_tuples(subscriber.wait_for_events("test/garden/events", 1)) == [("n", 2)]
    assert "s3cret" not in repr(right) and "s3cret" not in repr(MqttSettings(
        host="h", username="u", password="s3cret"))


def make_certificates(directory: str) -> Tuple[str, str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl)."""
    openssl = require(shutil.which("openssl"), "openssl")
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    cert, ext = os.path.join(directory, "server.pem"), os.path.join(directory, "ext.cnf")
    with open(ext, "w", encoding="utf-8") as handle:
        # what Python 3.13's strict verification (VERIFY_X509_STRICT) expects of a server cert
        handle.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                     "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                     "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=isstreamer test CA",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def test_tls_verifies_the_broker(start_broker, subscribe, mqtt_streamer, tmp_path) -> None:
    ca, cert, key = make_certificates(str(tmp_path))
    broker = start_broker(extra=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n")
    subscriber = subscribe(broker.port, ca_certs=ca)

    untrusted = mqtt_streamer(MqttSettings(host="127.0.0.1", port=broker.port,
                                           topic_prefix="test", tls=True),
                              bucket_key="untrusted", retry_time=1.0)
    untrusted.log("n", 1)
    assert not untrusted.flush(timeout=10)  # the system CAs do not know our test CA
    assert untrusted.stats()["spooled"] == 1

    trusted = mqtt_streamer(MqttSettings(host="127.0.0.1", port=broker.port,
                                         topic_prefix="test", ca_certs=ca))
    trusted.log("n", 2)
    assert trusted.flush(timeout=10)
    assert as_tuples(subscriber.wait_for_events("test/garden/events", 1)) == [("n", 2)]
    assert subscriber.events("test/untrusted/events") == []


def test_the_ini_section_selects_mqtt_with_no_change_to_the_script(
    start_broker, subscribe, tmp_path
) -> None:
    broker = start_broker()
    subscriber = subscribe(broker.port, "site/#")
    (tmp_path / "home" / "isstreamer.ini").write_text(
        f"[isstreamer.mqtt]\nhost = 127.0.0.1\nport = {broker.port}\ntopic_prefix = site\n")
    script = (
        "from ISStreamer.Streamer import Streamer\n"
        "s = Streamer(bucket_name='Shed', bucket_key='shed/1+2')\n"
        "s.log('temperature', 12.5)\n"
        "s.close()\n"
    )
    env = dict(os.environ, HOME=str(tmp_path / "home"), ISS_SPOOL_DIR=str(tmp_path / "spool"))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    topic = f"site/{topic_part('shed/1+2')}/events"
    assert topic == "site/shed%2F1%2B2/events"
    assert as_tuples(subscriber.wait_for_events(topic, 1)) == [("temperature", 12.5)]


def test_settings_are_checked(tmp_path, monkeypatch) -> None:
    for kwargs, message in [
        ({"host": ""}, "host is empty"),
        ({"host": "h", "port": 70000}, "port"),
        ({"host": "h", "topic_prefix": "a/#"}, "topic_prefix"),
        ({"host": "h", "keyfile": "k.pem"}, "needs certfile"),
        ({"host": "h", "password": "p"}, "needs a username"),
    ]:
        with pytest.raises(ConfigError, match=message):
            MqttSettings(**kwargs)
    assert MqttSettings(host="h").url == "mqtt://h:1883"
    assert MqttSettings(host="h", tls=True).url == "mqtts://h:8883"
    ini = tmp_path / "bad.ini"
    ini.write_text("[isstreamer.mqtt]\nhost = h\nqos = 2\n")
    with pytest.raises(ConfigError, match="unknown option"):
        Streamer(bucket_key="b", ini_file_location=str(ini), spool_dir=str(tmp_path / "s"))
    # without the extra installed: a clear error naming it
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    with pytest.raises(ConfigError, match=r"isstreamer\[mqtt\]"):
        Streamer(bucket_key="b", mqtt=MqttSettings(host="127.0.0.1"),
                 spool_dir=str(tmp_path / "s"))
