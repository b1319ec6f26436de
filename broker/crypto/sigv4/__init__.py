"""AWS Signature Version 4 verification (Authorization header and presigned query string).

Two pure steps: :func:`parse_signed_request` reads a request into a :class:`SignedRequest`
(credential scope, signed headers, the canonical request and string-to-sign as the client
must have built them), rejecting malformed or unsigned requests; :func:`verify_signature`
checks the time window and the HMAC once the caller has found the secret for
``access_key_id``. Canonicalization follows botocore's ``SigV4Auth``/``SigV4QueryAuth``
byte for byte, since boto3 and the AWS CLI are the clients that matter.

Errors are :class:`SigV4Error` with AWS's codes and messages, ready for the web layer to
render. No secret (secret key, session token) is put in any message.

Inside: ``_model`` (the parsed request and its error), ``_parse`` (the Authorization header
or presigned query), ``_canonical`` (canonical request and string-to-sign), ``_verify``
(time window, signing key, HMAC), ``_sign`` (the same steps for the broker's own clients).
"""

from __future__ import annotations

from broker.crypto.sigv4._model import (
    ALGORITHM,
    DEFAULT_MAX_SKEW,
    MAX_PRESIGNED_EXPIRES,
    SUPPORTED_SERVICES,
    SignedRequest,
    SigV4Error,
)
from broker.crypto.sigv4._parse import parse_signed_request
from broker.crypto.sigv4._sign import authorization_header
from broker.crypto.sigv4._verify import derive_signing_key, verify_signature

__all__ = [
    "ALGORITHM",
    "DEFAULT_MAX_SKEW",
    "MAX_PRESIGNED_EXPIRES",
    "SUPPORTED_SERVICES",
    "SigV4Error",
    "SignedRequest",
    "authorization_header",
    "derive_signing_key",
    "parse_signed_request",
    "verify_signature",
]
