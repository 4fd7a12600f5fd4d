"""hypercorn (which always uses wsproto) on wsproto_lite: python hypercorn_server.py [PORT]

Needs hypercorn (pip install hypercorn). install_as_wsproto() runs before hypercorn is
imported, since hypercorn imports wsproto as it loads.
"""

import asyncio
import sys

import wsproto_lite

wsproto_lite.install_as_wsproto()  # from here on, `import wsproto` is wsproto_lite

from asgi_echo import app  # noqa: E402
from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402

if __name__ == "__main__":
    config = Config()
    config.bind = ["127.0.0.1:%d" % (int(sys.argv[1]) if len(sys.argv) > 1 else 8000)]
    asyncio.run(serve(app, config))
