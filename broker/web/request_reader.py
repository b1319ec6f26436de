"""Reads one HTTP/1.x request off a connection, byte counts and framing only, before any thread.

``broker serve`` gathers each request whole, head and body, in its workers' event loops, and
hands it to a thread only then: a client that sends slowly, or nothing, costs a socket and a
buffer, never a thread (see :mod:`broker.web.server`). This module decides, from the bytes
received so far, whether the request is complete, needs more, or must be refused without
reading further (a head or body past its limit). It parses just enough to find where the
request ends: the head's blank line, then ``Content-Length`` bytes or a chunked body up to its
last chunk and trailers. Whatever else is wrong with the request (a malformed line, ``Content-
Length`` and ``Transfer-Encoding`` together, an unknown coding) is left to gunicorn's strict
parser, which refuses it without waiting for more bytes: the reader then stops at the head.

The reader is linear in the bytes fed: each byte is scanned a bounded number of times.
"""

from __future__ import annotations

from dataclasses import dataclass

CRLF = b"\r\n"
# A chunk-size line with its extensions (RFC 9112 section 7.1.1): nothing legitimate is longer.
MAX_CHUNK_LINE = 4096
# The SSO portal's bearer header has an underscore, and gunicorn drops every header that has one
# (two names, X-Forwarded-For and X_Forwarded_For, would share one WSGI variable). This one name,
# matched exactly, is renamed to its dashed spelling (same length) before gunicorn parses the head;
# every other underscore header, X_Forwarded_For included, is still dropped.
SSO_BEARER_HEADER = b"x-amz-sso_bearer_token"
SSO_BEARER_RENAMED = b"x-amz-sso-bearer-token"


@dataclass(frozen=True)
class ReaderLimits:
    """What one request may hold; past these the reader refuses without reading further."""

    max_request_line: int
    max_head: int
    max_body: int


