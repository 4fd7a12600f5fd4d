"""The opening handshake (RFC 6455 §4), both roles: HTTP/1.1 bytes <-> handshake events.

`H11Handshake` keeps wsproto's class name for import compatibility, but no h11 is
involved: the HTTP/1.1 framing (heads read incrementally and never buffered past
`max_handshake_size`, bodies, chunked encoding, host names) is in .http11; this module
is the WebSocket upgrade on top of it. No I/O, no `base64` (MicroPython lacks it;
binascii instead). SHA-1 comes from hashlib where the port has it, else from ._sha1.

Server role, in short:
    hs = H11Handshake(ConnectionType.SERVER)
    try:
        hs.receive_data(data)             # a Request event once the head is complete
    except RemoteProtocolError as exc:    # the request is unacceptable
        out = hs.send(exc.event_hint)     # a RejectConnection: 400, 405, 426 or 431
    out = hs.send(AcceptConnection())     # 101; hs.connection is the Connection now

Statuses a server answers a bad request with (in `event_hint.status_code`):
    400  malformed request line or header line, not HTTP/1.1, Host missing or repeated,
         no `Upgrade: websocket` or `Connection: upgrade` token, Sec-WebSocket-Key
         missing, repeated or not base64 of 16 bytes, Sec-WebSocket-Version missing or
         repeated, a subprotocol that is not a token, non-ASCII Host, subprotocols or
         extensions, a control character in a value, EOF inside the head, more than
         `max_handshake_size` bytes of frames sent before the server accepted
    405  a method other than GET (with `Allow: GET`)
    426  Sec-WebSocket-Version other than 13 (with `Sec-WebSocket-Version: 13`)
    431  a request head over `max_handshake_size` bytes, refused without buffering more
Where wsproto refuses the same request, the error's message is wsproto's ("Missing
header, 'Host'", "Bad HTTP message", ...), found in wsproto's order; `detail` says more.

As in wsproto, the server's Request.extra_headers holds every header but Host,
Sec-WebSocket-Protocol and Sec-WebSocket-Extensions (those have their own fields), names
lowercased, values bytes; the client's AcceptConnection.extra_headers leaves out the
headers the handshake itself consumed. Header lines end with CRLF (a bare-LF head is
never complete and ends at the 431/size limit).

Rejecting, as h11 does it for wsproto (.http11.response_framing): no reason phrase;
`content-length: 0` when has_body is False (unless the application gave one); with a
body, a Content-Length the body is held to, else chunked encoding. No Connection header
is added (the transports add `connection: close`). A client reads a rejection's body by
Content-Length, chunked encoding or until EOF, delivers at most `max_reject_body_size`
bytes of it, and ends it with RejectData(b"", body_finished=True) as wsproto does.
"""

import binascii

from ._compat import HAVE_ENUM, TYPE_CHECKING, default_random_bytes
from .connection import Connection, ConnectionState, ConnectionType
from .errors import HandshakeError, LocalProtocolError, RemoteProtocolError
from .events import AcceptConnection, RejectConnection, RejectData, Request
from .frames import encode_text
from .http11 import (
    BodyReader,
    BodyWriter,
    HeadReader,
    Malformed,
    TooBig,
    ascii_text,
    body_framing,
    build_head,
    decode_host,
    encode_headers,
    encode_host,
    has_ctl,
    has_token,
    is_token,
    is_visible,
    parse_fields,
    parse_status_line,
    response_framing,
    split_quoted,
    split_tokens,
    status_line,
    to_bytes,
)

if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

    from ._compat import Headers, HeadersIn, RandomBytes
    from .events import Event
    from .extensions import Extension

# RFC 6455 §4.2.1/6 and §4.2.1/3
WEBSOCKET_VERSION = b"13"
WEBSOCKET_UPGRADE = b"websocket"
# RFC 6455 §1.3
ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_B64CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BAD_HTTP = "Bad HTTP message"  # wsproto's words for any malformed HTTP

DEFAULT_MAX_HANDSHAKE_SIZE = 16384
DEFAULT_MAX_REJECT_BODY_SIZE = 65536


