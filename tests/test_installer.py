"""scripts/install.sh against Debian's system Python (PEP 668: its pip refuses to install), in a
throwaway HOME, installing from this checkout."""

from __future__ import annotations

import glob
import os
import stat
import subprocess
from typing import Dict

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLER = os.path.join(ROOT, "scripts", "install.sh")
SYSTEM_PYTHON = "/usr/bin/python3"
ACCESS_KEY = "ist_installer_test_key_5678"


def system_python_or_skip() -> None:
    """Skip on machines without Debian's Python; in CI (.ci/run installs it) that is a failure."""
    problem = None
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        problem = f"{SYSTEM_PYTHON} is missing"
    elif not glob.glob("/usr/lib/python3*/EXTERNALLY-MANAGED"):
        problem = "the system Python has no EXTERNALLY-MANAGED marker (not Debian 12+?)"
    elif subprocess.run([SYSTEM_PYTHON, "-c", "import ensurepip, venv"],
                        capture_output=True).returncode != 0:
        problem = "python3-venv is not installed"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; .ci/run installs python3 python3-venv")
        pytest.skip(problem)


def installer_env(home: str, **extra: str) -> Dict[str, str]:
    """A user's login: a fresh HOME, a PATH without ~/.local/bin, no virtualenv active."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ISS_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))}
    env.update(HOME=home, PATH="/usr/bin:/bin")
    env.update(extra)
    return env


def run_installer(home: str, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", INSTALLER, *args], env=installer_env(home, **extra),
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_install_twice_from_the_checkout_then_run_the_example(
    tmp_path, isstreamer_receiver_factory
) -> None:
    system_python_or_skip()
    home = str(tmp_path / "pi-home")
    os.mkdir(home)
    # what the installer works around: the system pip refuses to install
    refused = subprocess.run([SYSTEM_PYTHON, "-m", "pip", "install", "--dry-run", "isstreamer"],
                             capture_output=True, text=True, env=installer_env(home))
    assert refused.returncode != 0
    assert "externally-managed" in refused.stderr or "No module named pip" in refused.stderr

    first = run_installer(home, "--yes", "--from", ROOT, "--python", SYSTEM_PYTHON,
                          ISS_ACCESS_KEY=ACCESS_KEY)
    assert first.returncode == 0, first.stderr
    assert "creating a virtualenv" in first.stderr
    assert "is not on your PATH" in first.stderr
    assert ACCESS_KEY not in first.stderr + first.stdout  # only ****5678
    assert "****5678" in first.stderr

    command = os.path.join(home, ".local", "bin", "isstreamer")
    venv_python = os.path.join(home, ".local", "share", "isstreamer", "venv", "bin", "python")
    assert os.path.islink(command)
    version = subprocess.run([command, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("isstreamer ")

    ini = os.path.join(home, "isstreamer.ini")
    assert stat.S_IMODE(os.stat(ini).st_mode) == 0o600
    with open(ini, encoding="utf-8") as handle:
        assert f"access_key = {ACCESS_KEY}" in handle.read()

    example = os.path.join(home, "is_example.py")
    with open(example, encoding="utf-8") as handle:
        script = handle.read()
    assert ACCESS_KEY not in script and "5678" not in script
    assert script.splitlines()[0] == f"#!{venv_python}"
    with open(os.path.join(ROOT, "examples", "is_example.py"), encoding="utf-8") as handle:
        assert script.split("\n", 1)[1] == handle.read().split("\n", 1)[1]  # same as the repo's

    # the example, run as installed, finds the key in ~/isstreamer.ini
    receiver = isstreamer_receiver_factory(access_keys=[ACCESS_KEY])
    ran = subprocess.run([example], capture_output=True, text=True, timeout=60, cwd=home,
                         env=installer_env(home, ISS_STREAM_API_BASE=receiver.base_url,
                                           ISS_SPOOL_DIR=str(tmp_path / "spool")))
    assert ran.returncode == 0, ran.stderr
    assert len(receiver.events("python_example")) == 47

    # the command works as a user would call it, with the ini's key
    logged = subprocess.run([command, "log", "--bucket-key", "cli", "n", "1"], timeout=60,
                            capture_output=True, text=True,
                            env=installer_env(home, ISS_STREAM_API_BASE=receiver.base_url,
                                              ISS_SPOOL_DIR=str(tmp_path / "spool")))
    assert logged.returncode == 0, logged.stderr
    assert receiver.values("n", bucket_key="cli") == [1]

    # again, with another key: reuses everything and replaces nothing
    os.chmod(ini, 0o644)
    second = run_installer(home, "--yes", "--from", ROOT, "--python", SYSTEM_PYTHON,
                           ISS_ACCESS_KEY="ist_another_key_0000")
    assert second.returncode == 0, second.stderr
    assert "reusing the virtualenv" in second.stderr
    assert "exists; left as is" in second.stderr
    with open(ini, encoding="utf-8") as handle:
        assert ACCESS_KEY in handle.read()
    assert stat.S_IMODE(os.stat(ini).st_mode) == 0o600
    with open(example, encoding="utf-8") as handle:
        assert handle.read() == script
    assert subprocess.run([command, "--version"], capture_output=True).returncode == 0


def test_no_ini_without_a_key_and_never_a_key_on_the_command_line(tmp_path) -> None:
    home = str(tmp_path / "home2")
    os.mkdir(home)
    refused = run_installer(home, "--access-key", "ist_secret")
    assert refused.returncode == 1
    assert "shows up in 'ps'" in refused.stderr
    unknown = run_installer(home, "--frobnicate")
    assert unknown.returncode == 1 and "unknown option" in unknown.stderr
    helped = run_installer(home, "--help")
    assert helped.returncode == 0 and "--access-key-env" in helped.stdout
    assert os.listdir(home) == []  # none of these touched anything


def test_options_choose_the_environment_variable_and_skip_steps(tmp_path) -> None:
    system_python_or_skip()
    home = str(tmp_path / "home3")
    os.mkdir(home)
    venv = str(tmp_path / "elsewhere" / "venv")
    result = run_installer(home, "--yes", "--from", ROOT, "--python", SYSTEM_PYTHON,
                           "--venv", venv, "--no-example", "--access-key-env", "MY_IS_KEY",
                           "--bin-dir", str(tmp_path / "bin"),
                           MY_IS_KEY="ist_from_my_variable_4321",
                           ISS_ACCESS_KEY="ist_not_this_one")
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(os.path.join(home, "is_example.py"))
    with open(os.path.join(home, "isstreamer.ini"), encoding="utf-8") as handle:
        assert "ist_from_my_variable_4321" in handle.read()
    assert os.readlink(str(tmp_path / "bin" / "isstreamer")) == os.path.join(
        venv, "bin", "isstreamer")


def test_install_with_pipx(tmp_path) -> None:
    system_python_or_skip()
    if not os.access("/usr/bin/pipx", os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail("/usr/bin/pipx is missing; .ci/run installs Debian's pipx")
        pytest.skip("Debian's pipx is not installed")
    home = str(tmp_path / "pipx-home")
    os.mkdir(home)
    result = run_installer(home, "--yes", "--pipx", "--no-example", "--from", ROOT,
                           "--python", SYSTEM_PYTHON)
    assert result.returncode == 0, result.stderr
    assert "installing" in result.stderr and "with pipx" in result.stderr
    command = os.path.join(home, ".local", "bin", "isstreamer")
    version = subprocess.run([command, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("isstreamer ")
    python = os.path.join(home, ".local", "pipx", "venvs", "isstreamer", "bin", "python")
    imported = subprocess.run([python, "-c", "from ISStreamer.Streamer import Streamer"],
                              capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