class Refused(Exception):
    """The request must be answered with ``status`` and the connection closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class RequestReader:
    """Feed it bytes as they arrive; :attr:`complete` once one whole request is held.

    Bytes past the end of the request (a pipelined next request) are kept in :attr:`data` too:
    the server passes every byte on, and gathers the next request the same way later.
    """

    def __init__(self, limits: ReaderLimits) -> None:
        self.limits = limits
        self._data = bytearray()
        self._scanned = 0  # head search: where to resume looking for the blank line
        self._line_end = -1  # where the request line ends, once seen
        self._head_end: int | None = None  # index just past the blank line
        self._length = 0  # Content-Length
        self._body_end = 0  # index just past a Content-Length body
        self._chunked = False
        self._chunk_state = "size"  # size -> data -> data-crlf -> size ... -> trailers
        self._chunk_left = 0
        self._body_bytes = 0
        self._pos = 0  # chunked framing: index up to which the body has been parsed
        self._trailers_start = 0  # chunked framing: where the trailer lines begin
        self.wants_continue = False  # the head asked for 100-continue and a body is still due
        self.complete = False

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    @property
    def head_complete(self) -> bool:
        return self._head_end is not None

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes from the connection; raises :class:`Refused`."""
        self._data += chunk
        if self.complete:
            return
        if self._head_end is None:
            self._read_head()
            if self._head_end is None:
                return
        if self._chunked:
            self._read_chunks()
        else:
            self.complete = len(self._data) >= self._body_end
        if self.complete:
            self.wants_continue = False

    def _read_head(self) -> None:
        data = self._data
        # One empty line before the request line is ignored (RFC 9112 section 2.2, as gunicorn
        # does); more are the start of a request gunicorn refuses. Skipping every one let a client
        # send megabytes of CRLF that no limit counted, each read scanning them all again.
        start = 2 if data.startswith(CRLF) else 0
        end = data.find(b"\r\n\r\n", max(start, self._scanned - 3))
        if end < 0:
            if self._line_end < 0:  # the request line's end: looked for until found
                self._line_end = data.find(b"\n", max(start, self._scanned))
                if (self._line_end < 0 and len(data) - start > self.limits.max_request_line + 2) or (
                    self._line_end > start + self.limits.max_request_line + 1
                ):
                    raise Refused(414, "URI Too Long")
            self._scanned = len(data)
            if len(data) - start > self.limits.max_head:
                raise Refused(431, "Request Header Fields Too Large")
            return
        self._head_end = end + 4
        if self._head_end - start > self.limits.max_head:
            raise Refused(431, "Request Header Fields Too Large")
        self._rename_sso_bearer(start, end)
        self._frame(bytes(data[start:end]))
        self._pos = self._head_end
        self._body_end = self._head_end + self._length

    def _rename_sso_bearer(self, start: int, end: int) -> None:
        """Rename ``x-amz-sso_bearer_token`` (any case) to ``x-amz-sso-bearer-token``, in place."""
        data = self._data
        size = len(SSO_BEARER_HEADER)
        line = data.find(CRLF, start, end)
        while 0 <= line < end:
            name_start = line + 2
            if (
                data[name_start : name_start + size].lower() == SSO_BEARER_HEADER
                and data[name_start + size : name_start + size + 1] == b":"
            ):
                data[name_start : name_start + size] = SSO_BEARER_RENAMED
            line = data.find(CRLF, name_start, end)

    def _frame(self, head: bytes) -> None:
        """How the body ends, from the head's framing fields (RFC 9112 section 6.3)."""
        lines = head.split(CRLF)
        request_line = lines[0]
        if len(request_line) > self.limits.max_request_line:
            raise Refused(414, "URI Too Long")
        lengths: set[bytes] = set()
        codings: list[bytes] = []
        expect_continue = False
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue  # gunicorn refuses the line
            name = name.strip().lower()
            if name == b"content-length":
                lengths.update(part.strip() for part in value.split(b","))
            elif name == b"transfer-encoding":
                codings.extend(part.strip().lower() for part in value.split(b",") if part.strip())
            elif name == b"expect":
                expect_continue = value.strip().lower() == b"100-continue"
        http11 = request_line.rstrip().endswith(b"HTTP/1.1")
        if codings:
            # Content-Length beside it, or a coding other than a final "chunked": gunicorn refuses
            # the request from its head, so there is no body to wait for.
            if not lengths and codings[-1] == b"chunked" and codings.count(b"chunked") == 1:
                self._chunked = True
                self.wants_continue = expect_continue and http11
            return
        if len(lengths) != 1:
            return  # none (no body), or conflicting values (gunicorn refuses)
        (text,) = lengths
        if not text.isdigit() or not text.isascii() or len(text) > 19:
            return  # gunicorn refuses it
        length = int(text)
        if length > self.limits.max_body:
            raise Refused(413, "Content Too Large")
        self._length = length
        self.wants_continue = expect_continue and http11 and length > 0

    def _read_chunks(self) -> None:
        data = self._data
        while not self.complete:
            if self._chunk_state == "size":
                end = data.find(CRLF, self._pos)
                if end < 0:
                    if len(data) - self._pos > MAX_CHUNK_LINE:
                        raise Refused(400, "Bad Request")
                    return
                size_text = bytes(data[self._pos : end]).split(b";", 1)[0].strip()
                self._pos = end + 2
                try:
                    size = int(size_text, 16) if size_text and size_text.isascii() else -1
                except ValueError:
                    size = -1
                if size < 0 or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                    self.complete = True  # gunicorn refuses the chunk line: nothing more to wait for
                    return
                self._body_bytes += size
                if self._body_bytes > self.limits.max_body:
                    raise Refused(413, "Content Too Large")
                self._chunk_left = size
                self._chunk_state = "data" if size else "trailers"
                self._trailers_start = self._pos
            elif self._chunk_state == "data":
                take = min(self._chunk_left, len(data) - self._pos)
                self._pos += take
                self._chunk_left -= take
                if self._chunk_left:
                    return
                self._chunk_state = "data-crlf"
            elif self._chunk_state == "data-crlf":
                if len(data) - self._pos < 2:
                    return
                self._pos += 2
                self._chunk_state = "size"
            else:  # trailers: lines until an empty one, all of them within the head's limit
                end = data.find(CRLF, self._pos)
                if (end if end >= 0 else len(data)) - self._trailers_start > self.limits.max_head:
                    raise Refused(431, "Request Header Fields Too Large")
                if end < 0:
                    return
                line_empty = end == self._pos
                self._pos = end + 2
                if line_empty:
                    self.complete = True
