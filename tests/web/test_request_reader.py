"""The reader that tells, from the bytes so far, whether one HTTP/1.x request is whole."""

from __future__ import annotations

import pytest

from broker.web.request_reader import ReaderLimits, Refused, RequestReader

LIMITS = ReaderLimits(max_request_line=100, max_head=1000, max_body=5000)


def fed(*pieces: bytes, limits: ReaderLimits = LIMITS) -> RequestReader:
    reader = RequestReader(limits)
    for piece in pieces:
        reader.feed(piece)
    return reader


def byte_by_byte(data: bytes) -> RequestReader:
    reader = RequestReader(LIMITS)
    for i in range(len(data)):
        assert not reader.complete, f"complete after {i} of {len(data)} bytes"
        reader.feed(data[i : i + 1])
    return reader


def test_a_request_without_body_is_whole_at_its_blank_line() -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    reader = byte_by_byte(request)
    assert reader.complete
    assert reader.data == request
    assert not fed(request[:-1]).complete


def test_a_content_length_body_is_waited_for() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
    reader = fed(head, b"Action=Get")
    assert reader.head_complete and not reader.complete
    reader.feed(b"X")
    assert reader.complete
    assert byte_by_byte(head + b"Action=GetX").complete


def test_bytes_past_the_request_are_kept_for_the_next_one() -> None:
    two = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHo"
    reader = fed(two)
    assert reader.complete
    assert reader.data == two


def test_one_empty_line_before_the_request_line_is_skipped() -> None:
    reader = fed(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reader.complete and reader.head_complete
    assert not fed(b"\r\nGET / HTTP/1.1\r\n").complete


def test_more_empty_lines_are_a_request_handed_over_at_once() -> None:
    # RFC 9112 section 2.2 asks a server to ignore at least one; gunicorn ignores exactly one and
    # refuses the rest. Skipping every one let a client send megabytes no limit counted (each
    # read rescanning them all), stalling the worker.
    assert fed(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").complete
    flood = fed(b"\r\n" * 3)
    assert flood.complete  # handed to gunicorn, which answers 400 and closes
    with pytest.raises(Refused) as line:
        fed(b"\r\n" + b"G" * 200)
    assert line.value.status == 414


def test_trailer_lines_count_against_the_head_limit() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    reader = fed(head, b"3\r\nabc\r\n0\r\n")

    def short_lines() -> None:  # each one ended: none alone reaches a limit
        for _ in range(1000):
            reader.feed(b"a:b\r\n")

    with pytest.raises(Refused) as trailers:
        short_lines()
    assert trailers.value.status == 431
    assert len(reader.data) < len(head) + 20 + LIMITS.max_head + 10


def test_a_chunked_body_ends_at_its_last_chunk_and_trailers() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"
    reader = byte_by_byte(head + body)
    assert reader.complete
    assert not fed(head, b"5\r\nhello\r\n0\r\n").complete  # trailers' blank line missing
    assert fed(head, b"5\r\nhello\r\n0\r\n\r\n").complete


def test_a_chunk_size_that_is_not_hex_is_left_to_gunicorn() -> None:
    reader = fed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert reader.complete  # gunicorn refuses it without waiting for more


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  # both: request smuggling shape
        b"Transfer-Encoding: gzip\r\n",  # no final chunked
        b"Transfer-Encoding: chunked, chunked\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Content-Length: +5\r\n",
        b"Content-Length: \xd9\xa5\r\n",  # a non-ASCII digit
    ],
)
def test_framing_gunicorn_refuses_is_not_waited_on(framing: bytes) -> None:
    reader = fed(b"POST / HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n")
    assert reader.complete


def test_limits_refuse_without_reading_further() -> None:
    with pytest.raises(Refused) as line:
        fed(b"GET /" + b"a" * 200)
    assert line.value.status == 414
    with pytest.raises(Refused) as head:
        fed(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 200)
    assert head.value.status == 431
    with pytest.raises(Refused) as body:
        fed(b"POST / HTTP/1.1\r\nContent-Length: 5001\r\n\r\n")
    assert body.value.status == 413
    with pytest.raises(Refused) as chunked:
        fed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"1389\r\n")  # 5001
    assert chunked.value.status == 413
    with pytest.raises(Refused) as chunk_line:
        fed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"1" * 5000)
    assert chunk_line.value.status == 400


def test_a_body_at_the_limit_is_accepted() -> None:
    reader = fed(b"POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", b"x" * 5000)
    assert reader.complete


def test_expect_continue_is_wanted_only_while_a_body_is_due() -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    reader = fed(head)
    assert reader.wants_continue
    reader.feed(b"abc")
    assert reader.complete and not reader.wants_continue
    assert not fed(head + b"abc").wants_continue
    assert not fed(head.replace(b"HTTP/1.1", b"HTTP/1.0")).wants_continue  # HTTP/1.0 ignores it
    assert not fed(head.replace(b"Content-Length: 3", b"Content-Length: 0")).wants_continue


def test_cost_is_linear_in_the_bytes_fed() -> None:
    """A head fed one byte at a time: every search resumes where the last one stopped."""
    reader = RequestReader(ReaderLimits(max_request_line=8190, max_head=200_000, max_body=0))
    inspected = 0

    class Counting(bytearray):
        def find(self, sub: bytes, start: int = 0, *rest: int) -> int:  # type: ignore[override]
            nonlocal inspected
            inspected += len(self) - start
            return super().find(sub, start, *rest)

    reader._data = Counting()
    pieces = [b"GET / HTTP/1.1\r\n", *([b"x"] * 5000)]
    for piece in pieces:
        reader.feed(piece)
    fed_bytes = sum(map(len, pieces))
    assert not reader.complete
    assert inspected <= 8 * fed_bytes  # quadratic rescanning would inspect about 12.5 million
    reader.feed(b"\r\n\r\n")
    assert reader.complete
