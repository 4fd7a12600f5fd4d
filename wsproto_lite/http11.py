"""HTTP/1.1 message framing for the opening handshake: heads, bodies, hosts (RFC 9110/9112).

The handshake's HTTP layer and nothing else: reading a head up to its blank line within a
size limit, header lines into fields, a status line, a response body by Content-Length,
chunked encoding or until EOF (BodyReader), writing one (BodyWriter: chunked when no
length is given, as h11 does), and a host name to and from its IDNA form. No WebSocket
knowledge, no I/O, no `re` (MicroPython's is too small).
"""

from ._compat import TYPE_CHECKING, const
from .errors import LocalProtocolError
from .frames import encode_text

if TYPE_CHECKING:
    from typing import List, Optional, Tuple, Union

    from ._compat import Headers, HeadersIn

_TCHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEXDIGITS = b"0123456789abcdefABCDEF"
_MAX_CHUNK_LINE = const(1024)  # a chunk-size line with its extensions, in a rejection body

# How the body of a rejection response is delimited (RFC 9112 §6.3).
_BODY_LENGTH = const(0)
_BODY_UNTIL_EOF = const(1)
_BODY_CHUNK_SIZE = const(2)
_BODY_CHUNK_DATA = const(3)
_BODY_CHUNK_CRLF = const(4)
_BODY_TRAILER = const(5)
_BODY_NONE = const(6)  # a head that declares no framing (see _declared_framing)


class Malformed(Exception):
    """Bytes that are not the HTTP/1.1 they should be; the caller picks the error to raise."""


class TooBig(Exception):
    """An HTTP head over its limit."""


def is_token(s: bytes) -> bool:
    if not s:
        return False
    return all(c in _TCHARS for c in s)


def is_visible(s: bytes) -> bool:
    # VCHAR only: no space, no control, no byte over 0x7E.
    if not s:
        return False
    return all(not (c < 33 or c > 126) for c in s)


def has_ctl(s: bytes) -> bool:
    # RFC 9110 §5.5: field values hold no control characters but HTAB.
    return any((c < 32 and c != 9) or c == 127 for c in s)


def ascii_text(s: bytes) -> str:
    for c in s:
        if c > 0x7E:
            raise Malformed("non-ASCII bytes in %r" % (s,))
    return s.decode()


def to_bytes(s: "Union[bytes, str]") -> bytes:
    return encode_text(s) if isinstance(s, str) else bytes(s)


def split_tokens(values: "List[bytes]") -> "List[bytes]":
    """The elements of comma-separated header values, several lines combined."""
    out = []
    for value in values:
        for part in value.split(b","):
            part = part.strip(b" \t")
            if part:
                out.append(part)
    return out


def has_token(values: "List[bytes]", token: bytes) -> bool:
    return any(part.lower() == token for part in split_tokens(values))


def split_quoted(values: "List[bytes]") -> "List[bytes]":
    """Like split_tokens, but a comma inside a quoted string does not split."""
    out = []
    for value in values:
        start = 0
        quoted = False
        escaped = False
        for i, c in enumerate(value):
            if escaped:
                escaped = False
            elif quoted:
                if c == 0x5C:  # backslash
                    escaped = True
                elif c == 0x22:
                    quoted = False
            elif c == 0x22:
                quoted = True
            elif c == 0x2C:
                part = value[start:i].strip(b" \t")
                if part:
                    out.append(part)
                start = i + 1
        part = value[start:].strip(b" \t")
        if part:
            out.append(part)
    return out


def parse_fields(lines: "List[bytes]") -> "Headers":
    """Header lines into (lowercased name, value) pairs; raises Malformed."""
    fields = []
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise Malformed("bare CR or LF in the head")
        if line[:1] == b" " or line[:1] == b"\t":
            raise Malformed("obsolete line folding")  # RFC 9112 §5.2
        i = line.find(b":")
        name = line[:i]
        if i <= 0 or not is_token(name):
            raise Malformed("malformed header line %r" % (line[:64],))
        value = line[i + 1 :].strip(b" \t")
        if has_ctl(value):
            raise Malformed("control character in header %r" % (name,))
        fields.append((name.lower(), value))
    return fields


