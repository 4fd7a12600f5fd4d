"""wsproto's public names, module by module, next to ours (issue 12: the drop-in).

Every public name of each wsproto 1.3.2 module must exist in the wsproto_lite module of the
same name, with the same value for constants, except the ones listed in LEFT_OUT with the
reason (docs/from-wsproto.rst, "Internals that are not there").
"""

import importlib
import sys

import pytest
import wsproto

import wsproto_lite

MODULES = ["", ".connection", ".events", ".extensions", ".frame_protocol", ".handshake"]
MODULES += [".typing", ".utilities"]

# What wsproto's modules import for their own use (typing helpers, stdlib modules, h11),
# not API of theirs.
IMPORTED = {
    "annotations", "ABC", "abstractmethod", "Generic", "TypeVar", "T", "dataclass", "field",
    "NamedTuple", "IntEnum", "Optional", "TYPE_CHECKING", "IncrementalDecoder",
    "getincrementaldecoder", "contextlib", "os", "struct", "zlib", "deque", "base64",
    "hashlib", "cast", "h11",
}  # fmt: skip
# wsproto's frame machinery, which wsproto_lite replaces with .frames; and the names one
# wsproto module imports from another, which have their home module here too.
LEFT_OUT = {
    "": {"frame_protocol", "utilities"},  # submodules: attributes once imported
    ".connection": {"Event", "FrameProtocol", "Opcode", "ParseFailed"},
    ".extensions": {"CloseReason", "FrameDecoder", "FrameProtocol", "Opcode"},
    ".frame_protocol": {
        "Buffer", "FrameDecoder", "FrameProtocol", "Header", "MessageDecoder",
        "XorMaskerNull", "XorMaskerSimple",
    },
    ".handshake": {"Event", "Extension", "generate_accept_token", "normed_header_dict"}
    | {"split_comma_header"},
}  # fmt: skip


def public(module: object) -> "set[str]":
    return {name for name in dir(module) if not name.startswith("_")} - IMPORTED


@pytest.mark.parametrize("suffix", MODULES)
def test_every_public_name_of_wsproto_is_here(suffix: str) -> None:
    assert "wsproto_lite" not in wsproto.__file__  # the real one
    theirs = importlib.import_module("wsproto" + suffix)
    ours = importlib.import_module("wsproto_lite" + suffix)
    missing = public(theirs) - public(ours) - LEFT_OUT.get(suffix, set())
    assert not missing, "wsproto%s has, wsproto_lite%s lacks: %s" % (suffix, suffix, missing)
    for name in public(theirs) & public(ours):
        value = getattr(theirs, name)
        if isinstance(value, (int, bytes, str, tuple)) and not isinstance(value, bool):
            assert getattr(ours, name) == value, name


def test_left_out_names_are_really_missing() -> None:
    # The list must not go stale: a name added here later comes off LEFT_OUT.
    for suffix, names in LEFT_OUT.items():
        ours = importlib.import_module("wsproto_lite" + suffix)
        present = names & public(ours)
        assert suffix == "" or not present, (suffix, present)


def test_real_wsproto_is_not_aliased_here() -> None:
    assert sys.modules["wsproto"] is wsproto and wsproto is not wsproto_lite
