"""Fuzz findings (the deflate harness), replayed through its oracle: every invariant of
fuzz/deflate_oracle.py must hold for these inputs.

- output-pending-at-step.bin: a 79-byte compressed frame inflating to more than one
  64 KiB output step, its input all consumed. zlib still held output after the first
  step, so the message was cut at 65536 bytes and the 1009 never came. Expected: the
  inflater is asked again until a call comes back short, and the message over the limit
  ends in SizeViolation (1009), as the reference model says.
- uncompressed-over-limit-announced.bin: an uncompressed frame whose header announces
  more than the limit, the stream ending before that much arrives. Expected:
  SizeViolation (1009) at the frame's first piece, as the reference model says.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # fuzz/ is not an installed package
    sys.path.insert(0, str(ROOT))

from fuzz.deflate_oracle import run_deflate  # noqa: E402

HERE = Path(__file__).resolve().parent / "deflate"


@pytest.mark.parametrize("name", sorted(p.name for p in HERE.glob("*.bin")))
def test_deflate_finding_keeps_the_invariants(name):
    run_deflate((HERE / name).read_bytes())  # raises InvariantBroken otherwise
