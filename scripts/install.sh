#!/usr/bin/env bash
# Install isstreamer for the current user, without sudo, on Raspberry Pi OS / Debian / Ubuntu
# (where the system pip refuses to install packages: PEP 668) and anywhere else with Python 3.9+.
#
#   curl -sSL https://…/install.sh | bash                  # asks for the access key on the terminal
#   curl -sSL https://…/install.sh | bash -s -- --yes       # no questions (key from $ISS_ACCESS_KEY)
#   bash scripts/install.sh --from .                        # from a local checkout (or a wheel)
#
# What it does, each step safe to repeat:
#   1. creates (or reuses) a virtualenv, by default ~/.local/share/isstreamer/venv, and installs
#      isstreamer into it; with --pipx and pipx present, `pipx install` instead;
#   2. links the `isstreamer` command into ~/.local/bin (and says if that is not on PATH);
#   3. optionally writes ~/is_example.py, the classic 47-event example, which reads the access
#      key from $ISS_ACCESS_KEY or ~/isstreamer.ini (the key is never written into the script);
#   4. optionally writes ~/isstreamer.ini (mode 0600) with your access key. It never asks for an
#      Initial State password. Existing files are left alone.
#
# Run with --help for the options; each has an environment variable for `curl … | bash` use.

main() {
  set -euo pipefail
  umask 022

  local python="${ISS_PYTHON:-python3}"
  local venv="${ISS_VENV:-$HOME/.local/share/isstreamer/venv}"
  local bin_dir="${ISS_BIN_DIR:-$HOME/.local/bin}"
  local source="${ISS_INSTALL_FROM:-}"
  local method="${ISS_INSTALL_METHOD:-venv}"        # venv | pipx
  local example="${ISS_EXAMPLE:-ask}"               # ask | yes | no
  local ini="${ISS_WRITE_INI:-ask}"                 # ask | yes | no
  local example_dir="${ISS_EXAMPLE_DIR:-$HOME}"
  local assume_yes="${ISS_YES:-}"
  local key_env="ISS_ACCESS_KEY"

  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) usage; return 0 ;;
      -y|--yes) assume_yes=1 ;;
      --python) need_value "$@"; python="$2"; shift ;;
      --venv) need_value "$@"; venv="$2"; shift ;;
      --bin-dir) need_value "$@"; bin_dir="$2"; shift ;;
      --from) need_value "$@"; source="$2"; shift ;;
      --pipx) method=pipx ;;
      --venv-only|--no-pipx) method=venv ;;
      --example) example=yes ;;
      --no-example) example=no ;;
      --example-dir) need_value "$@"; example_dir="$2"; shift ;;
      --ini) ini=yes ;;
      --no-ini) ini=no ;;
      --access-key-env) need_value "$@"; key_env="$2"; shift ;;
      --access-key|--access-key=*)
        die "--access-key is not accepted: a key on the command line shows up in 'ps' and in the" \
            "shell history. Put it in a variable: ISS_ACCESS_KEY=... bash install.sh --yes," \
            "or --access-key-env NAME"
        ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done

  local interactive=""
  if [ -z "$assume_yes" ] && (exec </dev/tty) 2>/dev/null; then
    interactive=1
  fi

  local spec="isstreamer"
  if [ -n "$source" ]; then
    [ -e "$source" ] || die "--from $source: no such file or directory"
    spec="$(cd "$(dirname "$source")" && pwd)/$(basename "$source")"
  fi

  check_python "$python"

  local command_path python_path
  if [ "$method" = pipx ] && command -v pipx >/dev/null 2>&1; then
    say "installing $spec with pipx"
    pipx install --force --python "$python" "$spec" >/dev/null
    python_path="$(pipx environment --value PIPX_LOCAL_VENVS)/isstreamer/bin/python"
    command_path="$(pipx environment --value PIPX_BIN_DIR)/isstreamer"
    bin_dir="$(dirname "$command_path")"
  else
    if [ "$method" = pipx ]; then
      say "pipx is not installed; using a virtualenv instead"
    fi
    make_venv "$python" "$venv"
    say "installing $spec into $venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$spec" \
      || die "pip could not install $spec (see above)"
    python_path="$venv/bin/python"
    command_path="$bin_dir/isstreamer"
    link_command "$venv/bin/isstreamer" "$command_path"
  fi

  local version
  version="$("$command_path" --version)" || die "the installed command does not run: $command_path"
  say "installed: $version ($command_path)"
  local run="isstreamer"
  case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) run="$command_path"
       say "note: $bin_dir is not on your PATH. Add it, e.g.:"
       say "        echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.profile && . ~/.profile"
       say "      (Raspberry Pi OS and Debian add ~/.local/bin at the next login once it exists)" ;;
  esac

  if decide "$example" "Write the example script $example_dir/is_example.py?" "$interactive" yes; then
    write_example "$example_dir/is_example.py" "$python_path"
  fi

  if decide "$ini" "Save your Initial State access key in ~/isstreamer.ini?" "$interactive" yes; then
    write_ini "$HOME/isstreamer.ini" "$key_env" "$interactive"
  fi

  say ""
  say "Done. Try:"
  say "  $run demo      # a local receiver and the example, no account needed"
  if [ -f "$example_dir/is_example.py" ]; then
    say "  $python_path $example_dir/is_example.py"
  fi
  say "  scripts: run them with $python_path (it has isstreamer installed)"
}

