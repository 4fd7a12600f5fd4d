"""pytest glue for the portable tests: run their `async def test_*` with asyncio.run().

The MicroPython runner (tests/micropython/run.mjs) awaits them itself; this file is
never loaded there.
"""

import asyncio
import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> "bool | None":
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), 10))
    return True
