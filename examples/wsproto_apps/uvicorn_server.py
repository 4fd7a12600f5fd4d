"""uvicorn's wsproto back end on wsproto_lite: python uvicorn_server.py [PORT [WORKERS]]

Needs uvicorn (pip install uvicorn). The one line that matters is the first call: it
must run before uvicorn imports wsproto. Worker processes run this file's top level
again, so they get the alias too.
"""

import sys

import wsproto_lite

wsproto_lite.install_as_wsproto()  # from here on, `import wsproto` is wsproto_lite

import uvicorn  # noqa: E402

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run("asgi_echo:app", host="127.0.0.1", port=port, ws="wsproto", workers=workers)