usage() {
  cat <<'EOF'
Usage: install.sh [options]        (curl … | bash -s -- [options])

  -y, --yes               no questions; write the example, and the ini if a key is given
  --from PATH             install from a local checkout or wheel    ($ISS_INSTALL_FROM)
  --python PY             the Python to use (default python3)        ($ISS_PYTHON)
  --venv DIR              the virtualenv (default ~/.local/share/isstreamer/venv)  ($ISS_VENV)
  --bin-dir DIR           where to link the isstreamer command (default ~/.local/bin)  ($ISS_BIN_DIR)
  --pipx                  use pipx when it is installed, instead of a virtualenv
  --venv-only             never use pipx (the default)
  --example / --no-example   write ~/is_example.py or not                ($ISS_EXAMPLE=yes|no)
  --example-dir DIR       where is_example.py goes (default ~)       ($ISS_EXAMPLE_DIR)
  --ini / --no-ini        write ~/isstreamer.ini or not              ($ISS_WRITE_INI=yes|no)
  --access-key-env NAME   read the access key from $NAME (default ISS_ACCESS_KEY)

The access key is read from the environment, or asked for on the terminal; never from the
command line, and the installer never asks for your Initial State password. Find the key in
your Initial State account settings. Existing files (the ini, the example) are never replaced.
EOF
}

say() { printf '%s\n' "$*" >&2; }
die() { say "install.sh: error: $*"; exit 1; }

need_value() {
  [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"
}

check_python() {
  local python="$1"
  command -v "$python" >/dev/null 2>&1 \
    || die "$python not found. On Debian/Raspberry Pi OS: sudo apt install python3 python3-venv"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || die "isstreamer needs Python 3.9 or newer ($python is $("$python" -V 2>&1))"
}

make_venv() {
  local python="$1" venv="$2"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
    say "reusing the virtualenv $venv"
    return
  fi
  say "creating a virtualenv in $venv"
  mkdir -p "$(dirname "$venv")"
  if ! "$python" -m venv --clear "$venv" >/dev/null 2>&1; then
    die "could not create a virtualenv with $python. On Debian/Raspberry Pi OS:" \
        "sudo apt install python3-venv   (then run this again)"
  fi
}

link_command() {
  local target="$1" link="$2"
  mkdir -p "$(dirname "$link")"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    say "note: $link exists and is not a link; left as is. The command is $target"
    return
  fi
  ln -sfn "$target" "$link"
}

# decide CHOICE QUESTION INTERACTIVE DEFAULT: succeed if the step should run.
decide() {
  local choice="$1" question="$2" interactive="$3" default="$4" answer
  case "$choice" in
    yes) return 0 ;;
    no) return 1 ;;
  esac
  if [ -z "$interactive" ]; then
    [ "$default" = yes ]
    return
  fi
  printf '%s [Y/n] ' "$question" >/dev/tty
  IFS= read -r answer </dev/tty || answer=""
  case "$answer" in
    [nN]*) return 1 ;;
    *) return 0 ;;
  esac
}