def _pick_sha1() -> "Callable[[bytes], bytes]":
    try:
        from hashlib import sha1 as hashlib_sha1
    except ImportError:  # MicroPython ports without it (the WebAssembly build, some rp2)
        from ._sha1 import sha1

        return sha1

    def sha1_digest(data: bytes) -> bytes:
        return hashlib_sha1(data).digest()

    return sha1_digest


_sha1 = _pick_sha1()


def _b64encode(data: bytes) -> bytes:
    # b2a_base64 ends with a newline on both VMs; MicroPython has no base64 module.
    return binascii.b2a_base64(data)[:-1]


def accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2/5.4)."""
    return _b64encode(_sha1(bytes(key) + ACCEPT_GUID))


def generate_nonce(random_bytes: "Optional[RandomBytes]" = None) -> bytes:
    """A fresh Sec-WebSocket-Key: 16 random bytes, base64 (RFC 6455 §4.1)."""
    nonce = (random_bytes or default_random_bytes)(16)
    if len(nonce) != 16:
        raise LocalProtocolError("random_bytes(16) returned %d bytes" % len(nonce))
    return _b64encode(bytes(nonce))


def _offer_name(offer: str) -> str:
    return offer.split(";", 1)[0].strip()


# -- extension negotiation ---------------------------------------------------------------


def _negotiate(
    requested: "Iterable[str]", supported: "Sequence[Extension]"
) -> "Tuple[Optional[bytes], List[Extension]]":
    accepted: "List[Extension]" = []
    parts = []
    for offer in requested:
        name = _offer_name(offer)
        for extension in supported:
            if extension.name != name or _contains(accepted, extension):
                continue
            # RFC 7692 §5: of several offers for one extension, the first accepted wins.
            answer = extension.accept(offer)
            if answer is True or answer == "":
                parts.append(name)
            elif isinstance(answer, str) and answer:
                parts.append(name + "; " + answer)
            else:
                continue
            accepted.append(extension)
            break
    if not parts:
        return None, accepted
    value = encode_text(", ".join(parts))
    if has_ctl(value):
        raise LocalProtocolError("control character in an extension's parameters")
    return value, accepted


def _contains(items: "Sequence[Any]", item: "Any") -> bool:
    return any(x is item for x in items)


def server_extensions_handshake(
    requested: "Iterable[str]", supported: "Sequence[Extension]"
) -> "Optional[bytes]":
    """The Sec-WebSocket-Extensions value answering `requested` offers, or None.

    Calls each supported extension's accept() with the client's offers of its name.
    """
    return _negotiate(requested, supported)[0]


def client_extensions_handshake(
    accepted: "Iterable[str]", supported: "Sequence[Extension]"
) -> "List[Extension]":
    """The offered extensions the server accepted, each finalize()d with its answer.

    Raises RemoteProtocolError for an extension we did not offer, or one accepted twice.
    """
    result: "List[Extension]" = []
    for answer in accepted:
        name = _offer_name(answer)
        for extension in supported:
            # Only what went out in the offer: offer() False (PerMessageDeflate where
            # zlib cannot do it) offered nothing, so an answer for it is unrecognized.
            if extension.name == name and extension.offer() is not False:
                if _contains(result, extension):
                    raise RemoteProtocolError(
                        "extension %s accepted twice" % name, RejectConnection()
                    )
                extension.finalize(answer)
                result.append(extension)
                break
        else:
            raise RemoteProtocolError("unrecognized extension %s" % name, RejectConnection())
    return result


# -- the request and the response, parsed ------------------------------------------------


def _missing(header: str) -> str:
    return "Missing header, '%s'" % header  # wsproto's words


def _parse_request(head: bytes) -> "Tuple[Request, bytes]":
    """A request head into the Request event and its Sec-WebSocket-Key.

    Raises HandshakeError with the status to answer with. Checked in wsproto's order
    (method, Connection, version, key, Upgrade, Host) with wsproto's messages, so a
    request missing several headers is refused for the same one; the checks wsproto
    lacks (a repeated Host, key or version, a key that is not base64 of 16 bytes, a
    subprotocol that is not a token, non-ASCII) come after.
    """
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not is_token(parts[0]) or not is_visible(parts[1]):
        raise HandshakeError(_BAD_HTTP, detail="malformed request line")
    method, target, version = parts
    if len(version) != 8 or version[:5] != b"HTTP/" or version[6:7] != b".":
        raise HandshakeError(_BAD_HTTP, detail="malformed request line")
    if version != b"HTTP/1.1":
        raise HandshakeError("WebSocket needs HTTP/1.1, not %r" % (version,))
    try:
        fields = parse_fields(lines[1:])
    except Malformed as exc:
        raise HandshakeError(_BAD_HTTP, detail=str(exc)) from None
    if method != b"GET":
        # wsproto answers 400; 405 with Allow is what RFC 9110 §15.5.6 asks for.
        raise HandshakeError("Request method must be GET", 405, [(b"Allow", b"GET")])

    hosts = []
    keys = []
    versions = []
    upgrades = []
    connections = []
    protocols = []
    extensions = []
    extra = []
    for name, value in fields:
        # As in wsproto, Host, protocols and extensions have their own fields, not
        # extra_headers; everything else (the key and version included) is there.
        if name == b"host":
            hosts.append(value)
            continue
        if name == b"sec-websocket-protocol":
            protocols.append(value)
            continue
        if name == b"sec-websocket-extensions":
            extensions.append(value)
            continue
        if name == b"sec-websocket-key":
            keys.append(value)
        elif name == b"sec-websocket-version":
            versions.append(value)
        elif name == b"upgrade":
            upgrades.append(value)
        elif name == b"connection":
            connections.append(value)
        extra.append((name, value))

    if not has_token(connections, b"upgrade"):
        raise HandshakeError(_missing("Connection: Upgrade"))
    supported = [(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)]
    if len(versions) != 1 or versions[0] != WEBSOCKET_VERSION:
        detail = "Sec-WebSocket-Version header repeated" if len(versions) > 1 else None
        status = 426 if len(versions) == 1 else 400
        raise HandshakeError(_missing("Sec-WebSocket-Version"), status, supported, detail)
    if not keys:
        raise HandshakeError(_missing("Sec-WebSocket-Key"))
    if not has_token(upgrades, WEBSOCKET_UPGRADE):
        raise HandshakeError(_missing("Upgrade: websocket"))
    if not hosts:
        raise HandshakeError(_missing("Host"))
    if len(hosts) > 1:
        raise HandshakeError("Host header repeated")
    if len(keys) > 1:
        raise HandshakeError("Sec-WebSocket-Key header repeated")
    key = keys[0]
    if not _valid_key(key):
        raise HandshakeError("Sec-WebSocket-Key is not base64 of 16 bytes")
    try:
        host = decode_host(hosts[0])
        offers = [ascii_text(offer) for offer in split_quoted(extensions)]
        subprotocols = []
        for token in split_tokens(protocols):
            if not is_token(token):
                raise Malformed("subprotocol %r is not a token" % (token,))
            subprotocols.append(token.decode())
    except Malformed as exc:
        raise HandshakeError(str(exc)) from None
    request = Request(
        host=host,
        target=target.decode(),
        extensions=offers,
        extra_headers=extra,
        subprotocols=subprotocols,
    )
    return request, key


def _state_name(state: "Any") -> str:
    # str() of an Enum member is "ConnectionState.OPEN" on every CPython; MicroPython's
    # _State gives the same through repr().
    return str(state) if HAVE_ENUM else repr(state)


def _valid_key(key: bytes) -> bool:
    # RFC 6455 §4.1/7: base64 of 16 bytes is 22 characters and "==". Checked by hand:
    # CPython's a2b_base64 skips junk, and MicroPython's raises a bare Exception.
    if len(key) != 24 or key[22:] != b"==":
        return False
    return all(c in _B64CHARS for c in key[:22])


# -- the state machine --------------------------------------------------------------------


class H11Handshake:
    """The opening handshake for one role, as wsproto's `H11Handshake` (no h11 inside).

    Args:
        connection_type: ConnectionType.CLIENT or ConnectionType.SERVER.
        max_handshake_size: the most bytes an HTTP head may have, its blank line
            included. A server also holds at most this many bytes of frames that
            arrive after the request and before it accepts.
        max_reject_body_size: client: the most body bytes of a rejection response
            delivered as RejectData; the rest is dropped and the body reported finished.
        random_bytes: client: where the Sec-WebSocket-Key comes from; also passed to
            the Connection for mask keys. Defaults to os.urandom (or the platform's).
        connection_kwargs: passed to the Connection made once the handshake succeeds
            (max_message_size, max_frame_size, auto_reply, whole_messages).

    Errors: a server's receive_data() raises RemoteProtocolError (a HandshakeError)
    for a bad request; its `event_hint` is the RejectConnection to send(), and the
    state stays CONNECTING until it is sent. A client's receive_data() raises
    RemoteProtocolError for a bad response, and the state becomes CLOSED.

    EOF, receive_data(None): a server that got no byte goes CLOSED quietly; inside the
    head it raises (400). After a complete request it is remembered and handed to the
    Connection on accept, which then reports CloseConnection(1006). A client raises
    RemoteProtocolError before the response head is complete; inside a rejection body
    it finishes a body that runs until EOF, and raises for one cut short.
    """

    def __init__(
        self,
        connection_type: "ConnectionType",
        *,
        max_handshake_size: int = DEFAULT_MAX_HANDSHAKE_SIZE,
        max_reject_body_size: int = DEFAULT_MAX_REJECT_BODY_SIZE,
        random_bytes: "Optional[RandomBytes]" = None,
        **connection_kwargs: "Any",
    ) -> None:
        if connection_type is not ConnectionType.CLIENT and (
            connection_type is not ConnectionType.SERVER
        ):
            raise TypeError("connection_type is ConnectionType.CLIENT or .SERVER")
        self.client = connection_type is ConnectionType.CLIENT
        self._connection_type = connection_type
        self._max_handshake_size = max_handshake_size
        self._max_reject_body_size = max_reject_body_size
        self._random_bytes = random_bytes
        self._connection_kwargs = connection_kwargs
        self._state = ConnectionState.CONNECTING
        self._connection: "Optional[Connection]" = None
        self._events: "List[Event]" = []
        self._reader: "Optional[HeadReader]" = HeadReader(max_handshake_size)
        self._request: "Optional[Request]" = None  # server: the peer's; client: ours
        self._key: "Optional[bytes]" = None  # the Sec-WebSocket-Key of that request
        self._pending = b""  # server: frames that came after the request head
        self._eof = False  # server: EOF after the request, before accept
        self._failed = False  # server: the request was refused; only a rejection follows
        self._body: "Optional[BodyReader]" = None  # client: a rejection's body
        self._writer: "Optional[BodyWriter]" = None  # server: the rejection body we send

    @property
    def state(self) -> "ConnectionState":
        """CONNECTING, then OPEN (accepted), or REJECTING and CLOSED (rejected)."""
        return self._state

    @property
    def connection(self) -> "Optional[Connection]":
        """The Connection once the handshake succeeded (state OPEN), else None."""
        return self._connection

    def events(self) -> "Iterator[Event]":
        """The events the received bytes produced, oldest first."""
        while self._events:
            yield self._events.pop(0)

    # -- receiving ----------------------------------------------------------------------

    def receive_data(self, data: "Optional[bytes]") -> None:
        """Feed bytes from the network; None (or b"", as in wsproto) means EOF.

        Raises RemoteProtocolError when the peer's handshake is unacceptable (see the
        class docstring), and LocalProtocolError once the handshake is over: then the
        bytes belong to `connection`.
        """
        state = self._state
        if state is ConnectionState.OPEN:
            raise LocalProtocolError("the handshake is complete; feed the Connection")
        if state is ConnectionState.CLOSED:
            return
        if not data:  # None, or as in wsproto (h11) b"" too: the transport saw EOF
            if self.client:
                self._client_eof()
            else:
                self._server_eof()
        elif self.client:
            try:
                self._client_receive(data)
            except RemoteProtocolError:
                self._state = ConnectionState.CLOSED
                raise
        else:
            self._server_receive(data)

    def _server_receive(self, data: bytes) -> None:
        if self._failed or self._state is not ConnectionState.CONNECTING:
            return  # refused or rejecting: the client's bytes no longer matter
        reader = self._reader
        if reader is None:
            self._hold(data)
            return
        try:
            got = reader.feed(data)
        except TooBig:
            self._failed = True
            limit = self._max_handshake_size
            raise HandshakeError("request head over %d bytes" % limit, 431) from None
        if got is None:
            return
        head, rest = got
        self._reader = None
        try:
            self._request, self._key = _parse_request(head)
        except HandshakeError:
            self._failed = True
            raise
        self._events.append(self._request)
        self._hold(rest)

    def _hold(self, data: bytes) -> None:
        # Frames a client sent before we accepted: kept for the Connection, bounded.
        if len(self._pending) + len(data) > self._max_handshake_size:
            self._failed = True
            raise HandshakeError(
                "more than %d bytes before the handshake completed" % (self._max_handshake_size,)
            )
        self._pending += data

    def _server_eof(self) -> None:
        reader = self._reader
        if reader is None:
            self._eof = True  # after the request: the Connection reports it
        elif self._failed or self._state is not ConnectionState.CONNECTING:
            pass  # a rejection may still be sent into the half-closed connection
        elif reader.empty():
            self._state = ConnectionState.CLOSED  # connected and left: nothing to answer
        else:
            self._failed = True
            raise HandshakeError("connection closed inside the request head")

    def _client_receive(self, data: bytes) -> None:
        if self._body is not None:
            self._receive_body(data)
            return
        assert self._reader is not None
        try:
            got = self._reader.feed(data)
        except TooBig:
            detail = "response head over %d bytes" % self._max_handshake_size
            raise HandshakeError(_BAD_HTTP, detail=detail) from None
        if got is None:
            return
        head, rest = got
        self._reader = None
        if self._request is None:
            raise RemoteProtocolError("a response before any request", RejectConnection())
        lines = head.split(b"\r\n")
        try:
            status = parse_status_line(lines[0])
            fields = parse_fields(lines[1:])
        except Malformed as exc:
            raise HandshakeError(_BAD_HTTP, detail=str(exc)) from None
        if status == 101:
            if lines[0][:8] != b"HTTP/1.1":
                raise RemoteProtocolError("101 response not HTTP/1.1", RejectConnection())
            self._events.append(self._establish(fields, rest))
        elif status < 200:
            # As wsproto: an interim response other than 101 ends the handshake.
            self._events.append(RejectConnection(status, fields, has_body=False))
            self._state = ConnectionState.CLOSED
        else:
            try:
                mode, length = body_framing(status, fields)
            except Malformed as exc:
                raise HandshakeError(_BAD_HTTP, detail=str(exc)) from None
            self._events.append(RejectConnection(status, fields, has_body=True))
            self._state = ConnectionState.REJECTING
            self._body = BodyReader(
                mode, length, self._max_reject_body_size, self._max_handshake_size
            )
            if rest or self._body.done:
                self._receive_body(rest)

    def _receive_body(self, data: bytes) -> None:
        body = self._body
        assert body is not None
        if body.done:
            chunk = b""
        else:
            try:
                chunk = body.feed(data)
            except Malformed as exc:
                raise HandshakeError(_BAD_HTTP, detail=str(exc)) from None
        # As wsproto (h11's Data, then EndOfMessage): each piece with body_finished
        # False, then an empty RejectData with body_finished True.
        if chunk:
            self._events.append(RejectData(chunk, False))
        if body.done:
            self._events.append(RejectData(b"", True))
            self._state = ConnectionState.CLOSED

    def _client_eof(self) -> None:
        body = self._body
        self._state = ConnectionState.CLOSED
        if body is None:
            raise RemoteProtocolError(
                "connection closed before the handshake response", RejectConnection()
            )
        if not body.eof():
            raise RemoteProtocolError(
                "connection closed inside the response body", RejectConnection()
            )
        self._events.append(RejectData(b"", True))

    def _establish(self, fields: "Headers", rest: bytes) -> AcceptConnection:
        request = self._request
        assert request is not None and self._key is not None
        upgrades = []
        connections = []
        accepts = []
        protocols = []
        extensions = []
        extra = []
        for name, value in fields:
            if name == b"upgrade":
                upgrades.append(value)
            elif name == b"connection":
                connections.append(value)
            elif name == b"sec-websocket-accept":
                accepts.append(value)
            elif name == b"sec-websocket-protocol":
                protocols.append(value)
            elif name == b"sec-websocket-extensions":
                extensions.append(value)
            else:
                extra.append((name, value))
        # wsproto's order and words.
        if not has_token(connections, b"upgrade"):
            raise RemoteProtocolError(_missing("Connection: Upgrade"), RejectConnection())
        if not has_token(upgrades, WEBSOCKET_UPGRADE):
            raise RemoteProtocolError(_missing("Upgrade: websocket"), RejectConnection())
        if len(accepts) != 1 or accepts[0] != accept_key(self._key):
            raise RemoteProtocolError("Bad accept token", RejectConnection())
        subprotocol = None
        if protocols:
            if len(protocols) != 1 or not is_token(protocols[0]):
                raise RemoteProtocolError("malformed Sec-WebSocket-Protocol", RejectConnection())
            subprotocol = protocols[0].decode()
            if subprotocol not in request.subprotocols:
                raise RemoteProtocolError(
                    "unrecognized subprotocol %s" % subprotocol, RejectConnection()
                )
        try:
            answers = [ascii_text(answer) for answer in split_quoted(extensions)]
        except Malformed as exc:
            raise RemoteProtocolError(str(exc), RejectConnection()) from None
        accepted = client_extensions_handshake(answers, request.extensions)
        self._open(accepted, rest)
        return AcceptConnection(subprotocol=subprotocol, extensions=accepted, extra_headers=extra)

    def _open(self, extensions: "List[Extension]", trailing_data: bytes) -> None:
        connection = Connection(
            self._connection_type,
            extensions=extensions,
            trailing_data=trailing_data,
            random_bytes=self._random_bytes,
            **self._connection_kwargs,
        )
        if self._eof:
            connection.receive_data(None)
        self._connection = connection
        self._pending = b""
        self._state = ConnectionState.OPEN

    # -- sending ------------------------------------------------------------------------

    def send(self, event: "Event") -> bytes:
        """The bytes that carry a handshake event to the peer.

        Client: Request. Server: AcceptConnection, RejectConnection, then RejectData
        while REJECTING. Anything else, or an event illegal in the current state,
        raises LocalProtocolError and changes nothing.
        """
        if self.client:
            if isinstance(event, Request):
                return self._send_request(event)
        elif isinstance(event, AcceptConnection):
            return self._send_accept(event)
        elif isinstance(event, RejectConnection):
            return self._send_reject(event)
        elif isinstance(event, RejectData):
            return self._send_reject_data(event)
        raise LocalProtocolError("cannot send %r during the handshake" % (event,))

    def _send_request(self, request: Request) -> bytes:
        if self._state is not ConnectionState.CONNECTING or self._request is not None:
            raise LocalProtocolError("the request was already sent")
        host = encode_host(request.host)
        target = to_bytes(request.target)
        if not is_visible(target):
            raise LocalProtocolError("target %r: not ASCII without spaces" % target)
        headers = [(b"Host", host), (b"Upgrade", WEBSOCKET_UPGRADE), (b"Connection", b"Upgrade")]
        key = generate_nonce(self._random_bytes)
        headers.append((b"Sec-WebSocket-Key", key))
        headers.append((b"Sec-WebSocket-Version", WEBSOCKET_VERSION))
        if request.subprotocols:
            protocols = [to_bytes(p) for p in request.subprotocols]
            for p in protocols:
                if not is_token(p):
                    raise LocalProtocolError("subprotocol %r is not a token" % (p,))
            headers.append((b"Sec-WebSocket-Protocol", b", ".join(protocols)))
        offers = []
        for extension in request.extensions:
            params = extension.offer()
            if params is True or params == "":
                offers.append(extension.name)
            elif isinstance(params, str) and params:
                offers.append(extension.name + "; " + params)
        if offers:
            headers.append((b"Sec-WebSocket-Extensions", encode_text(", ".join(offers))))
        headers = encode_headers(headers) + encode_headers(request.extra_headers)
        data = build_head(b"GET " + target + b" HTTP/1.1", headers)
        self._request = request
        self._key = key
        return data

    def _send_accept(self, event: AcceptConnection) -> bytes:
        request = self._request
        if self._state is not ConnectionState.CONNECTING or request is None or self._failed:
            raise LocalProtocolError("no acceptable request to accept in state %r" % self._state)
        assert self._key is not None
        headers = [
            (b"Upgrade", WEBSOCKET_UPGRADE),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", accept_key(self._key)),
        ]
        if event.subprotocol is not None:
            if event.subprotocol not in request.subprotocols:
                raise LocalProtocolError("subprotocol %s was not offered" % event.subprotocol)
            headers.append((b"Sec-WebSocket-Protocol", to_bytes(event.subprotocol)))
        extra = encode_headers(event.extra_headers)
        accepted: "List[Extension]" = []
        if event.extensions:
            value, accepted = _negotiate(request.extensions, event.extensions)
            if value is not None:
                headers.append((b"Sec-WebSocket-Extensions", value))
        data = build_head(status_line(101, b"Switching Protocols"), headers + extra)
        self._open(accepted, self._pending)
        return data

    def _send_reject(self, event: RejectConnection) -> bytes:
        if self._state is not ConnectionState.CONNECTING:
            raise LocalProtocolError("cannot reject in state %r" % self._state)
        status = event.status_code
        # isinstance, not type(): http.HTTPStatus members are welcome (and int() them,
        # whose str() is the member's name on Python 3.10).
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 999:
            raise LocalProtocolError("a rejection's status is 200-999, not %r" % (status,))
        status = int(status)
        headers = encode_headers(event.headers)
        writer = response_framing(status, headers, event.has_body)
        data = build_head(status_line(status), headers)
        if event.has_body:
            self._writer = writer
            self._state = ConnectionState.REJECTING
        else:
            self._state = ConnectionState.CLOSED
        return data

    def _send_reject_data(self, event: RejectData) -> bytes:
        writer = self._writer
        if self._state is not ConnectionState.REJECTING or writer is None:
            raise LocalProtocolError("cannot send rejection data in state %r" % self._state)
        data = writer.write(bytes(event.data), event.body_finished)
        if event.body_finished:
            self._writer = None
            self._state = ConnectionState.CLOSED
        return data

    # -- a request parsed elsewhere -----------------------------------------------------

    def initiate_upgrade_connection(self, headers: "HeadersIn", path: "Union[bytes, str]") -> None:
        """Server: take a request a framework already parsed; queues its Request event.

        Validated exactly as received bytes are: raises RemoteProtocolError (a
        HandshakeError, with the RejectConnection to send) for a bad request.
        """
        if self.client:
            raise LocalProtocolError("only a server takes an upgrade request")
        if self._reader is None or not self._reader.empty() or self._failed:
            raise LocalProtocolError("a request was already received")
        pieces = [to_bytes(path)]
        for name, value in headers:
            pieces += (to_bytes(name), to_bytes(value))
        for piece in pieces:
            # Checked before joining: a line break inside one would end a line early.
            if b"\r" in piece or b"\n" in piece:
                self._failed = True
                raise HandshakeError("line break inside the request's path or a header")
        parts = [b"GET ", pieces[0], b" HTTP/1.1\r\n"]
        for i in range(1, len(pieces), 2):
            parts += (pieces[i], b": ", pieces[i + 1], b"\r\n")
        parts.append(b"\r\n")
        self.receive_data(b"".join(parts))

    def __repr__(self) -> str:
        # As wsproto's: the state as str() shows it, "ConnectionState.OPEN".
        return "H11Handshake(client=%r, state=%s)" % (self.client, _state_name(self._state))
