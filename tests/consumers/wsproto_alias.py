"""A pytest plugin (`-p wsproto_alias`) that runs a test suite written for wsproto on wsproto_lite.

Loaded with -p, it runs before any conftest or test module imports wsproto, so every
`import wsproto...` in the suite and in the code under test resolves to wsproto_lite.
"""

import wsproto_lite

wsproto_lite.install_as_wsproto()


def pytest_report_header() -> str:
    import wsproto

    return "wsproto aliased to wsproto_lite: %s" % wsproto.__file__
