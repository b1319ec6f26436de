"""The digests' own checks: signatures, and each digest continuing the one before it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from broker.crypto.keys import AuditKeyRing
from broker.services.audit.digests import SignedDigest, digest_time, document_hash
from broker.services.audit.verify.report import Finding, Report, span
from broker.store import Tx
from broker.store.audit.digests import digests as stored_digests


@dataclass(frozen=True)
class CheckedDigest:
    """A stored digest, its signed document, and whether the signature verifies."""

    index: int
    signed: SignedDigest
    trusted: bool

    def field(self, name: str) -> Any:
        return self.signed.fields.get(name)


def check_digests(tx: Tx, keys: AuditKeyRing, report: Report) -> list[CheckedDigest]:
    digests: list[CheckedDigest] = []
    for row in stored_digests(tx):
        signed = SignedDigest.from_row(row)
        trusted = signed.signature_valid(keys)
        if not trusted:
            report.findings.append(
                Finding("digest", f"digest #{row.digest_index}: the signature does not verify (altered or forged)")
            )
        elif (
            signed.fields.get("digestIndex") != row.digest_index
            or signed.fields.get("firstEventIndex") != row.first_index
            or signed.fields.get("lastEventIndex") != row.last_index
            or signed.fields.get("digestEndTime") != digest_time(row.end_time)
        ):
            report.findings.append(
                Finding("digest", f"digest #{row.digest_index}: its columns differ from its signed document")
            )
        digests.append(CheckedDigest(row.digest_index, signed, trusted))
    report.digests_checked = len(digests)
    for previous, current in itertools.pairwise(digests):
        if current.index != previous.index + 1:
            report.findings.append(
                Finding("digest", f"digests {span(previous.index + 1, current.index - 1)} were deleted")
            )
            continue
        if current.field("previousDigestSignature") != previous.signed.signature or current.field(
            "previousDigestHashValue"
        ) != document_hash(previous.signed.document):
            report.findings.append(
                Finding(
                    "digest",
                    f"digest #{current.index} does not chain to digest #{previous.index} "
                    "(previous signature or document hash differs)",
                )
            )
        previous_last = previous.field("lastEventIndex")
        # A document missing the field (an untrusted digest) cannot continue anything.
        expected_first = previous_last + 1 if isinstance(previous_last, int) else None
        if current.field("firstEventIndex") != expected_first or current.field("previousEventHash") != previous.field(
            "lastEventHash"
        ):
            report.findings.append(
                Finding("digest", f"digest #{current.index} does not continue where digest #{previous.index} ended")
            )
    return digests
