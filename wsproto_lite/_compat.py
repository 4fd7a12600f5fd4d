"""Every CPython/MicroPython difference the core needs, in one place.

Imports nothing MicroPython lacks; typing-only names exist for the checker only.
"""

import sys

TYPE_CHECKING = False  # mypy treats any name TYPE_CHECKING as true
if TYPE_CHECKING:
    from typing import Callable, List, Sequence, Tuple, Union

    Headers = List[Tuple[bytes, bytes]]
    HeadersIn = Sequence[Tuple[Union[bytes, str], Union[bytes, str]]]
    RandomBytes = Callable[[int], bytes]

    def const(x: int) -> int: ...

else:
    try:
        from micropython import const
    except ImportError:

        def const(x):
            return x


# wsproto's constants are enums, and embedders use that (trio-websocket calls
# CloseReason(code).name). Where `enum` exists they are enums here too; MicroPython
# gets plain classes of ints and _State instances.
if TYPE_CHECKING:
    from enum import Enum as Enum
    from enum import IntEnum as IntEnum

    HAVE_ENUM = True
else:
    try:
        from enum import Enum, IntEnum

        HAVE_ENUM = True
    except ImportError:
        Enum = IntEnum = object
        HAVE_ENUM = False


def _pick_random_bytes() -> "RandomBytes":
    try:
        from os import urandom

        return urandom
    except ImportError:  # some MicroPython ports
        from random import getrandbits

        def random_bytes(n: int) -> bytes:
            return bytes(getrandbits(8) for _ in range(n))

        return random_bytes


default_random_bytes = _pick_random_bytes()


class _State:
    """A named constant compared with `is`: MicroPython has no enum."""

    __slots__ = ("name", "value", "_owner")

    def __init__(self, owner: str, name: str, value: int) -> None:
        self._owner = owner
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return "%s.%s" % (self._owner, self.name)

    def __hash__(self) -> int:
        return self.value


MICROPYTHON = sys.implementation.name == "micropython"


def own_defaults(obj: object, names: "Tuple[str, ...]") -> None:
    """Give obj its own copy of the class attributes `names` (CPython only).

    A per-connection object starts with its state as class attributes. MicroPython
    keeps an instance's attributes in a hash table that grows in steps (2, 4, 6, 8,
    10, 12, 17, ... entries of 8 bytes) and never shrinks, so an attribute left at its
    class default costs nothing there: an idle connection holds only what it changed.
    CPython reads an instance's own attributes faster than class ones (about 20 ns per
    read on 3.11 and 3.12), so there each instance gets them all up front.
    """
    if not MICROPYTHON:
        cls = type(obj)
        for name in names:
            setattr(obj, name, getattr(cls, name))
