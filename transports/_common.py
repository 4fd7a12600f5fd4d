"""The facade's I/O-free parts shared by every transport: errors, requests, headers, URLs.

Imports only the core; loads on MicroPython (no typing, dataclasses or enum at run time).
"""

from wsproto_lite._compat import MICROPYTHON, TYPE_CHECKING
from wsproto_lite.events import (
    AcceptConnection,
    BytesMessage,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto_lite.events import Request as RequestEvent
from wsproto_lite.extensions import PerMessageDeflate, _zlib

if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

    from wsproto_lite.events import Event

# Opcodes as Microdot names them, for send(data, opcode=...).
CONT = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

# max_message_length's default (-1): 1 MiB, or 16 KiB on MicroPython (Microdot's default),
# a message a small board can hold while it is assembled (docs/micropython.rst).
DEFAULT_MAX_MESSAGE = (16 << 10) if MICROPYTHON else (1 << 20)

# Close codes that end `async for message in ws` quietly (RFC 6455 §7.4.1): normal,
# going away, and 1005, a close frame without a code (a browser's ws.close()).
NORMAL_CODES = (1000, 1001, 1005)


class WebSocketError(Exception):
    """The connection is over (or failed): `code` and `reason` say how.

    1006 means the connection was lost without a close frame; 1011 with reason
    "keepalive ping timeout" means the peer stopped answering pings.
    """

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        if self.reason:
            return "connection closed with code %d: %s" % (self.code, self.reason)
        return "connection closed with code %d" % self.code


class WebSocketResponseError(WebSocketError):
    """The server answered the upgrade with an HTTP response instead of accepting it."""

    def __init__(self, status: int, headers: "Headers", body: bytes) -> None:
        super().__init__(1006, "HTTP %d instead of an upgrade" % status)
        self.status = status
        self.headers = headers
        self.body = body


class Headers:
    """Case-insensitive, multi-valued HTTP headers; names and values read as str (latin-1).

    Built from (name, value) pairs, bytes or str. Keeps them, in order, as one bytes
    object, b"name: value\\r\\n" per pair (str latin-1 encoded), and parses that on each
    access: headers are read once or twice per connection but kept for its whole life,
    and one bytes object costs far less than a list of tuples of bytes (on MicroPython
    most of all).

    Raises ValueError for a name containing ":", CR or LF, or a value containing CR or
    LF: no header the core accepts has one, and the stored form could not keep it apart.
    """

    __slots__ = ("_raw",)

    def __init__(self, items: "Iterable[Tuple[Union[bytes, str], Union[bytes, str]]]" = ()) -> None:
        parts: List[Any] = []
        wide = False
        for name, value in items:
            key = _field(name, True)
            text = _field(value, False)
            if isinstance(key, str) or isinstance(text, str):
                wide = True
            parts.extend((key, b": ", text, b"\r\n"))
        # A str beyond latin-1 (CPython only; MicroPython encodes every str) keeps the
        # blob a str, bytes pieces decoded, so every header still reads back as given.
        self._raw: Union[bytes, str] = (
            "".join([_text(part) for part in parts]) if wide else b"".join(parts)
        )

    def _fields(self) -> "List[Tuple[Any, Any]]":
        """The stored (name, value) pairs: bytes, or str in a blob of text beyond latin-1."""
        raw = self._raw
        lines: List[Any] = raw.split("\r\n") if isinstance(raw, str) else raw.split(b"\r\n")
        lines.pop()  # what follows the last CRLF: nothing
        colon = ":" if isinstance(raw, str) else b":"
        pairs = []
        for line in lines:
            at = line.find(colon)  # a name has no ":"; ": " follows it
            pairs.append((line[:at], line[at + 2 :]))
        return pairs

    def get(self, name: str, default: "Optional[str]" = None) -> "Optional[str]":
        """The first value of `name`, or `default`."""
        name = name.lower()
        for key, value in self._fields():
            if _text(key).lower() == name:
                return _text(value)
        return default

    def getall(self, name: str) -> "List[str]":
        """Every value of `name`, in order."""
        name = name.lower()
        return [_text(value) for key, value in self._fields() if _text(key).lower() == name]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> "List[Tuple[str, str]]":
        """(name, value) pairs as received."""
        return [(_text(key), _text(value)) for key, value in self._fields()]

    def __iter__(self) -> "Iterator[str]":
        return iter([_text(key) for key, _ in self._fields()])

    def __len__(self) -> int:
        raw = self._raw
        return raw.count("\r\n") if isinstance(raw, str) else raw.count(b"\r\n")

    def __repr__(self) -> str:
        return "Headers(%r)" % (self.items(),)


def _field(value: "Union[bytes, str]", name: bool) -> "Union[bytes, str]":
    """A header name or value as stored: bytes (str latin-1 encoded), or a str beyond latin-1."""
    if isinstance(value, str):
        if "\r" in value or "\n" in value or (name and ":" in value):
            raise ValueError(_bad_field(value, name))
        try:
            return value.encode("latin-1")
        except UnicodeError:
            return value
    data = bytes(value)
    if b"\r" in data or b"\n" in data or (name and b":" in data):
        raise ValueError(_bad_field(value, name))
    return data


def _bad_field(value: "Union[bytes, str]", name: bool) -> str:
    if name:
        return "header name %r contains ':', CR or LF" % (value,)
    return "header value %r contains CR or LF" % (value,)


def _text(value: "Union[bytes, str]") -> str:
    if isinstance(value, str):
        return value
    return bytes(value).decode("latin-1")


class Request:
    """The upgrade request a handler sees before it accepts or rejects.

    `target` and `headers` (Headers) are attributes; `method`, `path` and `query`
    (`target` split at its first "?"), `host` and `subprotocols` (a new list on each
    read) are read-only properties. A Request lives as long as its connection, so it
    stores `method`, `host` and `subprotocols` only when they differ from their defaults:
    "GET", the Host header's value ("" without one), and no subprotocols.
    """

    # Unset slots are the defaults: read with getattr(), so MicroPython (which ignores
    # __slots__ and stores attributes in a per-instance table) stores nothing for them.
    __slots__ = ("target", "headers", "_method", "_host", "_subprotocols")

    def __init__(
        self,
        target: str,
        headers: "Headers",
        host: str = "",
        subprotocols: "Optional[List[str]]" = None,
        method: str = "GET",
    ) -> None:
        self.target = target
        self.headers = headers
        if method != "GET":
            self._method = method
        if host != (headers.get("host") or ""):
            self._host = host
        if subprotocols:
            self._subprotocols = tuple(subprotocols)

    @property
    def method(self) -> str:
        method: str = getattr(self, "_method", "GET")
        return method

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def host(self) -> str:
        host: Optional[str] = getattr(self, "_host", None)
        if host is None:
            return self.headers.get("host") or ""
        return host

    @property
    def subprotocols(self) -> "List[str]":
        return list(getattr(self, "_subprotocols", ()))

    def __repr__(self) -> str:
        return "Request(%r %r)" % (self.method, self.target)


def message_limit(max_message_length: int) -> "Optional[int]":
    """Map the facade's max_message_length to the core's limit: -1 default, 0 none."""
    if max_message_length == -1:
        return DEFAULT_MAX_MESSAGE
    if max_message_length == 0:
        return None
    if max_message_length < 0:
        raise ValueError("max_message_length is -1 (default), 0 (no limit) or a byte count")
    return max_message_length


def parse_url(url: str) -> "Tuple[bool, str, int, str]":
    """Split ws://host:port/path?query into (secure, host, port, target)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("ws", "wss"):
        raise ValueError("not a ws:// or wss:// URL: %r" % (url,))
    secure = scheme.lower() == "wss"
    hostport, slash, path = rest.partition("/")
    target = "/" + path if slash else "/"
    if "#" in target:
        target = target.split("#", 1)[0]
    if hostport.startswith("["):  # [::1]:8000
        host, _, port_text = hostport[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    if not host:
        raise ValueError("no host in %r" % (url,))
    port = int(port_text) if port_text else (443 if secure else 80)
    return secure, host, port, target


def host_header(host: str, port: int, secure: bool) -> str:
    """The Host header value for a connection to host:port."""
    if ":" in host:
        host = "[%s]" % host
    if port == (443 if secure else 80):
        return host
    return "%s:%d" % (host, port)


def message_event(
    data: "Union[str, bytes, bytearray, memoryview]", opcode: "Optional[int]"
) -> "Any":
    """The core event for send(data, opcode): str is text and bytes-like binary unless
    `opcode` says otherwise; PING and PONG give control frames. CLOSE is the caller's."""
    if opcode is None or opcode in (TEXT, BINARY):
        if opcode == TEXT and not isinstance(data, str):
            data = bytes(data).decode("utf-8")
        elif opcode == BINARY and isinstance(data, str):
            data = data.encode("utf-8")
        return TextMessage(data) if isinstance(data, str) else BytesMessage(bytes(data))
    if opcode in (PING, PONG):
        payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        return Ping(payload) if opcode == PING else Pong(payload)
    raise ValueError("opcode %r cannot be sent" % (opcode,))


def describe(exc: "Any") -> str:
    """A handshake error for people: wsproto's message, and what exactly was wrong where
    the core's `detail` says more ("Bad HTTP message: obsolete line folding")."""
    text = str(exc)
    detail = getattr(exc, "detail", None)
    return text if not detail or detail == text else "%s: %s" % (text, detail)


def closing(event: "Any") -> "Any":
    """`event`, a RejectConnection, with `connection: close` unless it names a Connection.

    The transports end the TCP connection after a rejection, and a server that keeps no
    connection open says so in the response (RFC 9112 §9.6); the core, like wsproto,
    leaves that header to whoever owns the connection.
    """
    headers = list(event.headers)
    for name, _ in headers:
        # bytes or str: compared as what it is (MicroPython warns on bytes == str)
        if name.lower() == (b"connection" if isinstance(name, bytes) else "connection"):
            return event
    headers.append((b"connection", b"close"))
    return RejectConnection(event.status_code, headers, event.has_body)


def rejection(
    status: int,
    body: "Union[bytes, str]",
    headers: "Optional[Sequence[Tuple[Union[bytes, str], Union[bytes, str]]]]",
) -> "Tuple[Event, Event]":
    """The two core events that answer an upgrade with an HTTP response and its body."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    extra = list(headers or [])
    extra.append((b"content-length", str(len(body)).encode()))
    return (
        closing(RejectConnection(status_code=status, headers=extra, has_body=True)),
        RejectData(data=body, body_finished=True),
    )


def request_from_event(event: "RequestEvent") -> Request:
    """The facade's Request for the core's Request event (Host first among the headers)."""
    return Request(
        event.target,
        Headers([(b"host", event.host.encode())] + list(event.extra_headers)),
        host=event.host,
        subprotocols=event.subprotocols,
    )


def framework_target(req: "Any") -> str:
    """The request target of another framework's request (Microdot's shape): `path`, then
    "?" and `query_string` (or `query`) when there is one and `path` holds no query yet."""
    query = getattr(req, "query_string", None) or getattr(req, "query", "") or ""
    path: str = req.path
    return path + "?" + query if query and "?" not in path else path


def request_from_framework(req: "Any") -> Request:
    """The facade's Request for another framework's request (Microdot's shape).

    Reads `method` ("GET" if missing), `path`, `query_string` or `query` (see
    framework_target) and `headers`, a mapping with items(); the host comes from the Host
    header and the subprotocols from Sec-WebSocket-Protocol (comma-separated, stripped).
    """
    headers = Headers(list(req.headers.items()))
    subprotocols = []
    for value in headers.getall("sec-websocket-protocol"):
        for token in value.split(","):
            token = token.strip()
            if token:
                subprotocols.append(token)
    return Request(
        framework_target(req),
        headers,
        host=headers.get("host") or "",
        subprotocols=subprotocols,
        method=getattr(req, "method", None) or "GET",
    )


def check_compression(compression: "Any") -> None:
    """Raise ValueError unless `compression` is None, "deflate" or a PerMessageDeflate."""
    if not (
        compression is None
        or compression == "deflate"
        or isinstance(compression, PerMessageDeflate)
    ):
        raise ValueError(
            'compression is "deflate", None or a PerMessageDeflate, not %r' % (compression,)
        )


def compression_extensions(compression: "Any", client: bool) -> "List[Any]":
    """The extensions one connection offers (client) or accepts (server).

    "deflate": permessage-deflate with bounded memory, as websockets configures it. A
    server asks for 12-bit windows both ways (the client's only where its offer lets us
    limit it) and zlib memLevel 5: by zlib's formula its compressor takes 32 KiB instead
    of 256 KiB and its inflater keeps a 4 KiB window instead of 32 KiB. A client uses
    memLevel 5 (144 KiB). A PerMessageDeflate: a fresh copy of it for this connection.
    None, or no usable zlib (MicroPython): nothing offered, every offer declined.
    """
    if compression is None or not _zlib():
        return []
    if isinstance(compression, PerMessageDeflate):
        return [compression.copy()]
    # "deflate": every caller checked the option already (check_compression).
    if client:
        return [PerMessageDeflate(mem_level=5)]
    # The client's window too, when its offer lets us limit it (browsers' does): the
    # inflater then keeps 4 KiB of window per connection instead of 32 KiB.
    return [PerMessageDeflate(client_max_window_bits=12, server_max_window_bits=12, mem_level=5)]


def client_request(
    host: str,
    port: int,
    secure: bool,
    target: str,
    subprotocols: "Optional[List[str]]",
    headers: "Optional[Sequence[Tuple[Union[bytes, str], Union[bytes, str]]]]",
    compression: "Any" = None,
) -> "Tuple[RequestEvent, Request]":
    """A client's opening: the core's Request event to send and the facade's Request."""
    event = RequestEvent(
        host=host_header(host, port, secure),
        target=target,
        subprotocols=subprotocols or [],
        extensions=compression_extensions(compression, True),
        extra_headers=headers or [],
    )
    return event, Request(target, Headers(headers or []), host=event.host)


class HandshakeReply:
    """Folds a client's handshake events into the answer: accepted, or a rejection.

    take(events) returns the AcceptConnection once it comes, None while a rejection's
    body is still arriving, and raises WebSocketResponseError once that body is whole.
    """

    __slots__ = ("_status", "_headers", "_body")

    def __init__(self) -> None:
        self._status = 0
        self._headers: "Sequence[Tuple[Union[bytes, str], Union[bytes, str]]]" = ()
        self._body = b""

    def take(self, events: "Sequence[Any]") -> "Optional[AcceptConnection]":
        for event in events:
            if isinstance(event, AcceptConnection):
                return event
            if isinstance(event, RejectConnection):
                self._status = event.status_code
                self._headers = event.headers
                if not event.has_body:
                    raise WebSocketResponseError(self._status, Headers(self._headers), b"")
            elif isinstance(event, RejectData):
                self._body += event.data
                if event.body_finished:
                    raise WebSocketResponseError(self._status, Headers(self._headers), self._body)
        return None
