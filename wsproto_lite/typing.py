"""wsproto's `typing` import path: the `Headers` alias (a list of (name, value) byte pairs)."""

try:
    from typing import List, Tuple

    Headers = List[Tuple[bytes, bytes]]
except ImportError:  # MicroPython: no typing module; the alias is documentation there
    Headers = list  # type: ignore[misc]

__all__ = ["Headers"]
