"""Run one wsproto application against either wsproto or wsproto_lite.

`load(package_name)` executes the source of `wsproto_app.py` in a fresh module whose
`import wsproto...` statements resolve to `package_name...` instead. The source is not
rewritten: the module gets its own `__import__`, which maps the top-level name `wsproto` (and
its submodules) to `package_name` and leaves every other import alone.

`converse(client_app, server_app, target)` connects a client and a server (each a loaded app,
possibly from different packages) over `socket.socketpair()`, one thread per side, and returns
both transcripts.
"""

import builtins
import importlib
import socket
import threading
import types
from pathlib import Path

APP_PATH = Path(__file__).with_name("wsproto_app.py")
ORIGINAL = "wsproto"
SOCKET_TIMEOUT = 10.0


def load(package_name, path=APP_PATH):
    """The app module with `wsproto` replaced by `package_name` in its imports."""

    def redirected_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == ORIGINAL or name.startswith(ORIGINAL + ".")):
            module = importlib.import_module(package_name + name[len(ORIGINAL) :])
            # `from a.b import x` gets a.b itself; `import a.b` binds the top-level package.
            return module if fromlist else importlib.import_module(package_name)
        return builtins.__import__(name, globals, locals, fromlist, level)

    module = types.ModuleType("compat_app_on_" + package_name)
    module.__file__ = str(path)
    module_builtins = dict(vars(builtins))
    module_builtins["__import__"] = redirected_import
    module.__dict__["__builtins__"] = module_builtins
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


def converse(client_app, server_app, target="/chat", timeout=SOCKET_TIMEOUT):
    """Run client_app.run_client and server_app.run_server against each other.

    Returns (client_log, server_log). An exception on either side is re-raised here; a side
    that does not finish within the timeout fails the call.
    """
    client_sock, server_sock = socket.socketpair()
    results = {}

    def side(name, sock, func, *args):
        with sock:
            sock.settimeout(timeout)
            try:
                results[name] = func(sock, *args)
            except BaseException as exc:  # reported by the caller's thread
                results[name] = exc

    threads = [
        threading.Thread(target=side, args=("server", server_sock, server_app.run_server)),
        threading.Thread(target=side, args=("client", client_sock, client_app.run_client, target)),
    ]
    for thread in threads:
        thread.daemon = True
        thread.start()
    for thread in threads:
        thread.join(timeout * 3)
    for thread in threads:
        if thread.is_alive():
            raise TimeoutError("a side of the conversation did not finish")
    for name in ("client", "server"):
        if isinstance(results[name], BaseException):
            raise AssertionError("the %s side failed" % name) from results[name]
    return results["client"], results["server"]
