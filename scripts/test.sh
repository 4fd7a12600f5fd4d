#!/usr/bin/env bash
# The one command that sets up and runs every check: bash scripts/test.sh [STAGE...]
#
# Creates .venv (with $PYTHON, default python3) if missing, installs '.[dev]' into it when
# pyproject.toml changed, then runs every stage even if an earlier one failed, prints a
# summary table and exits non-zero if any stage failed.
#
# Stages, in order: ruff, format, mypy, pytest, pythons, docs, mpy-cross, micropython,
# micropython-unix, autobahn, fuzz, consumers.
# Name some to run only those: bash scripts/test.sh mypy pytest
#
# Environment:
#   PYTHON              interpreter that creates .venv (default: python3)
#   HYPOTHESIS_PROFILE  hypothesis settings profile from tests/conftest.py (.ci/run sets "ci")
#   PYTEST_ADDOPTS      extra pytest arguments, read by pytest itself
#   AUTOBAHN            0 skips the Autobahn|Testsuite stage and the Autobahn runs of the
#                       micropython-unix stage (they run by default, as in CI)
#   MICROPYTHON         the MicroPython unix port for the micropython-unix stage (default: built
#                       by ../shared/micropython/build-unix.sh, else micropython on PATH)
#   AUTOBAHN_SETS       which Autobahn case sets to run (default "core deflate-quick": 247 cases
#                       and a 20-case permessage-deflate sample; also "perf", "deflate" for all 216)
#   FUZZ_SECONDS        how long each atheris harness runs in the fuzz stage (default 10)
#
# To add a stage: write stage_NAME (dashes in NAME become underscores) returning non-zero on
# failure, or calling `skip "why"` and returning 0 when it cannot apply; add NAME to ALL_STAGES.

set -u
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

ALL_STAGES=(ruff format mypy pytest pythons docs mpy-cross micropython micropython-unix autobahn
    fuzz consumers)
LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT

header() {
    printf '\n==== %s ====\n' "$*"
}

skip() {
    echo "skipped: $*"
    touch "$LOG_DIR/skipped"
}

# ---------------------------------------------------------------------------- setup

setup_venv() {
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        header "setup: creating .venv with $python ($("$python" --version 2>&1))"
        "$python" -m venv .venv || return 1
    fi
    # Reinstall only when the dependency list or the C accelerator changed; the install is
    # editable, so Python source edits need none (the accelerator is built in place).
    local stamp
    stamp=".venv/.wsproto_lite-installed-$(cat pyproject.toml setup.py wsproto_lite/_speedups.c | cksum | cut -d' ' -f1)"
    if [ ! -e "$stamp" ]; then
        header "setup: pip install -e '.[dev]'"
        .venv/bin/python -m pip install --quiet --upgrade pip || return 1
        .venv/bin/python -m pip install --quiet -e '.[dev]' || return 1
        rm -f .venv/.wsproto_lite-installed-*
        touch "$stamp"
    fi
    export VIRTUAL_ENV="$ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    unset PYTHONHOME
}

# ---------------------------------------------------------------------------- stages

stage_ruff() {
    ruff check .
}

stage_format() {
    ruff format --check .
}

stage_mypy() {
    mypy  # strict; files and settings come from [tool.mypy] in pyproject.toml
}

stage_pytest() {
    local log="$LOG_DIR/pytest.log" rc
    # The peers of tests/test_deflate_interop.py: Node's ws (npm ci) and Debian's chromium.
    # If that fails the test says what is missing (a skip, or a failure under CI=true).
    bash tests/interop/install.sh || echo "tests/interop/install.sh failed; see above"
    # This run uses the C accelerator (the pythons stage runs the suite on the pure path
    # too); without a compiler it is missing: a failure under CI=true, a note otherwise.
    if ! python -c "import wsproto_lite.frames as f; assert f.SPEEDUPS" 2> /dev/null; then
        if [ "${CI:-}" = "true" ]; then
            echo "the C accelerator is not built (needs a C compiler): see setup.py"
            return 1
        fi
        echo "note: the C accelerator is not built (no C compiler?); testing the pure path"
    fi
    python -m pytest -q 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    grep -E '^(=+ )?[0-9]+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed)|no tests ran' \
        "$log" | tail -n 1 > "$LOG_DIR/pytest-summary"
    if [ "$rc" -eq 5 ]; then
        echo "pytest collected no tests (exit 5): counted as a failure"
    fi
    return "$rc"
}

