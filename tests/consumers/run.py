"""The consumers stage: the test suites of the projects that embed wsproto, on wsproto_lite.

    python tests/consumers/run.py [SUITE ...]      (suites: see SUITES; default all)

For each suite: fetch the project's sdist (pinned version and SHA-256) into .consumers/,
run the suite's WebSocket tests twice in .consumers/venv (tests/consumers/requirements.txt),
once on real wsproto and once with `-p wsproto_alias` (wsproto_lite.install_as_wsproto()
before anything imports wsproto), and compare test by test. Fails when any test that
passes on real wsproto does not pass on wsproto_lite, or when a suite passes nothing on
real wsproto (a broken setup must not look like a pass). Then (when no suite is named) the
recipes of docs/from-wsproto.rst: recipes_check.py starts uvicorn and hypercorn on
wsproto_lite and talks to them. Prints a table, one row per suite.

The venv is made with the interpreter running this script; it is rebuilt only when
requirements.txt changes. Needs network access to PyPI the first time.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORK = ROOT / ".consumers"
VENV = WORK / "venv"
FILES = "https://files.pythonhosted.org/packages/"

# name: (sdist file, its path under files.pythonhosted.org, SHA-256, test arguments)
SUITES = {
    "uvicorn": (
        "uvicorn-0.54.0.tar.gz",
        "da/34/30e9280707135d2cfc589dfff3cb796bd07a3aeb1a3e415ba09dd89d7bb4",
        "a2e33cbfaa0306f8e6b0c13e0cb89d7d7a2da3e62b90c66e18c33d9807b28620",
        # The wsproto back end's cases only (the others never import wsproto); uvicorn's
        # own addopts ask for 8 xdist workers, and its tests run on anyio, not asyncio's
        # or trio's pytest plugins.
        ["tests/protocols/test_websocket.py", "-k", "wsproto", "-n", "0"]
        + ["-p", "no:asyncio", "-p", "no:trio"],
    ),
    "hypercorn": (
        "hypercorn-0.18.0.tar.gz",
        "44/01/39f41a014b83dd5c795217362f2ca9071cf243e6a75bdcd6cd5b944658cc",
        "d63267548939c46b0247dc8e5b45a9947590e35e64ee73a23c074aa3cf88e9da",
        # The three test files that reach wsproto; its addopts name pytest-cov's options.
        ["tests/protocol/test_ws_stream.py", "tests/asyncio/test_sanity.py"]
        + ["tests/trio/test_sanity.py", "-o", "addopts="],
    ),
    "simple-websocket": (
        "simple_websocket-1.1.0.tar.gz",
        "b0/d4/bfa032f961103eba93de583b161f0e6a5b63cebb8f2c7d0c6e6efe1e3d2e",
        "7939234e7aa067c534abdab3a9ed933ec9ce4691b0713c78acb195560aa52ae4",
        ["tests", "-p", "no:logging", "-p", "no:asyncio", "-p", "no:trio"]
        + ["-p", "offline_names"],
    ),
    "trio-websocket": (
        "trio_websocket-0.12.2.tar.gz",
        "d1/3c/8b4358e81f2f2cfe71b66a267f023a91db20a817b9425dd964873796980a",
        "22c72c436f3d1e264d0910a3951934798dcc5b00ae56fc4ee079d46c7cf20fae",
        ["tests/test_connection.py", "-p", "no:asyncio", "-o", "trio_mode=true"],
    ),
    "wsproto": (
        "wsproto-1.3.2.tar.gz",
        "c7/79/12135bdf8b9c9367b8701c2c19a14c913c120b882d50b014ca0d38083c2c",
        "b86885dcf294e15204919950f666e06ffc6c7c114ca900b060d6e16293528294",
        # Its public-API tests; test_frame_protocol.py and test_permessage_deflate.py
        # drive the internal FrameProtocol/FrameDecoder classes, which we do not have
        # (docs/from-wsproto.rst).
        ["tests/test_client.py", "tests/test_connection.py", "tests/test_handshake.py"]
        + ["tests/test_server.py", "tests/test_extensions.py"]
        + ["-p", "no:asyncio", "-p", "no:trio"],
    ),
}


def log(message: str) -> None:
    print(message, flush=True)


def venv_python() -> Path:
    return VENV / "bin" / "python"


def setup_venv() -> None:
    requirements = HERE / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    stamp = VENV / (".installed-" + digest)
    if not stamp.exists():
        if VENV.exists():
            shutil.rmtree(VENV)
        log("setup: %s -m venv %s; pip install -r %s" % (sys.executable, VENV, requirements))
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(venv_python()), "-m", "pip", "install", "--quiet"]
        subprocess.run(pip + ["--upgrade", "pip"], check=True)
        subprocess.run(pip + ["-r", str(requirements)], check=True)
        stamp.touch()
    # wsproto_lite from this checkout, through a folder that holds nothing but it: the
    # checkout's own tests/ must not shadow the suites' tests packages.
    path = WORK / "path"
    path.mkdir(parents=True, exist_ok=True)
    link = path / "wsproto_lite"
    if not link.is_symlink():
        link.symlink_to(ROOT / "wsproto_lite")
    purelib = subprocess.run(
        [str(venv_python()), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "wsproto_lite_checkout.pth").write_text(str(path) + "\n")


def fetch(name: str) -> Path:
    filename, where, sha256, _ = SUITES[name]
    sdists = WORK / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    archive = sdists / filename
    if not archive.exists():
        log("fetch: %s" % filename)
        with urllib.request.urlopen(FILES + where + "/" + filename, timeout=120) as response:
            data = response.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SystemExit("fetch: %s does not match its pinned SHA-256" % filename)
        archive.write_bytes(data)
    source = WORK / "src" / filename[: -len(".tar.gz")]
    if not source.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(WORK / "src", filter="data")
        # A suite with no pytest settings of its own would pick up this checkout's
        # pyproject.toml (pytest looks upwards from the tests); give it an empty one.
        if not has_pytest_settings(source):
            (source / "pytest.ini").write_text("[pytest]\n")
    return source


def has_pytest_settings(source: Path) -> bool:
    for name, marker in (
        ("pytest.ini", ""),
        ("pyproject.toml", "[tool.pytest.ini_options]"),
        ("tox.ini", "[pytest]"),
        ("setup.cfg", "[tool:pytest]"),
    ):
        path = source / name
        if path.exists() and marker in path.read_text():
            return True
    return False


def outcomes(report: Path) -> "dict[str, str]":
    """test id -> passed, failed, error or skipped, from a junit XML report."""
    result = {}
    for case in ET.parse(report).iter("testcase"):
        test_id = case.get("classname", "") + "::" + case.get("name", "")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag == "failure" else child.tag
                break
        # A test that fails in teardown gets a second entry; the worse outcome stands.
        if result.get(test_id, "passed") == "passed":
            result[test_id] = outcome
    return result


def start_suite(name: str, source: Path, alias: bool) -> "tuple[subprocess.Popen, Path, Path]":
    """Start one run of a suite; the two runs of a suite go side by side (two cores)."""
    args = SUITES[name][3]
    which = "lite" if alias else "real"
    report = WORK / ("%s-%s.xml" % (name, which))
    output = WORK / ("%s-%s.log" % (name, which))
    report.unlink(missing_ok=True)
    command = [str(venv_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--junitxml", str(report), "-o", "junit_family=xunit1"] + args
    if alias:
        command += ["-p", "wsproto_alias"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HERE)
    env.pop("PYTEST_ADDOPTS", None)
    with output.open("w") as out:
        proc = subprocess.Popen(
            command, cwd=source, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    return proc, report, output


def finish_suite(run: "tuple[subprocess.Popen, Path, Path]") -> "tuple[dict[str, str], str]":
    proc, report, output = run
    try:
        proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = output.read_text(errors="replace")
    return (outcomes(report) if report.exists() else {}), text


def count(results: "dict[str, str]") -> str:
    tally = {}
    for outcome in results.values():
        tally[outcome] = tally.get(outcome, 0) + 1
    return " ".join(
        "%d %s" % (tally[k], k) for k in ("passed", "failed", "error", "skipped") if k in tally
    )


def outcome_line(output: str) -> str:
    """pytest's closing counts ("4 passed"), from its -q output."""
    for line in reversed(output.strip().splitlines()):
        if " passed" in line or " failed" in line or " error" in line:
            return line.split(" in ")[0].strip("= ")
    return "no result"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "suites",
        nargs="*",
        choices=[[]] + list(SUITES),
        default=[],
        help="default: all, and the recipes",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
    options = parser.parse_args()
    names = options.suites or list(SUITES)
    setup_venv()
    rows, failed = [], False
    for name in names:
        source = fetch(name)
        start = time.monotonic()
        runs = start_suite(name, source, alias=False), start_suite(name, source, alias=True)
        real, real_out = finish_suite(runs[0])
        lite, lite_out = finish_suite(runs[1])
        elapsed = time.monotonic() - start
        lost = sorted(t for t, o in real.items() if o == "passed" and lite.get(t) != "passed")
        gained = sorted(t for t, o in lite.items() if o == "passed" and real.get(t) != "passed")
        real_passed = sum(1 for o in real.values() if o == "passed")
        if options.verbose or lost or not real_passed:
            log("\n---- %s on real wsproto ----\n%s" % (name, real_out[-6000:]))
            log("\n---- %s on wsproto_lite ----\n%s" % (name, lite_out[-12000:]))
        for test_id in lost:
            log("LOST %s: %s (%s on wsproto_lite)" % (name, test_id, lite.get(test_id, "absent")))
        for test_id in gained:
            log("gained %s: %s (%s on wsproto)" % (name, test_id, real.get(test_id, "absent")))
        if lost or not real_passed:
            failed = True
        verdict = "no tests passed on wsproto" if not real_passed else ("FAIL" if lost else "ok")
        rows.append((name, count(real), count(lite), len(lost), "%.0fs" % elapsed, verdict))
    if not options.suites:
        # The recipes of docs/from-wsproto.rst: uvicorn and hypercorn started for real.
        start = time.monotonic()
        proc = subprocess.run(
            [str(venv_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            + ["-c", os.devnull, "--rootdir", str(HERE), str(HERE / "recipes_check.py")],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0 or options.verbose:
            log("\n---- recipes ----\n" + proc.stdout[-8000:] + proc.stderr[-4000:])
        recipes = outcome_line(proc.stdout)
        failed = failed or proc.returncode != 0
        verdict = "ok" if proc.returncode == 0 else "FAIL"
        rows.append(("recipes", "-", recipes, "-", "%.0fs" % (time.monotonic() - start), verdict))
    header = ("suite", "real wsproto 1.3.2", "wsproto_lite", "lost", "time", "")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    log("")
    for row in [header] + rows:
        log("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
