"""The canonical request and string-to-sign, as botocore's ``SigV4Auth`` builds them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from broker.crypto.sigv4._model import ALGORITHM, LENIENT, QUERY_SIGNATURE, UNSIGNED_PAYLOAD, SigV4Error

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_UNRESERVED: Final = "-_.~"  # RFC 3986 unreserved marks: the characters SigV4 never encodes


def decode(raw: str) -> bytes:
    """One percent-encoded query key or value, as bytes."""
    # Form-style decoding: botocore sends query params of header-signed requests through
    # urlencode (space as "+") but signs them with "%20"; a literal "+" arrives as "%2B".
    return unquote_to_bytes(raw.replace("+", " ").encode("utf-8", LENIENT))


def canonical_request(
    method: str,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    folded_headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
    *,
    presigned: bool,
    payload_hash: str | None = None,
) -> str:
    """The canonical request; ``path`` and ``query_pairs`` still percent-encoded as sent.

    ``payload_hash`` replaces the hash of ``body`` (for :func:`presigned_payload_hashes`)."""
    return "\n".join(
        (
            method.upper(),
            _canonical_uri(path),
            _canonical_query(query_pairs, exclude_signature=presigned),
            _canonical_headers(signed_headers, folded_headers) + "\n",
            ";".join(signed_headers),
            payload_hash if payload_hash is not None else _payload_hash(folded_headers, body, presigned=presigned),
        )
    )


def presigned_payload_hashes(folded: Mapping[str, str], body: bytes) -> tuple[str, ...]:
    """The payload hashes a presigned request may have been signed with, likeliest first.

    A presigner cannot know the payload, so AWS accepts the literal ``UNSIGNED-PAYLOAD`` in
    place of its hash (S3-style presigners and several generic signers use it; botocore hashes
    the empty body). Only a request with no body may be signed either way: a body the signature
    does not cover would be parameters nobody signed.
    """
    claimed = folded.get("x-amz-content-sha256")
    if body or claimed is not None:
        return (_payload_hash(folded, body, presigned=True),)
    return (_EMPTY_SHA256, UNSIGNED_PAYLOAD)


def string_to_sign(amz_date_text: str, credential_scope: str, canonical: str) -> str:
    return "\n".join(
        (
            ALGORITHM,
            amz_date_text,
            credential_scope,
            hashlib.sha256(canonical.encode("utf-8", LENIENT)).hexdigest(),
        )
    )


def _canonical_uri(path: str) -> str:
    # Non-S3 services: remove dot segments and empty segments, then percent-encode the
    # (already encoded) path once more, which is botocore's "double encoding".
    return quote(_normalize_path(path), safe="/~", errors=LENIENT)


def _normalize_path(path: str) -> str:
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and kept else ""
    return first + "/".join(kept) + last


def _canonical_query(pairs: Sequence[tuple[str, str]], *, exclude_signature: bool) -> str:
    encoded: list[tuple[str, str]] = []
    for raw_key, raw_value in pairs:
        key = quote_from_bytes(decode(raw_key), safe=_UNRESERVED)
        if exclude_signature and key == QUERY_SIGNATURE:
            continue
        encoded.append((key, quote_from_bytes(decode(raw_value), safe=_UNRESERVED)))
    return "&".join(f"{key}={value}" for key, value in sorted(encoded))


def _canonical_headers(signed_headers: tuple[str, ...], folded: Mapping[str, str]) -> str:
    # A signed header missing from the request canonicalizes as empty, so the signature
    # fails with a hint that shows it, as AWS does.
    return "\n".join(f"{name}:{' '.join(folded.get(name, '').split())}" for name in signed_headers)


def _payload_hash(folded: Mapping[str, str], body: bytes, *, presigned: bool) -> str:
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = folded.get("x-amz-content-sha256")
    if claimed is None:
        return body_hash
    if presigned and claimed == UNSIGNED_PAYLOAD and not body:
        return claimed  # nothing left unsigned: the presigned request has no body
    # botocore signs the header's value instead of hashing the body; accept it only when
    # it is the body's hash, so the body stays covered by the signature (no UNSIGNED-PAYLOAD
    # in a header-signed request, nor in a presigned one that carries a body).
    if _HEX_SHA256.fullmatch(claimed) is None or claimed.lower() != body_hash:
        raise SigV4Error(
            "SignatureDoesNotMatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return claimed