stage_pythons() {
    # The suite again on CPython 3.10, 3.12 and 3.13 (pyenv's), through noxfile.py; the
    # 3.12 session runs it on the pure-Python path (WSPROTO_LITE_NO_SPEEDUPS=1). Each is
    # looked for as noxfile.py does: pyenv's versions, then pythonX.Y on PATH.
    local version missing=()
    for version in 3.10 3.12 3.13; do
        if ! compgen -G "${PYENV_ROOT:-$HOME/.pyenv}/versions/$version.*/bin/python3" > /dev/null \
            && ! command -v "python$version" > /dev/null; then
            missing+=("$version")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "${CI:-}" = "true" ]; then
            echo "CPython ${missing[*]} not found (install with: pyenv install ${missing[*]})"
            return 1
        fi
        skip "CPython ${missing[*]} not found (pyenv install ${missing[*]}, or pythonX.Y on PATH)"
        return 0
    fi
    nox -s tests
}

stage_docs() {
    sphinx-build -q -W --keep-going -b html docs docs/_build/html
}

stage_mpy_cross() {
    # Every file MicroPython loads must compile (DESIGN section 4).
    if [ ! -e tests/micropython/compile.py ]; then
        skip "tests/micropython/compile.py does not exist yet"
        return 0
    fi
    python tests/micropython/compile.py
}

stage_micropython() {
    if [ ! -e tests/micropython/run.mjs ]; then
        skip "tests/micropython/run.mjs does not exist yet"
        return 0
    fi
    npm ci --prefix tests/micropython --no-audit --no-fund && node tests/micropython/run.mjs
}

stage_micropython_unix() {
    # transports.uasyncio on MicroPython's unix port over real TCP: the portable suite on the
    # port (tests/micropython/unix_run.py), tests/test_mpy_unix_*.py (unix_echo.py with
    # Chromium, Node's ws and websockets; the memory tests), and Autobahn|Testsuite with
    # unix_echo.py as the server and unix_client.py as the client. tests/mpy_unix.py finds
    # the interpreter: $MICROPYTHON, ../shared/micropython/build-unix.sh, micropython on PATH.
    local found
    if ! found=$(python tests/mpy_unix.py 2> "$LOG_DIR/micropython-unix.why"); then
        if [ "${CI:-}" = "true" ]; then
            cat "$LOG_DIR/micropython-unix.why"
            return 1
        fi
        skip "$(cat "$LOG_DIR/micropython-unix.why")"
        return 0
    fi
    local mp
    mp=$(sed -n 1p <<< "$found")
    MICROPYPATH=$(sed -n 2p <<< "$found")
    export MICROPYPATH
    echo "MicroPython unix port: $mp (MICROPYPATH=$MICROPYPATH)"
    local failed=0
    # 2 MiB: a large board's heap; every portable test passes in 1 MiB.
    timeout 300 "$mp" -X heapsize=2M tests/micropython/unix_run.py || failed=1
    bash tests/interop/install.sh || echo "tests/interop/install.sh failed; see above"
    python -m pytest -q tests/test_mpy_unix_*.py || failed=1
    if [ "${AUTOBAHN:-1}" = "0" ]; then
        skip "Autobahn on the unix port: AUTOBAHN=0"
        return "$failed"
    fi
    bash tests/autobahn/install.sh > /dev/null || return 1
    # set, heap, max_message_length: core's largest message is 64 KiB; perf (9.*) sends
    # 16 MiB ones, which need a 128 MiB heap on either side (tests/autobahn/README.md).
    local set heap limit
    while read -r set heap limit; do
        python tests/autobahn/run.py fuzzingclient --set "$set" --agent uasyncio-unix \
            --server-cmd "$mp -X heapsize=$heap tests/micropython/unix_echo.py {port} $limit" \
            || failed=1
        python tests/autobahn/run.py fuzzingserver --set "$set" --agent uasyncio-unix \
            -- "$mp" -X heapsize="$heap" tests/micropython/unix_client.py {port} {agent} "$limit" \
            || failed=1
    done <<< "core 4M 1048576
perf 128M 16777216"
    return "$failed"
}