class HeadReader:
    """Collects bytes up to the blank line that ends an HTTP head; never holds more
    than `limit` bytes, so a head with no end is refused at the limit, not later."""

    __slots__ = ("_buf", "_limit")

    def __init__(self, limit: int, prefix: bytes = b"") -> None:
        self._buf = bytearray(prefix)
        self._limit = limit + len(prefix)

    def empty(self) -> bool:
        return not self._buf

    def feed(self, data: bytes) -> "Optional[Tuple[bytes, bytes]]":
        """(head without its final CRLFCRLF, the bytes after it), or None for more."""
        buf = self._buf
        old = len(buf)
        room = self._limit - old
        over = len(data) > room
        buf += data[:room] if over else data
        # Only the new bytes can complete the terminator, and 3 before them.
        i = buf.find(b"\r\n\r\n", old - 3 if old > 3 else 0)
        if i < 0:
            if len(buf) >= self._limit:
                raise TooBig()
            return None
        head = bytes(buf[:i])
        rest = bytes(buf[i + 4 :])
        if over:
            rest += data[room:]
        self._buf = bytearray()
        return head, rest


class BodyReader:
    """Decodes a rejection response's body (Content-Length, chunked, or until EOF) and
    stops delivering after `limit` bytes; `done` once the body ended or was cut."""

    __slots__ = ("_mode", "_left", "_line", "_trailer", "_room", "_trailer_limit", "done")

    def __init__(self, mode: int, length: int, limit: int, trailer_limit: int) -> None:
        self._mode = mode
        self._left = length
        self._line = b""
        self._trailer: "Optional[HeadReader]" = None
        self._room = limit
        self._trailer_limit = trailer_limit
        self.done = mode == _BODY_LENGTH and length == 0

    def feed(self, data: bytes) -> bytes:
        out = []
        pos = 0
        n = len(data)
        while pos < n and not self.done:
            mode = self._mode
            if mode == _BODY_UNTIL_EOF:
                out.append(data[pos:])
                pos = n
            elif mode in (_BODY_LENGTH, _BODY_CHUNK_DATA):
                take = min(self._left, n - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    if mode == _BODY_LENGTH:
                        self.done = True
                    else:
                        self._mode = _BODY_CHUNK_CRLF
            elif mode == _BODY_TRAILER:
                assert self._trailer is not None
                try:
                    got = self._trailer.feed(data[pos:])
                except TooBig:
                    raise Malformed("chunked trailer too long") from None
                pos = n
                self.done = got is not None
            else:  # a chunk-size line, or the CRLF after a chunk's data
                j = data.find(b"\n", pos)
                if j < 0:
                    self._line += data[pos:]
                    pos = n
                    if len(self._line) > _MAX_CHUNK_LINE:
                        raise Malformed("chunk-size line too long")
                    break
                line = self._line + data[pos : j + 1]
                self._line = b""
                pos = j + 1
                if len(line) > _MAX_CHUNK_LINE or line[-2:] != b"\r\n":
                    raise Malformed("malformed chunk framing")
                if mode == _BODY_CHUNK_CRLF:
                    if line != b"\r\n":
                        raise Malformed("chunk data longer than its size")
                    self._mode = _BODY_CHUNK_SIZE
                    continue
                size = line[:-2].split(b";", 1)[0].strip(b" \t")
                if not size or len(size) > 15:
                    raise Malformed("malformed chunk size")
                for c in size:
                    if c not in _HEXDIGITS:
                        raise Malformed("malformed chunk size")
                self._left = int(size.decode(), 16)
                if self._left:
                    self._mode = _BODY_CHUNK_DATA
                else:
                    # The trailer section ends at an empty line; the CRLF that ended
                    # the last-chunk line lets one CRLFCRLF search find either.
                    self._mode = _BODY_TRAILER
                    self._trailer = HeadReader(self._trailer_limit, b"\r\n")
        body = b"".join(out)
        if len(body) >= self._room:
            body = body[: self._room]
            self.done = True
        self._room -= len(body)
        return body

    def eof(self) -> bool:
        """The peer closed: True if that ends the body, False if it cut the body short."""
        if self.done or self._mode == _BODY_UNTIL_EOF:
            self.done = True
            return True
        return False


def build_head(start_line: bytes, headers: "Headers") -> bytes:
    parts = [start_line, b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_headers(headers: "HeadersIn") -> "Headers":
    """The application's headers as bytes, refusing what would break the HTTP framing."""
    out = []
    for name, value in headers:
        bname = to_bytes(name)
        bvalue = to_bytes(value)
        if not is_token(bname):
            raise LocalProtocolError("invalid header name %r" % (bname,))
        if has_ctl(bvalue):
            raise LocalProtocolError("control character (CR, LF, NUL, ...) in header %r" % (bname,))
        out.append((bname, bvalue))
    return out


def status_line(status_code: int, reason: bytes = b"") -> bytes:
    """`HTTP/1.1 <code> <reason>`; a rejection's reason phrase is empty, as h11 sends it
    for wsproto (RFC 9112 §4: clients ignore it)."""
    return b"HTTP/1.1 " + str(status_code).encode() + b" " + reason


def parse_status_line(line: bytes) -> int:
    # HTTP-version SP 3DIGIT SP [reason]; a missing reason's SP is tolerated.
    if len(line) < 12 or line[:7] != b"HTTP/1." or line[8:9] != b" ":
        raise Malformed("malformed status line %r" % (line[:64],))
    status = line[9:12]
    for c in status:
        if c < 0x30 or c > 0x39:
            raise Malformed("malformed status line %r" % (line[:64],))
    if len(line) > 12 and line[12:13] != b" ":
        raise Malformed("malformed status line %r" % (line[:64],))
    return int(status.decode())


def _declared_framing(fields: "Headers") -> "Tuple[int, int]":
    """(mode, length) that a head's Transfer-Encoding and Content-Length declare.

    RFC 9112 §6.3: chunked as the last coding is _BODY_CHUNK_SIZE, any other coding
    _BODY_UNTIL_EOF, else a Content-Length is _BODY_LENGTH with its value; _BODY_NONE
    when the head declares neither. Header names in any case. Raises Malformed for a
    Content-Length that is not digits, or values that disagree.
    """
    codings = []
    lengths = []
    for name, value in fields:
        lower = name.lower()
        if lower == b"transfer-encoding":
            codings.append(value)
        elif lower == b"content-length":
            lengths.append(value)
    if codings:
        tokens = split_tokens(codings)
        if tokens and tokens[-1].lower() == b"chunked":
            return _BODY_CHUNK_SIZE, 0
        return _BODY_UNTIL_EOF, 0
    if not lengths:
        return _BODY_NONE, 0
    values = split_tokens(lengths)
    first = values[0] if values else b""
    if not first or len(first) > 18:
        raise Malformed("malformed Content-Length")
    for c in first:
        if c < 0x30 or c > 0x39:
            raise Malformed("malformed Content-Length")
    for other in values:
        if other != first:
            raise Malformed("conflicting Content-Length values")
    return _BODY_LENGTH, int(first.decode())


def body_framing(status: int, fields: "Headers") -> "Tuple[int, int]":
    """(mode, length) of a rejection's body we receive, from RFC 9112 §6.3."""
    if status == 204 or status == 304:
        return _BODY_LENGTH, 0
    mode, length = _declared_framing(fields)
    return (_BODY_UNTIL_EOF, 0) if mode == _BODY_NONE else (mode, length)


# -- sending a body ---------------------------------------------------------------------


def response_framing(status: int, headers: "Headers", has_body: bool) -> "BodyWriter":
    """How the body of a response we send is framed; adds the header that says so.

    As h11 frames wsproto's rejections: no body gives `content-length: 0` (unless the
    application gave a length); a body with a Content-Length is held to it; a body with
    neither a length nor a Transfer-Encoding is sent chunked (`transfer-encoding:
    chunked` is added). 204 and 304 responses carry no body (RFC 9110 §15.3.5,
    §15.4.5), and a 204 no Content-Length either (§8.6). Raises LocalProtocolError for
    a malformed or conflicting Content-Length.
    """
    if status == 204:
        return BodyWriter(False, 0)
    try:
        mode, length = _declared_framing(headers)
    except Malformed as exc:
        raise LocalProtocolError(str(exc)) from None
    if mode == _BODY_CHUNK_SIZE:
        return BodyWriter(True, None)
    if mode == _BODY_UNTIL_EOF:  # another coding last: the connection's end delimits it
        return BodyWriter(False, None)
    if mode == _BODY_LENGTH:
        return BodyWriter(False, length)
    if not has_body:
        headers.append((b"content-length", b"0"))
        return BodyWriter(False, 0)
    if status == 304:
        return BodyWriter(False, 0)
    headers.append((b"transfer-encoding", b"chunked"))
    return BodyWriter(True, None)


class BodyWriter:
    """Frames the body bytes of one response: as chunks, or counted against its length.

    h11's rules, and its LocalProtocolError messages: more bytes than the declared
    Content-Length, or finishing short of it, is refused before anything is sent.
    """

    __slots__ = ("_chunked", "_left")

    def __init__(self, chunked: bool, length: "Optional[int]") -> None:
        self._chunked = chunked
        self._left = length  # None: not counted (chunked, or until the connection ends)

    def write(self, data: bytes, last: bool) -> bytes:
        """The wire bytes for `data`, and for the body's end if `last`.

        An empty piece sends nothing (a zero-size chunk would end the body early).
        Raises before changing anything when `data` does not fit the declared length.
        """
        n = len(data)
        left = self._left
        if left is not None:
            if n > left:
                raise LocalProtocolError("Too much data for declared Content-Length")
            if last and n < left:
                raise LocalProtocolError("Too little data for declared Content-Length")
            self._left = left - n
        if not self._chunked:
            return data
        out = ("%x\r\n" % n).encode() + data + b"\r\n" if n else b""
        return out + b"0\r\n\r\n" if last else out


# -- host names -------------------------------------------------------------------------


def _split_port(host: str) -> "Tuple[str, str]":
    # "name:port" -> ("name", ":port"); an IPv6 literal "[::1]" keeps its colons.
    i = host.rfind(":")
    if i >= 0 and host[i + 1 :].isdigit() and host.rfind("]") < i:
        return host[:i], host[i:]
    return host, ""


def encode_host(host: "Union[bytes, str]") -> bytes:
    """A Host header value for `host`: ASCII as given, else its IDNA (RFC 3490) form.

    As wsproto: "芝士汉堡" goes out as "xn--7ks3rz39bh7u", a ":port" kept as it is. Needs
    CPython's idna codec (MicroPython has none: a non-ASCII host raises there).
    Raises LocalProtocolError for a host with spaces or controls, or no IDNA form.
    """
    data = to_bytes(host)
    if isinstance(host, str) and any(c > 0x7E for c in data):
        name, port = _split_port(host)
        try:
            data = name.encode("idna") + port.encode()
        except (LookupError, UnicodeError) as exc:
            raise LocalProtocolError("host %r has no IDNA form: %s" % (host, exc)) from None
        # MicroPython's str.encode() ignores the codec's name and gives UTF-8.
        if any(c > 0x7E for c in data):
            raise LocalProtocolError("host %r: IDNA needs CPython's idna codec" % (host,))
    if not is_visible(data):
        raise LocalProtocolError("host %r: not ASCII without spaces" % (data,))
    return data


def decode_host(value: bytes) -> str:
    """A received Host header as text: an IDNA name ("xn--...") back in Unicode, as wsproto.

    Raises Malformed for non-ASCII bytes or an "xn--" label that is not valid IDNA.
    """
    text = ascii_text(value)
    if "xn--" not in text.lower():
        return text
    name, port = _split_port(text)
    try:
        decoded = name.encode().decode("idna")
    except (LookupError, UnicodeError):
        raise Malformed("Host %r is not valid IDNA" % (value,)) from None
    return decoded + port
