"""The IAM policy language: parse, validate and evaluate, as separate pure steps.

Standard library only. Typical use::

    policy = parse_policy(text, PolicyKind.MANAGED, policy_id=arn)  # cached
    decision = evaluate(Request(principal, "s3:GetObject", arn, context), PolicySet(identity=(policy,)))
    if not decision.allowed: ...  # decision.reasons says why
"""

from broker.policy._json import policy_size
from broker.policy.conditions import OPERATORS, Condition
from broker.policy.document import (
    VERSION_2008,
    VERSION_2012,
    PolicyDocument,
    StatementDocument,
    StatementEffect,
    read_document,
    validate_document,
)
from broker.policy.errors import InvalidPolicyJson, MalformedPolicyDocument, PolicyTooLarge
from broker.policy.evaluate import Decision, Effect, MatchedStatement, PolicySet, PolicyType, evaluate
from broker.policy.kinds import PolicyKind
from broker.policy.policy import CompiledStatement, Policy, compile_policy, parse_policy
from broker.policy.principals import Grant, Principal
from broker.policy.request import ContextScalar, ContextValue, Request

__all__ = [
    "OPERATORS",
    "VERSION_2008",
    "VERSION_2012",
    "CompiledStatement",
    "Condition",
    "ContextScalar",
    "ContextValue",
    "Decision",
    "Effect",
    "Grant",
    "InvalidPolicyJson",
    "MalformedPolicyDocument",
    "MatchedStatement",
    "Policy",
    "PolicyDocument",
    "PolicyKind",
    "PolicySet",
    "PolicyTooLarge",
    "PolicyType",
    "Principal",
    "Request",
    "StatementDocument",
    "StatementEffect",
    "compile_policy",
    "evaluate",
    "parse_policy",
    "policy_size",
    "read_document",
    "validate_document",
]
