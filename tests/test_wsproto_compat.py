"""The same wsproto application, unchanged but for the package name, on wsproto and wsproto_lite.

tests/compat/wsproto_app.py is a client and an echo server written only against wsproto's
public API. Every pairing of client package and server package must produce the transcript
that wsproto's semantics promise (DESIGN.md section 2: switching needs only the import).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

COMPAT_DIR = Path(__file__).with_name("compat")
PACKAGES = ["wsproto", "wsproto_lite"]


def _load_compat():
    spec = importlib.util.spec_from_file_location(
        "wsproto_compat_harness",
        COMPAT_DIR / "__init__.py",
        submodule_search_locations=[str(COMPAT_DIR)],
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compat = _load_compat()


@pytest.fixture(scope="module")
def apps():
    return {name: compat.load(name) for name in PACKAGES}


def expected_client_chat(app):
    state = app.ConnectionState
    text, binary = app.Opcode.TEXT, app.Opcode.BINARY
    return (
        [
            ("state", state.CONNECTING),
            ("accepted", "chat.v1", [], [(b"x-server", b"compat")], state.OPEN),
        ]
        + [("echo", text, data, 1) for data in app.TEXTS]
        + [("echo", binary, data, 1) for data in app.BINARIES]
        + [
            ("pong", app.PING_MID),
            ("echo", text, "".join(app.FRAGMENTED_TEXT), 1),
            ("echo", binary, b"".join(app.FRAGMENTED_BINARY), 1),
            ("pong", app.PING),
            ("state", state.LOCAL_CLOSING),
            ("close", 1000, "bye", state.CLOSED),
            ("send after close refused",),
            ("bytes after close", 0),
        ]
    )


def expected_server_chat(app):
    state = app.ConnectionState
    text, binary = app.Opcode.TEXT, app.Opcode.BINARY
    return (
        [
            ("request", app.HOST, "/chat", ["chat.v2", "chat.v1"], [(b"x-demo", b"yes")]),
            ("state", state.CONNECTING),
            ("state", state.OPEN),
        ]
        + [("echo", text, data, 1) for data in app.TEXTS]
        + [("echo", binary, data, 1) for data in app.BINARIES]
        + [
            ("ping", app.PING_MID),
            ("echo", text, "".join(app.FRAGMENTED_TEXT), len(app.FRAGMENTED_TEXT)),
            ("echo", binary, b"".join(app.FRAGMENTED_BINARY), len(app.FRAGMENTED_BINARY)),
            ("ping", app.PING),
            ("close", 1000, "bye", state.REMOTE_CLOSING),
            ("state", state.CLOSED),
        ]
    )


def expected_client_forbidden(app):
    state = app.ConnectionState
    return [
        ("state", state.CONNECTING),
        ("rejected", 403, True),
        ("body", b"nope", state.CLOSED),
    ]


def expected_server_forbidden(app):
    state = app.ConnectionState
    return [
        ("request", app.HOST, "/forbidden", ["chat.v2", "chat.v1"], [(b"x-demo", b"yes")]),
        ("state", state.CONNECTING),
        ("state", state.REJECTING),
        ("state", state.CLOSED),
    ]


def _summary(log):
    """The log with long values shortened, for readable failure messages."""
    out = []
    for entry in log:
        row = []
        for value in entry:
            if isinstance(value, (bytes, str)) and len(value) > 64:
                value = "<%s of %d>" % (type(value).__name__, len(value))
            row.append(value)
        out.append(tuple(row))
    return out


def assert_log(actual, expected):
    assert _summary(actual) == _summary(expected)
    assert actual == expected  # the long values too


pairs = pytest.mark.parametrize(
    "client_pkg, server_pkg",
    [(client, server) for client in PACKAGES for server in PACKAGES],
    ids=lambda name: name,
)


@pairs
def test_apps_are_bound_to_their_package(apps, client_pkg, server_pkg):
    for name in (client_pkg, server_pkg):
        app = apps[name]
        for obj in (app.WSConnection, app.Request, app.CloseReason, app.LocalProtocolError):
            assert obj.__module__.split(".")[0] == name


@pairs
def test_conversation(apps, client_pkg, server_pkg):
    client, server = apps[client_pkg], apps[server_pkg]
    client_log, server_log = compat.converse(client, server, "/chat")
    assert_log(client_log, expected_client_chat(client))
    assert_log(server_log, expected_server_chat(server))
    # the close code is the wsproto enum value on both sides, whatever its type
    close = [entry for entry in client_log + server_log if entry[0] == "close"]
    assert [entry[1] for entry in close] == [client.CloseReason.NORMAL_CLOSURE] * 2
    # echoes keep their Python types: str for text, bytes-like for binary
    for entry in client_log:
        if entry[0] == "echo":
            assert isinstance(entry[2], str if entry[1] == client.Opcode.TEXT else bytes)


@pairs
def test_rejection(apps, client_pkg, server_pkg):
    client, server = apps[client_pkg], apps[server_pkg]
    client_log, server_log = compat.converse(client, server, "/forbidden")
    assert_log(client_log, expected_client_forbidden(client))
    assert_log(server_log, expected_server_forbidden(server))


def test_app_source_names_only_wsproto():
    source = (COMPAT_DIR / "wsproto_app.py").read_text(encoding="utf-8")
    assert "wsproto_lite" not in source
    assert "from wsproto import " in source


def _origin(obj):
    if isinstance(obj, type(sys)):
        return obj.__name__
    if isinstance(obj, type):
        return obj.__module__
    return type(obj).__module__


def test_lite_app_globals_come_from_wsproto_lite(apps):
    imported = {
        name: _origin(obj)
        for name, obj in vars(apps["wsproto_lite"]).items()
        if not name.startswith("__") and _origin(obj).split(".")[0] in PACKAGES
    }
    assert set(imported) >= {"WSConnection", "ConnectionState", "TextMessage", "Opcode"}
    assert {origin.split(".")[0] for origin in imported.values()} == {"wsproto_lite"}
    # the same check on the wsproto build sees wsproto, so it can fail
    origins = {_origin(getattr(apps["wsproto"], name)).split(".")[0] for name in imported}
    assert origins == {"wsproto"}


_NO_WSPROTO_SCRIPT = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location(
    "harness", sys.argv[1], submodule_search_locations=[sys.argv[2]])
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
app = compat.load("wsproto_lite")
chat = compat.converse(app, app, "/chat")
forbidden = compat.converse(app, app, "/forbidden")
leaked = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("wsproto", "h11")
)
print(json.dumps({
    "leaked": leaked,
    "lite": "wsproto_lite" in sys.modules,
    "closed": [log[-1][0] for log in chat + forbidden],
}))
"""


def test_lite_app_never_imports_wsproto():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _NO_WSPROTO_SCRIPT,
            str(COMPAT_DIR / "__init__.py"),
            str(COMPAT_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lite"] is True
    assert report["leaked"] == []
    assert report["closed"] == ["bytes after close", "state", "body", "state"]
