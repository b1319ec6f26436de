"""Export for a SIEM: CloudTrail-style gzip log files and digest files, one pair per digest.

Layout (as CloudTrail delivers to S3, under the chosen directory)::

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<n>.json.gz
    AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_broker_<region>_<YYYYMMDDTHHMMSSZ>.json.gz

A log file holds the records a digest covers, in chain order: ``{"Records": [...]}``
(``cloudtrail`` format) or one record per line (``jsonl``). Its digest file holds the signed
digest document verbatim, its signature and the log file's SHA-256. Anyone with the public
keys (``/.well-known/audit-keys.json``) can check a copy: the signature, the digest chain, and
the records, whose chained hashes must end at the digest's ``lastEventHash``
(:func:`verify_export`). Files are deterministic, so exporting again rewrites them unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from broker.crypto.keys import audit_public_key_from_jwk, okp_thumbprint
from broker.services.audit.chain import chain_hash
from broker.services.audit.digests import SignedDigest
from broker.store import Tx
from broker.store.audit.digests import digests
from broker.store.audit.events import records_between

ExportFormat = Literal["cloudtrail", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("cloudtrail", "jsonl")


@dataclass
class ExportResult:
    log_files: list[Path] = field(default_factory=list)
    digest_files: list[Path] = field(default_factory=list)
    events: int = 0


def _gzip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as stream:
        stream.write(data)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)


def export_trail(
    tx: Tx,
    directory: Path,
    *,
    since: dt.datetime | None,
    export_format: ExportFormat = "cloudtrail",
) -> ExportResult:
    """Write a log file and a digest file for every digest that ends at or after ``since``."""
    result = ExportResult()
    for row in digests(tx, ending_since=since):
        digest = SignedDigest.from_row(row)
        fields = digest.fields
        account = str(fields.get("awsAccountId", "000000000000"))
        region = str(fields.get("awsRegion", "us-east-1"))
        end = row.end_time.astimezone(dt.UTC)
        day = f"{end:%Y}/{end:%m}/{end:%d}"
        log_files: list[dict[str, Any]] = []
        records = (
            list(records_between(tx, row.first_index, row.last_index)) if row.last_index >= row.first_index else []
        )
        if records:
            if export_format == "jsonl":
                payload = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records).encode()
                suffix = "jsonl.gz"
            else:
                payload = json.dumps({"Records": records}, separators=(",", ":")).encode()
                suffix = "json.gz"
            data = _gzip(payload)
            name = f"{account}_CloudTrail_{region}_{end:%Y%m%dT%H%MZ}_{row.digest_index:08d}.{suffix}"
            relative = f"AWSLogs/{account}/CloudTrail/{region}/{day}/{name}"
            _write(directory / relative, data)
            result.log_files.append(directory / relative)
            result.events += len(records)
            log_files.append(
                {
                    "object": relative,
                    "format": export_format,
                    "hashValue": hashlib.sha256(data).hexdigest(),
                    "hashAlgorithm": "SHA-256",
                    "eventCount": len(records),
                    "oldestEventTime": fields.get("oldestEventTime"),
                    "newestEventTime": fields.get("newestEventTime"),
                }
            )
        digest_file = {
            "digestIndex": row.digest_index,
            "digest": fields,
            "digestDocument": digest.document,
            "digestSignature": digest.signature,
            "logFiles": log_files,
            # False for the digest a purge kept as the trail's anchor: its events are gone.
            "eventsAvailable": bool(records) or not fields.get("eventCount"),
        }
        name = (
            f"{account}_CloudTrail-Digest_{region}_broker_{region}_{end:%Y%m%dT%H%M%SZ}_{row.digest_index:08d}.json.gz"
        )
        relative = f"AWSLogs/{account}/CloudTrail-Digest/{region}/{day}/{name}"
        _write(directory / relative, _gzip(json.dumps(digest_file, separators=(",", ":")).encode()))
        result.digest_files.append(directory / relative)
    return result


# --- checking an exported copy -------------------------------------------------------------------


@dataclass
class ExportCheck:
    problems: list[str] = field(default_factory=list)
    digests: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_records(path: Path, export_format: str) -> list[dict[str, Any]]:
    text = gzip.decompress(path.read_bytes()).decode("utf-8")
    if export_format == "jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    records = json.loads(text)["Records"]
    return list(records)


def _index_of(fields: Mapping[str, Any]) -> int:
    value = fields.get("digestIndex")
    return value if isinstance(value, int) else 0


def verify_export(directory: Path, jwks: Mapping[str, Any]) -> ExportCheck:
    """Check exported files with only the public keys: signatures, digest chain, records."""
    keys: dict[str, ed25519.Ed25519PublicKey] = {}
    for jwk in jwks.get("keys", []):
        try:
            key = audit_public_key_from_jwk(jwk)
        except ValueError:
            continue
        keys[okp_thumbprint(key)] = key
    check = ExportCheck()
    digests = []
    for path in sorted(directory.glob("AWSLogs/*/CloudTrail-Digest/**/*.json.gz")):
        try:
            digests.append((path, json.loads(gzip.decompress(path.read_bytes()))))
        except (OSError, ValueError):
            check.problems.append(f"{path}: not a gzip JSON digest file")
    digests.sort(key=lambda item: _index_of(item[1]))
    previous: dict[str, Any] | None = None
    for path, content in digests:
        check.digests += 1
        oldest = previous is None
        document = str(content.get("digestDocument", ""))
        try:
            fields = json.loads(document) if document else {}
        except (ValueError, RecursionError):
            fields = None
        if not isinstance(fields, dict):
            check.problems.append(f"{path.name}: its digest document is not a JSON object")
            continue
        signer = keys.get(str(fields.get("digestPublicKeyFingerprint")))
        try:
            if signer is None:
                raise InvalidSignature
            signer.verify(base64.b64decode(str(content.get("digestSignature", ""))), document.encode("utf-8"))
        except (InvalidSignature, ValueError):
            check.problems.append(f"{path.name}: the digest signature does not verify")
            continue
        if previous is not None and fields.get("digestIndex") == _index_of(previous["fields"]) + 1:
            if fields.get("previousDigestSignature") != previous["signature"]:
                check.problems.append(f"{path.name}: does not chain to the previous digest")
            if fields.get("previousEventHash") != previous["fields"].get("lastEventHash"):
                check.problems.append(f"{path.name}: does not continue where the previous digest ended")
        elif previous is not None:
            check.problems.append(f"{path.name}: digests before #{fields.get('digestIndex')} are missing")
        previous = {"fields": fields, "signature": content.get("digestSignature")}
        running = str(fields.get("previousEventHash"))
        count = 0
        for entry in content.get("logFiles", []):
            log_path = directory / str(entry.get("object"))
            if not log_path.is_file():
                check.problems.append(f"{entry.get('object')}: missing")
                continue
            if hashlib.sha256(log_path.read_bytes()).hexdigest() != entry.get("hashValue"):
                check.problems.append(f"{entry.get('object')}: its SHA-256 differs from the digest file's")
            try:
                for record in _read_records(log_path, str(entry.get("format", "cloudtrail"))):
                    running = chain_hash(running, record)
                    count += 1
            except (OSError, ValueError, TypeError, KeyError, RecursionError):
                check.problems.append(f"{entry.get('object')}: not a log file of CloudTrail records")
        check.events += count
        if not content.get("eventsAvailable", True):
            # Unsigned, so believed only where a purge puts it: the oldest digest of the copy (the
            # anchor, whose events are gone). Anywhere else it would excuse edited or missing records.
            if oldest:
                continue
            check.problems.append(
                f"{path.name}: says its events are unavailable, which only the oldest digest of a copy may"
            )
        if count != fields.get("eventCount") or running != fields.get("lastEventHash"):
            check.problems.append(
                f"{path.name}: the records do not hash to the signed lastEventHash "
                f"({count} of {fields.get('eventCount')} events): modified, missing, added or reordered"
            )
    return check
