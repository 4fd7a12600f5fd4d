"""transports._common: Headers, Request and the Requests built from events and frameworks.

Headers keeps its pairs as one bytes object and Request stores only what differs from
its defaults; these tests pin what reading them gives. Runs under pytest and on
MicroPython: bare asserts, no pytest import.
"""

import sys

from _helpers import raises

from transports._common import (
    Headers,
    Request,
    client_request,
    framework_target,
    request_from_event,
    request_from_framework,
)
from wsproto_lite.events import Request as RequestEvent

MICROPYTHON = sys.implementation.name == "micropython"

BROWSER = [
    (b"host", b"example.com:8000"),
    (b"upgrade", b"websocket"),
    (b"connection", b"Upgrade"),
    (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    (b"cookie", b"a=1"),
    (b"cookie", b"b=2"),
]


# ---------------------------------------------------------------------------- Headers


def test_get_is_case_insensitive_and_gives_the_first_value():
    headers = Headers(BROWSER)
    assert headers.get("Host") == "example.com:8000"
    assert headers.get("HOST") == "example.com:8000"
    assert headers.get("cookie") == "a=1"
    assert headers.get("Cookie") == "a=1"


def test_get_missing_gives_the_default():
    headers = Headers(BROWSER)
    assert headers.get("origin") is None
    assert headers.get("origin", "none") == "none"


def test_getall_keeps_every_value_in_order():
    headers = Headers(BROWSER)
    assert headers.getall("COOKIE") == ["a=1", "b=2"]
    assert headers.getall("origin") == []


def test_getitem_and_contains():
    headers = Headers(BROWSER)
    assert headers["Upgrade"] == "websocket"
    assert headers["sec-websocket-KEY"] == "dGhlIHNhbXBsZSBub25jZQ=="
    exc = raises(KeyError, headers.__getitem__, "Origin")
    assert exc.args == ("Origin",)
    assert "UPGRADE" in headers
    assert "origin" not in headers
    assert b"upgrade" not in headers  # names are looked up as str
    assert 1 not in headers


def test_items_iter_and_len_keep_the_order_as_given():
    headers = Headers(BROWSER)
    assert headers.items() == [
        ("host", "example.com:8000"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("cookie", "a=1"),
        ("cookie", "b=2"),
    ]
    assert list(headers) == ["host", "upgrade", "connection", "sec-websocket-key"] + [
        "cookie",
        "cookie",
    ]
    assert len(headers) == 6


def test_names_keep_their_case_as_given():
    headers = Headers([("X-Custom", "1"), (b"Content-Type", b"text/plain")])
    assert headers.items() == [("X-Custom", "1"), ("Content-Type", "text/plain")]
    assert headers.get("x-custom") == "1"
    assert headers.get("content-type") == "text/plain"


def test_str_bytes_and_mixed_pairs_read_the_same():
    as_bytes = Headers([(b"a", b"1"), (b"b", b"2")])
    as_str = Headers([("a", "1"), ("b", "2")])
    mixed = Headers([(b"a", "1"), ("b", b"2")])
    for headers in (as_bytes, as_str, mixed):
        assert headers.items() == [("a", "1"), ("b", "2")]
        assert headers.get("B") == "2"


def test_bytearray_pairs_are_read_as_bytes():
    headers = Headers([(bytearray(b"a"), bytearray(b"1"))])
    assert headers.items() == [("a", "1")]


def test_str_values_read_back_as_given():
    # Stored latin-1 encoded (UTF-8 on MicroPython, whose str.encode ignores the codec);
    # either way what was given comes back.
    headers = Headers([("x-name", "caf\xe9"), ("x-sign", "\xa7 1")])
    assert headers.get("x-name") == "caf\xe9"
    assert headers.items() == [("x-name", "caf\xe9"), ("x-sign", "\xa7 1")]


def test_str_beyond_latin1_reads_back_as_given():
    headers = Headers([(b"a", b"1"), ("x-price", "5 \u20ac"), ("x-\u03bb", "2")])
    assert headers.items() == [("a", "1"), ("x-price", "5 \u20ac"), ("x-\u03bb", "2")]
    assert headers.get("X-\u03bb") == "2"
    assert len(headers) == 3


def test_bytes_values_decode_as_latin1():
    if MICROPYTHON:
        return  # MicroPython's bytes.decode is UTF-8 whatever the codec named
    headers = Headers([(b"x-name", b"caf\xe9"), (b"x-raw", b"\xff\x80")])
    assert headers.get("x-name") == "caf\xe9"
    assert headers.getall("x-raw") == ["\xff\x80"]


def test_values_may_hold_colons_and_spaces():
    headers = Headers([("origin", "http://a:80"), ("x", " padded "), ("e", ""), ("c", ":")])
    assert headers.items() == [("origin", "http://a:80"), ("x", " padded "), ("e", ""), ("c", ":")]
    assert headers.get("e") == ""
    assert "e" in headers


def test_empty_headers():
    for headers in (Headers(), Headers([]), Headers(())):
        assert len(headers) == 0
        assert headers.items() == []
        assert list(headers) == []
        assert headers.get("host") is None
        assert headers.getall("host") == []
        assert "host" not in headers
        assert repr(headers) == "Headers([])"


def test_repr_shows_the_pairs_as_str():
    assert repr(Headers([(b"host", b"a")])) == "Headers([('host', 'a')])"


def test_a_name_with_a_colon_cr_or_lf_is_refused():
    for name in ("a:b", b"a:b", "a\rb", b"a\nb", "a\r\nb", ":"):
        raises(ValueError, Headers, [(name, "1")])


def test_a_value_with_cr_or_lf_is_refused():
    for value in ("1\r\n2", b"1\r\n2", "1\r", b"1\n", "\n"):
        raises(ValueError, Headers, [("a", value)])


def test_a_bad_pair_after_good_ones_is_refused():
    raises(ValueError, Headers, [("a", "1"), ("b", "2\r\nc: 3")])


# ---------------------------------------------------------------------------- Request


def test_request_splits_the_target_at_the_first_question_mark():
    request = Request("/chat?room=1?x&y=2", Headers())
    assert request.target == "/chat?room=1?x&y=2"
    assert request.path == "/chat"
    assert request.query == "room=1?x&y=2"


def test_request_without_a_query():
    request = Request("/chat", Headers())
    assert (request.path, request.query) == ("/chat", "")
    request = Request("/chat?", Headers())
    assert (request.path, request.query, request.target) == ("/chat", "", "/chat?")


def test_request_defaults():
    headers = Headers()
    request = Request("/", headers)
    assert request.method == "GET"
    assert request.host == ""
    assert request.subprotocols == []
    assert request.headers is headers
    assert repr(request) == "Request('GET' '/')"


def test_request_method_other_than_get():
    request = Request("/x", Headers(), method="POST")
    assert request.method == "POST"
    assert repr(request) == "Request('POST' '/x')"
    assert Request("/x", Headers(), method="GET").method == "GET"


def test_request_host_given_or_from_the_host_header():
    assert Request("/", Headers(), host="a.example").host == "a.example"
    # Stored only when it differs from the Host header: either way it reads as given.
    with_host = Headers([("Host", "b.example")])
    assert Request("/", with_host, host="b.example").host == "b.example"
    assert Request("/", with_host, host="c.example").host == "c.example"
    assert Request("/", with_host).host == ""
    assert Request("/", with_host, host="").host == ""


def test_request_subprotocols_are_a_new_list_each_read():
    request = Request("/", Headers(), subprotocols=["chat.v2", "chat.v1"])
    assert request.subprotocols == ["chat.v2", "chat.v1"]
    got = request.subprotocols
    got.append("mine")
    got[0] = "changed"
    assert request.subprotocols == ["chat.v2", "chat.v1"]
    none = Request("/", Headers(), subprotocols=None)
    none.subprotocols.append("mine")
    assert none.subprotocols == []
    assert Request("/", Headers(), subprotocols=[]).subprotocols == []


def test_request_keeps_no_reference_to_the_subprotocols_given():
    offered = ["a"]
    request = Request("/", Headers(), subprotocols=offered)
    offered.append("b")
    assert request.subprotocols == ["a"]


# ---------------------------------------------------------------------------- built requests


def test_request_from_event_puts_host_first():
    event = RequestEvent(
        host="example.com",
        target="/chat?room=42",
        subprotocols=["chat.v2", "chat.v1"],
        extra_headers=[(b"upgrade", b"websocket"), (b"origin", b"http://example.com")],
    )
    request = request_from_event(event)
    assert request.method == "GET"
    assert (request.target, request.path, request.query) == ("/chat?room=42", "/chat", "room=42")
    assert request.host == "example.com"
    assert request.subprotocols == ["chat.v2", "chat.v1"]
    assert request.headers.items() == [
        ("host", "example.com"),
        ("upgrade", "websocket"),
        ("origin", "http://example.com"),
    ]


def test_client_request_keeps_the_host_header_value():
    event, request = client_request("::1", 8000, False, "/ws?x=1", ["p"], [("X-A", "1")])
    assert event.host == "[::1]:8000"
    assert request.host == "[::1]:8000"
    assert (request.path, request.query) == ("/ws", "x=1")
    assert request.headers.items() == [("X-A", "1")]
    assert request.subprotocols == []  # the offer is the event's; the Request keeps none


class FakeMicrodotRequest:
    """The request attributes request_from_framework reads, as Microdot has them."""

    def __init__(self, path, headers, **extra):
        self.path = path
        self.headers = headers
        for name in extra:
            setattr(self, name, extra[name])


MICRODOT_HEADERS = {
    "Host": "board.local",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def test_request_from_framework_with_query_string():
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS, method="GET", query_string="room=1")
    request = request_from_framework(req)
    assert (request.method, request.target) == ("GET", "/ws?room=1")
    assert (request.path, request.query) == ("/ws", "room=1")
    assert request.host == "board.local"
    assert request.subprotocols == []
    assert request.headers.get("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert sorted(request.headers.items()) == sorted(MICRODOT_HEADERS.items())


def test_request_from_framework_with_query():
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS, method="GET", query="a=b")
    assert request_from_framework(req).target == "/ws?a=b"
    # Microdot gives query_string None without a "?"; query is the fallback.
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS, query_string=None, query="a=b")
    assert framework_target(req) == "/ws?a=b"
    # A path that carries its query already is the whole target (as some frameworks give it).
    req = FakeMicrodotRequest("/ws?a=b", MICRODOT_HEADERS, query="a=b")
    assert framework_target(req) == "/ws?a=b"


def test_request_from_framework_without_a_query_or_method():
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS)
    request = request_from_framework(req)
    assert (request.method, request.target, request.query) == ("GET", "/ws", "")
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS, query_string=None, query="")
    assert request_from_framework(req).target == "/ws"
    req = FakeMicrodotRequest("/ws", MICRODOT_HEADERS, method="POST")
    assert request_from_framework(req).method == "POST"


def test_request_from_framework_reads_the_subprotocols():
    headers = {"Host": "board.local", "Sec-WebSocket-Protocol": "a, b"}
    request = request_from_framework(FakeMicrodotRequest("/ws", headers))
    assert request.subprotocols == ["a", "b"]
    headers = {"sec-websocket-protocol": " chat ,, x ,"}
    request = request_from_framework(FakeMicrodotRequest("/ws", headers))
    assert request.subprotocols == ["chat", "x"]
    assert request.host == ""


def test_describe_adds_the_cores_detail_to_wsprotos_message():
    from transports._common import describe
    from wsproto_lite.errors import HandshakeError, RemoteProtocolError

    detail = HandshakeError("Bad HTTP message", detail="obsolete line folding")
    assert describe(detail) == "Bad HTTP message: obsolete line folding"
    assert describe(HandshakeError("Missing header, 'Host'")) == "Missing header, 'Host'"
    assert describe(RemoteProtocolError("Bad accept token")) == "Bad accept token"
