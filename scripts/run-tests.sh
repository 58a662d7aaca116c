#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtualenv with the test extras, and run the suite
# against the *installed* package (not the source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
rm -rf dist build
"$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir dist .
wheel=$(ls dist/isstreamer-*.whl)
"$VENV/bin/python" -m pip install --quiet --force-reinstall "${wheel}[test]"
export ISS_TEST_INSTALLED=1
status=0
"$VENV/bin/pytest" "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "run-tests: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
