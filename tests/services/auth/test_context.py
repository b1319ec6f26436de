"""Global condition keys the broker puts in every authorization context."""

from __future__ import annotations

import datetime as dt

from broker.crypto.tokens import SessionClaims
from broker.services.auth.caller import Caller
from broker.services.auth.context import request_context

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def session_claims(**overrides: object) -> SessionClaims:
    values: dict[str, object] = dict(
        token_id="t",
        access_key_id="ASIAEXAMPLEEXAMPLE12",
        account_id="123456789012",
        role_arn="arn:aws:iam::123456789012:role/Dev",
        role_name="Dev",
        role_id="AROAEXAMPLEEXAMPLE123",
        session_name="alice",
        assumed_role_arn="arn:aws:sts::123456789012:assumed-role/Dev/alice",
        issued_at=int(NOW.timestamp()) - 600,
        expires_at=int(NOW.timestamp()) + 3000,
        provider_arn="arn:aws:iam::123456789012:saml-provider/okta",
        source_identity="alice",
        federated={"saml:sub": "alice@example.org", "saml:iss": "https://idp.example"},
    )
    values.update(overrides)
    return SessionClaims(**values)  # type: ignore[arg-type]


def test_user_context() -> None:
    caller = Caller(
        kind="user",
        arn="arn:aws:iam::123456789012:user/ops/bob",
        account_id="123456789012",
        user_id="AIDAEXAMPLEEXAMPLE123",
        access_key_id="AKIAEXAMPLEEXAMPLE12",
        user_name="bob",
        tags={"team": "blue"},
    )
    context = request_context(caller, "198.51.100.7", NOW, secure=True)
    assert context["aws:PrincipalArn"] == "arn:aws:iam::123456789012:user/ops/bob"
    assert context["aws:username"] == "bob"
    assert context["aws:userid"] == "AIDAEXAMPLEEXAMPLE123"
    assert context["aws:PrincipalTag/team"] == "blue"
    assert context["aws:SourceIp"] == "198.51.100.7"
    assert context["aws:SecureTransport"] == "true"
    assert context["aws:CurrentTime"] == "2026-11-29T12:00:00Z"
    assert context["aws:EpochTime"] == str(int(NOW.timestamp()))
    # long-term keys carry no MFA key at all, so BoolIfExists behaves as in AWS
    assert "aws:MultiFactorAuthPresent" not in context
    assert "aws:TokenIssueTime" not in context


def test_saml_session_context() -> None:
    claims = session_claims(mfa=True, session_tags={"team": "red"})
    caller = Caller(
        kind="session",
        arn=claims.assumed_role_arn,
        account_id="123456789012",
        user_id=claims.user_id,
        access_key_id=claims.access_key_id,
        claims=claims,
        tags={"team": "red"},
    )
    context = request_context(caller, None, NOW, secure=False)
    assert context["aws:PrincipalArn"] == "arn:aws:iam::123456789012:role/Dev"  # the role, not the session
    assert context["aws:userid"] == "AROAEXAMPLEEXAMPLE123:alice"
    assert context["aws:FederatedProvider"] == "arn:aws:iam::123456789012:saml-provider/okta"
    assert context["aws:SourceIdentity"] == "alice"
    assert context["aws:MultiFactorAuthPresent"] == "true"
    assert context["aws:MultiFactorAuthAge"] == "600"
    assert context["aws:TokenIssueTime"] == "2026-11-29T11:50:00Z"
    assert context["saml:sub"] == "alice@example.org"
    assert "aws:username" not in context
    assert "aws:SourceIp" not in context


def test_session_without_mfa_has_no_mfa_age() -> None:
    claims = session_claims()
    caller = Caller(
        kind="session",
        arn=claims.assumed_role_arn,
        account_id="123456789012",
        user_id=claims.user_id,
        access_key_id=claims.access_key_id,
        claims=claims,
    )
    context = request_context(caller, None, NOW, secure=True)
    assert context["aws:MultiFactorAuthPresent"] == "false"
    assert "aws:MultiFactorAuthAge" not in context
