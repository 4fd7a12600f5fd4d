"""wsproto_lite._sha1 against CPython's hashlib.sha1 on random input."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsproto_lite._sha1 import sha1


@given(st.binary(max_size=300))
def test_random_input_matches_hashlib(data):
    assert sha1(data) == hashlib.sha1(data).digest()


@pytest.mark.parametrize("length", [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 300])
@given(data=st.data())
def test_block_boundary_lengths_match_hashlib(length, data):
    message = data.draw(st.binary(min_size=length, max_size=length))
    assert sha1(message) == hashlib.sha1(message).digest()