stage_autobahn() {
    # DESIGN section 5: Autobahn|Testsuite (Python 2.7, installed by tests/autobahn/install.sh)
    # against the core driven directly: wstest's fuzzingclient tests our echo server,
    # its fuzzingserver tests our client. Every case must be OK or INFORMATIONAL. Every peer
    # negotiates permessage-deflate, so the default sets include a sample of 12.*/13.*.
    if [ "${AUTOBAHN:-1}" = "0" ]; then
        skip "AUTOBAHN=0"
        return 0
    fi
    bash tests/autobahn/install.sh > /dev/null || return 1
    local failed=0
    # Peers: the core driven directly (wsconn_*) and each transport (asyncio_*, blocking_*).
    local set peer
    for set in ${AUTOBAHN_SETS:-core deflate-quick}; do
        for peer in wsconn asyncio blocking; do
            python tests/autobahn/run.py fuzzingclient --set "$set" --agent "$peer" \
                --server-cmd "python tests/autobahn/${peer}_echo.py {port}" || failed=1
            python tests/autobahn/run.py fuzzingserver --set "$set" --agent "$peer" \
                -- python tests/autobahn/${peer}_client.py {port} {agent} || failed=1
        done
    done
    return "$failed"
}

stage_fuzz() {
    # Every atheris harness for a bounded time (docs/fuzzing.rst); any crash or broken
    # invariant fails the stage and prints the crash file and its reproducer command.
    if ! python -c "import atheris" 2> /dev/null; then
        skip "atheris is not installed (its wheels are for CPython on Linux x86-64)"
        return 0
    fi
    python fuzz/run_all.py --seconds "${FUZZ_SECONDS:-10}"
}

stage_consumers() {
    # The WebSocket test suites of uvicorn, hypercorn, simple-websocket, trio-websocket and
    # wsproto itself, once on real wsproto and once with wsproto aliased to wsproto_lite
    # (tests/consumers/run.py); any test that passes on wsproto and not here fails the stage.
    # Their sdists and test tools come from PyPI into .consumers/. Then Autobahn through
    # two of them, in both roles.
    local probe='import urllib.request; urllib.request.urlopen("https://pypi.org/simple/wsproto/", timeout=20).close()'
    if [ ! -x .consumers/venv/bin/python ] && ! python -c "$probe" 2> /dev/null; then
        if [ "${CI:-}" = "true" ]; then
            echo "PyPI is unreachable: the consumers stage needs it for the suites' sdists"
            return 1
        fi
        skip "PyPI is unreachable (the consumers stage fetches the suites' sdists from it)"
        return 0
    fi
    local failed=0
    python tests/consumers/run.py || failed=1
    # Autobahn through the consumers (tests/consumers/autobahn.py): uvicorn's wsproto back
    # end as the server, simple-websocket's Client as the client, on wsproto_lite and on
    # real wsproto, compared case by case (core and deflate-quick, about 90 s).
    if [ "${AUTOBAHN:-1}" = "0" ]; then
        skip "Autobahn through the consumers: AUTOBAHN=0"
    else
        bash tests/autobahn/install.sh > /dev/null || return 1
        python tests/consumers/autobahn.py --sets core deflate-quick || failed=1
    fi
    return "$failed"
}

# ---------------------------------------------------------------------------- driver

main() {
    local stages=("$@") name rc start
    [ "${#stages[@]}" -eq 0 ] && stages=("${ALL_STAGES[@]}")
    for name in "${stages[@]}"; do
        if ! declare -F "stage_${name//-/_}" > /dev/null; then
            echo "unknown stage '$name'; stages: ${ALL_STAGES[*]}" >&2
            exit 2
        fi
    done

    local t0=$SECONDS
    if ! setup_venv; then
        echo "setup failed: could not create .venv or install '.[dev]'" >&2
        exit 1
    fi

    local results=() failed=0
    for name in "${stages[@]}"; do
        header "$name"
        start=$SECONDS
        rm -f "$LOG_DIR/skipped"
        # A subshell, so a stage's cd, exit or variables cannot leak into the next one.
        ("stage_${name//-/_}")
        rc=$?
        if [ "$rc" -eq 0 ] && [ -e "$LOG_DIR/skipped" ]; then
            results+=("$(printf '%-16s skip' "$name")")
        elif [ "$rc" -eq 0 ]; then
            results+=("$(printf '%-16s PASS  %4ds' "$name" $((SECONDS - start)))")
        else
            results+=("$(printf '%-16s FAIL  %4ds  (exit %d)' "$name" $((SECONDS - start)) "$rc")")
            failed=1
        fi
    done

    header "summary ($((SECONDS - t0))s)"
    printf '%s\n' "${results[@]}"
    if [ "$failed" -ne 0 ]; then
        echo "RESULT: FAIL"
    else
        echo "RESULT: PASS"
    fi
    # Last line: pytest's own closing line, so a reader of the tail sees the test count.
    [ -s "$LOG_DIR/pytest-summary" ] && cat "$LOG_DIR/pytest-summary"
    return "$failed"
}

main "$@"