write_example() {
  local path="$1" python_path="$2" tmp
  if [ -e "$path" ]; then
    say "$path exists; left as is"
    return
  fi
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$path.XXXXXX")"
  {
    printf '#!%s\n' "$python_path"
    example_body
  } >"$tmp"
  chmod 0755 "$tmp"
  mv "$tmp" "$path"
  say "wrote $path (it reads the access key from \$ISS_ACCESS_KEY or ~/isstreamer.ini)"
}

write_ini() {
  local path="$1" key_env="$2" interactive="$3" key="" tmp
  if [ -e "$path" ]; then
    chmod 0600 "$path"
    say "$path exists; left as is (mode set to 0600)"
    return
  fi
  key="${!key_env:-}"
  if [ -z "$key" ] && [ -n "$interactive" ]; then
    printf 'Initial State access key (from your account settings; empty to skip): ' >/dev/tty
    IFS= read -rs key </dev/tty || key=""
    printf '\n' >/dev/tty
  fi
  key="$(printf '%s' "$key" | tr -d '[:space:]')"
  if [ -z "$key" ]; then
    say "no access key given; not writing $path. Later: export ISS_ACCESS_KEY=... or create it"
    say "  with [isstreamer.client_config] access_key = ... (chmod 600)"
    return
  fi
  case "$key" in
    *[![:print:]]*) die "that access key has unexpected characters; $path not written" ;;
  esac
  tmp="$(umask 077 && mktemp "$path.XXXXXX")"
  chmod 0600 "$tmp"
  printf '[isstreamer.client_config]\naccess_key = %s\n' "$key" >"$tmp"
  mv "$tmp" "$path"
  say "wrote $path (mode 0600) with access key ****${key: -4}"
}

# The body of examples/is_example.py in the repository (tests/test_installer.py checks that they
# are the same); the shebang line is written separately, pointing at the installed Python.
example_body() {
  cat <<'PYTHON'
"""The classic Initial State example: 47 events into the bucket "Python Stream Example".

The access key is not in this file: isstreamer reads it from $ISS_ACCESS_KEY or from
~/isstreamer.ini ([isstreamer.client_config] access_key = ...), so the script can be shared.
Run it again and it appends to the same bucket (the bucket key is fixed).
"""

import sys
import time

from isstreamer import ConfigError, Streamer

try:
    streamer = Streamer(bucket_name="Python Stream Example", bucket_key="python_example")
except ConfigError as exc:
    sys.exit(f"is_example.py: {exc}")

streamer.log("My Messages", "Stream Starting")
for num in range(1, 20):
    time.sleep(0.1)
    streamer.log("My Numbers", num)
    streamer.log("My Booleans", num % 2 == 1)  # True for odd numbers
    if num % 3 == 0:
        streamer.log("My Events", "pop")
    if num == 10:
        streamer.log("My Messages", "Stream Half Done")
streamer.log("My Messages", "Stream Done")

# close() waits (up to 5 s) until everything has arrived; undelivered events stay in the spool.
delivered = streamer.close()
print("is_example.py: all 47 events delivered" if delivered else
      "is_example.py: not everything was delivered yet; it is kept and sent on the next run")
sys.exit(0 if delivered else 1)
PYTHON
}

# Everything above only defines functions: a download cut short runs nothing.
main "$@"
