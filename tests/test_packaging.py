"""The installed package: import names, metadata, and a wheel safe on case-insensitive disks."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_all_import_names_work() -> None:
    import ISStreamer.version
    from ISStreamer.Streamer import Streamer

    import isstreamer
    from ISStreamer import configutil

    assert Streamer is isstreamer.Streamer
    assert ISStreamer.version.__version__ == isstreamer.__version__
    assert callable(configutil.getConfig)


def test_constructor_signature_matches_the_original_in_order() -> None:
    import inspect

    from isstreamer import Streamer

    params = list(inspect.signature(Streamer.__init__).parameters.values())[1:]
    positional = [(p.name, p.default) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == [
        ("bucket_name", ""), ("bucket_key", ""), ("access_key", ""),
        ("ini_file_location", None), ("debug_level", 0), ("buffer_size", 10),
        ("offline", None), ("use_async", True),
    ]
    assert all(p.kind is p.KEYWORD_ONLY for p in params[len(positional):])


def test_public_attributes_exist(api, make_streamer) -> None:
    s = make_streamer()
    for name in ("BucketName", "BucketKey", "AccessKey", "BufferSize", "StreamApiBase",
                 "DebugLevel", "Offline", "Async", "IsClosed", "ApiVersion", "LogQueue"):
        assert hasattr(s, name), name
    assert s.ApiVersion == "<=0.0.4" and s.BufferSize == 10 and s.Async is True
    assert s.IsClosed is False and len(s.LogQueue) == 0


@pytest.mark.skipif(not os.environ.get("ISS_TEST_INSTALLED"), reason="run via scripts/run-tests.sh")
def test_tests_run_against_the_installed_wheel() -> None:
    import isstreamer

    assert "site-packages" in isstreamer.__file__
    assert os.path.exists(os.path.join(os.path.dirname(isstreamer.__file__), "py.typed"))


def _wheel() -> str:
    built = sorted(glob.glob(os.path.join(REPO, "dist", "isstreamer-*.whl")))
    if built:
        return built[-1]
    pytest.skip("no wheel in dist/ (scripts/run-tests.sh builds one)")


def test_wheel_has_no_paths_differing_only_by_case() -> None:
    names = zipfile.ZipFile(_wheel()).namelist()
    lowered: dict = {}
    for name in names:
        lowered.setdefault(name.lower(), []).append(name)
    clashes = [v for v in lowered.values() if len(v) > 1]
    assert clashes == []
    assert "ISStreamer.py" in names and "isstreamer/py.typed" in names
    assert "isstreamer/_legacy/Streamer.py" in names


def test_repository_has_no_paths_differing_only_by_case() -> None:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    paths = out.stdout.split()
    prefixes = set()
    for path in paths:
        parts = path.split("/")
        prefixes.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    lowered: dict = {}
    for p in prefixes:
        lowered.setdefault(p.lower(), set()).add(p)
    assert [v for v in lowered.values() if len(v) > 1] == []


def test_wheel_metadata_requires_only_requests() -> None:
    with zipfile.ZipFile(_wheel()) as wheel:
        meta = next(n for n in wheel.namelist() if n.endswith("METADATA"))
        text = wheel.read(meta).decode()
    requires = [line for line in text.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert len(core) == 1 and core[0].startswith("Requires-Dist: requests")
    assert "Requires-Python: >=3.9" in text
    assert "License" in text and sys.version_info >= (3, 9)
