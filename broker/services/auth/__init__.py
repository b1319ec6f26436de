"""Who is calling the AWS-compatible endpoint (SigV4), and may they do this (policy engine).

- :mod:`.authentication`: a SigV4 signature or a session token -> :class:`Caller` (refused when
  the caller's account is closed);
- :mod:`.policies`: the policies that apply to the caller (identity, boundary, session, SCPs);
- :mod:`.context`: the condition keys AWS derives from the request and the principal;
- :mod:`.authorization`: the engine's decision and AccessDenied in AWS's words, whose reason
  :mod:`.reasons` reads from the decision's data.
"""

from broker.services.auth.authentication import (
    AccountClosed,
    Bookkeeping,
    HttpRequest,
    authenticate,
    authenticate_signed,
    caller_for_claims,
    caller_for_token,
    refuse_closed_account,
    session_claims,
    sigv4_error,
    write_bookkeeping,
)
from broker.services.auth.authorization import CallerDecision, access_denied, authorize, credential_limit, decide
from broker.services.auth.caller import AuthorizationMessages, Caller, caller_user, principal_tags
from broker.services.auth.context import request_context, with_resource_keys
from broker.services.auth.policies import ApplicablePolicies, applicable_policies, organization_context
from broker.services.auth.reasons import missing_allow, why_denied

__all__ = [
    "AccountClosed",
    "ApplicablePolicies",
    "AuthorizationMessages",
    "Bookkeeping",
    "Caller",
    "CallerDecision",
    "HttpRequest",
    "access_denied",
    "applicable_policies",
    "authenticate",
    "authenticate_signed",
    "authorize",
    "caller_for_claims",
    "caller_for_token",
    "caller_user",
    "credential_limit",
    "decide",
    "missing_allow",
    "organization_context",
    "principal_tags",
    "refuse_closed_account",
    "request_context",
    "session_claims",
    "sigv4_error",
    "why_denied",
    "with_resource_keys",
    "write_bookkeeping",
]
