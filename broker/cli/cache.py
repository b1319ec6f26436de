"""The credentials cache: one file per profile and one per broker session, readable by the user only.

    ~/.cache/broker/            0700
        credentials/NAME.json   0600  the profile's temporary credentials
        sessions/HASH.json      0600  the refresh handle of a broker (HASH of its URL)

Files are written to a temporary file created 0600 and renamed over the old one, so a reader
never sees half a file and the secret is never readable by others, not even for a moment. A
file another user could read is refused, as ssh refuses a private key with loose permissions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from broker.cli import paths
from broker.cli.errors import BrokerError
from broker.iam.timestamps import aws_timestamp

_POSIX = sys.platform != "win32"


def parse_time(text: str) -> dt.datetime:
    if not isinstance(text, str):  # a JSON document's null or number: damaged, not a moment
        raise TypeError(f"not an ISO 8601 time: {text!r}")
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def iso(moment: dt.datetime) -> str:
    return aws_timestamp(moment)


@dataclass(frozen=True)
class _CacheRecord:
    """A cached dataclass as JSON: its one moment (``_MOMENT``) as an ISO 8601 string."""

    _MOMENT: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record[self._MOMENT] = iso(record[self._MOMENT])
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Self:
        """The record as written by ``to_json``; TypeError, KeyError or ValueError for anything else
        (every other field is a string: a damaged one would fail later, far from the cache)."""
        strings = {name: value for name, value in record.items() if name != cls._MOMENT}
        if not all(isinstance(value, str) for value in strings.values()):
            raise TypeError(f"a damaged {cls.__name__} record")
        return cls(**strings, **{cls._MOMENT: parse_time(record[cls._MOMENT])})


# What an AWS SDK's credential_process prints (Version 1 JSON): each AWS name and its field.
_CREDENTIAL_PROCESS_FIELDS = {
    "AccessKeyId": "access_key_id",
    "SecretAccessKey": "secret_access_key",
    "SessionToken": "session_token",
    "Expiration": "expiration",
}


@dataclass(frozen=True)
class Credentials(_CacheRecord):
    _MOMENT = "expiration"

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime
    role_arn: str
    assumed_role_arn: str
    account_id: str
    region: str
    url: str

    @classmethod
    def from_token_response(cls, body: dict[str, Any], url: str) -> Credentials:
        try:
            return cls(
                access_key_id=str(body["AccessKeyId"]),
                secret_access_key=str(body["SecretAccessKey"]),
                session_token=str(body["SessionToken"]),
                expiration=parse_time(str(body["Expiration"])),
                role_arn=str(body.get("RoleArn", "")),
                assumed_role_arn=str(body.get("AssumedRoleArn", "")),
                account_id=str(body.get("AccountId", "")),
                region=str(body.get("Region") or "us-east-1"),
                url=url,
            )
        except (KeyError, ValueError):
            raise BrokerError(f"the broker at {url} sent a credentials document this CLI cannot read") from None

    def credential_process_json(self) -> dict[str, Any]:
        record = self.to_json()
        return {"Version": 1, **{name: record[field] for name, field in _CREDENTIAL_PROCESS_FIELDS.items()}}

    def remaining(self, now: dt.datetime) -> dt.timedelta:
        return self.expiration - now


@dataclass(frozen=True)
class BrokerSession(_CacheRecord):
    """The CLI's hold on a broker sign-in: the refresh handle and when it ends."""

    _MOMENT = "expires_at"

    url: str
    refresh_token: str
    expires_at: dt.datetime
    subject: str
    provider_arn: str

    @classmethod
    def from_token_response(cls, body: dict[str, Any], url: str) -> BrokerSession | None:
        """The broker session a code or device grant opens; None for a refresh, which opens none."""
        if not body.get("refresh_token"):
            return None
        try:
            return cls(
                url=url,
                refresh_token=str(body["refresh_token"]),
                expires_at=parse_time(body["refresh_token_expires_at"]),
                subject=str(body.get("Subject", "")),
                provider_arn=str(body.get("ProviderArn", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise BrokerError(
                f"the broker at {url} sent a sign-in this CLI cannot read (refresh_token_expires_at missing or "
                "not an ISO 8601 time); nothing was stored"
            ) from None


def read_token_response(body: dict[str, Any], url: str) -> tuple[Credentials, BrokerSession | None]:
    """The credentials and broker session of a /cli/token answer, both checked before either is
    stored, so a malformed answer is one line and leaves nothing half-written."""
    return Credentials.from_token_response(body, url), BrokerSession.from_token_response(body, url)


# --- files ----------------------------------------------------------------------------------------


def _private_dir(directory: Path) -> Path:
    for level in dict.fromkeys((paths.cache_dir(), directory)):
        level.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkdir's mode is masked by the umask and ignored for a directory that already exists.
        if _POSIX and stat.S_IMODE(level.stat().st_mode) & 0o077:
            level.chmod(0o700)
    return directory


def write_private(path: Path, document: dict[str, Any]) -> None:
    """Write JSON readable and writable by the owner only, atomically.

    A cache the CLI cannot write (owned by root after a `sudo broker login`, a read-only or full
    home) is one line naming the file.
    """
    try:
        _private_dir(path.parent)
        paths.replace_file(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), 0o600, follow=False)
    except OSError as exc:
        raise BrokerError(f"cannot write {path}: {exc.strerror or exc}") from None


def read_private(path: Path) -> dict[str, Any] | None:
    """The JSON in ``path``, None if there is none; refuses a file others could read."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if _POSIX:
        if not stat.S_ISREG(info.st_mode):
            raise BrokerError(f"{path} is not a regular file; remove it and run `broker login`")
        if info.st_uid != os.getuid():
            raise BrokerError(f"{path} belongs to another user; remove it and run `broker login`")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise BrokerError(
                f"{path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}); its credentials may "
                "have leaked: remove it and run `broker login`"
            )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged cache entry is as good as none
    return document if isinstance(document, dict) else None


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def credentials_path(profile: str) -> Path:
    return paths.cache_dir() / "credentials" / f"{profile}.json"


def session_path(url: str) -> Path:
    return paths.cache_dir() / "sessions" / f"{hashlib.sha256(url.encode()).hexdigest()[:32]}.json"


def read_credentials(profile: str) -> Credentials | None:
    record = read_private(credentials_path(profile))
    try:
        return Credentials.from_json(record) if record else None
    except (KeyError, TypeError, ValueError):
        return None


def write_credentials(profile: str, credentials: Credentials) -> None:
    write_private(credentials_path(profile), credentials.to_json())


def delete_credentials(profile: str) -> bool:
    return _remove(credentials_path(profile))


def read_session(url: str) -> BrokerSession | None:
    record = read_private(session_path(url))
    try:
        session = BrokerSession.from_json(record) if record else None
    except (KeyError, TypeError, ValueError):
        return None
    return session if session is not None and session.url == url else None


def write_session(session: BrokerSession) -> None:
    write_private(session_path(session.url), session.to_json())


def delete_session(url: str) -> bool:
    return _remove(session_path(url))
