"""A second copy of wsproto_lite that runs the pure-Python path, beside the accelerated one.

    from fuzz.pure_core import load_pure
    pure = load_pure()            # the package, imported again as "wsproto_lite_pure"
    pure.frames.SPEEDUPS          # False, whatever the first copy uses
    pure.connection.Connection    # the same code as wsproto_lite.connection.Connection

The accelerator is chosen once, at import (wsproto_lite/frames.py), so comparing both
paths in one process needs two imports of the same files: the second is made under
another name with WSPROTO_LITE_NO_SPEEDUPS set. Used by tests/test_speedups.py (the
two paths give the same bytes and events) and benchmarks/core.py (both timed together).
"""

import importlib.util
import os
import sys
from types import ModuleType

NAME = "wsproto_lite_pure"
_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "wsproto_lite")


def load_pure() -> ModuleType:
    """Import this checkout's wsproto_lite again as NAME, on the pure path (cached)."""
    if NAME in sys.modules:
        return sys.modules[NAME]
    spec = importlib.util.spec_from_file_location(
        NAME, os.path.join(_PACKAGE, "__init__.py"), submodule_search_locations=[_PACKAGE]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    saved = os.environ.get("WSPROTO_LITE_NO_SPEEDUPS")
    os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = "1"
    try:
        spec.loader.exec_module(module)
        for sub in ("frames", "connection", "events", "handshake", "extensions"):
            importlib.import_module(NAME + "." + sub)
    except BaseException:
        sys.modules.pop(NAME, None)
        raise
    finally:
        if saved is None:
            del os.environ["WSPROTO_LITE_NO_SPEEDUPS"]
        else:
            os.environ["WSPROTO_LITE_NO_SPEEDUPS"] = saved
    assert not module.frames.SPEEDUPS
    return module
