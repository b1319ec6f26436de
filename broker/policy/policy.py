"""Compiled policies: statements with precompiled matchers, indexed by action.

A :class:`Policy` is built once per document text (``parse_policy`` caches it)
and then evaluated many times. Statements are indexed by action name so that
evaluating a request only looks at statements whose Action could match, and
the per-action candidate list is memoised on the policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from broker.policy._json import policy_size
from broker.policy._wildcard import Matcher, compile_any, compile_pieces, has_wildcard
from broker.policy.conditions import Condition
from broker.policy.document import PolicyDocument, StatementDocument, StatementEffect, read_document
from broker.policy.kinds import PolicyKind
from broker.policy.principals import Grant, Principal, PrincipalSpec
from broker.policy.variables import Context, Template

__all__ = ["CompiledStatement", "Policy", "compile_policy", "parse_policy", "policy_size"]

# Distinct actions remembered per policy; a real account uses a few hundred.
_ACTION_CACHE_SIZE = 4096

_RESOLVED_CACHE_SIZE = 1024


def _any_of(matchers: list[Matcher]) -> Matcher:
    return lambda value: any(match(value) for match in matchers)


# (resource, context, missing-keys sink) -> does the Resource/NotResource element match?
ResourceTest = Callable[[str, Context, list[str]], bool]


def _static_matcher(templates: tuple[Template, ...]) -> Matcher:
    if all(len(template.pieces) == 1 for template in templates):
        return compile_any(template.source for template in templates)
    matchers = [compile_pieces(template.resolve({}) or ()) for template in templates]
    return lambda value: any(match(value) for match in matchers)


def _resource_test(templates: tuple[Template, ...] | None, negated: bool) -> ResourceTest | None:
    """The Resource/NotResource test, or None when every resource matches."""
    if templates is None:
        return None
    if not any(template.has_variables for template in templates):
        if not negated and any(template.source == "*" for template in templates):
            return None
        matcher = _static_matcher(templates)
        if negated:
            return lambda resource, _context, _missing: not matcher(resource)
        return lambda resource, _context, _missing: matcher(resource)

    # Compiled matchers by the values substituted into the templates: a role's
    # sessions keep resolving to the same few user names and tags.
    compiled: dict[tuple[tuple[str, ...], ...], Matcher] = {}

    def resolved_test(resource: str, context: Context, missing: list[str]) -> bool:
        key = []
        for template in templates:
            values = template.variable_values(context, missing)
            if values is None:
                # An unresolvable variable takes the statement out, for Resource
                # and NotResource alike.
                return False
            key.append(values)
        cache_key = tuple(key)
        matcher = compiled.get(cache_key)
        if matcher is None:
            matchers = [compile_pieces(t.fill(v)) for t, v in zip(templates, cache_key, strict=True)]
            matcher = matchers[0] if len(matchers) == 1 else _any_of(matchers)
            if len(compiled) >= _RESOLVED_CACHE_SIZE:
                compiled.clear()
            compiled[cache_key] = matcher
        return matcher(resource) != negated

    return resolved_test


@dataclass(frozen=True, slots=True, eq=False)
class CompiledStatement:
    """A statement ready for evaluation; ``document`` keeps the validated form."""

    document: StatementDocument
    index: int
    sid: str | None
    is_deny: bool
    action_test: Matcher
    # None when the statement applies to every resource (the common "Resource": "*").
    resource_test: ResourceTest | None
    principal: PrincipalSpec | None
    not_principal: bool
    conditions: tuple[Condition, ...]

    @property
    def effect(self) -> StatementEffect:
        return self.document.effect

    def grant_for(self, principal: Principal, has_boundary: bool) -> Grant | None:
        """How the Principal element names the caller (None: statement does not apply)."""
        spec = self.principal
        if spec is None:
            return Grant.DIRECT
        if self.not_principal:
            # AWS: a Deny with NotPrincipal never exempts a principal that has a permissions
            # boundary (documented on the NotPrincipal and permissions boundaries pages). That
            # quirk is the Deny's alone: an Allow never grants the principals it lists, boundary
            # or not.
            if spec.excludes(principal) and not (self.is_deny and has_boundary):
                return None
            return Grant.DIRECT
        return spec.grant_for(principal)

    def conditions_hold(self, context: Context, missing: list[str]) -> bool:
        # A plain loop: this runs for every candidate statement of every request.
        for condition in self.conditions:  # noqa: SIM110
            if not condition.holds(context, missing):
                return False
        return True


def _compile_statement(statement: StatementDocument) -> CompiledStatement:
    patterns = [action.lower() for action in statement.actions]
    matcher = compile_any(patterns)
    action_test: Matcher = (lambda action: not matcher(action)) if statement.not_action else matcher
    return CompiledStatement(
        document=statement,
        index=statement.index,
        sid=statement.sid,
        is_deny=statement.effect is StatementEffect.DENY,
        action_test=action_test,
        resource_test=_resource_test(statement.resources, statement.not_resource),
        principal=statement.principal,
        not_principal=statement.not_principal,
        conditions=statement.conditions,
    )


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """A parsed, validated and compiled policy. Immutable; equal by kind, id and text."""

    policy_id: str
    kind: PolicyKind
    document: PolicyDocument
    text: str
    statements: tuple[CompiledStatement, ...]
    # Statement positions by lower-case action name, for statements listing it literally.
    _by_action: dict[str, tuple[int, ...]] = field(repr=False)
    # ... by service prefix, for wildcard actions whose prefix is literal ("s3:Get*").
    _by_service: dict[str, tuple[int, ...]] = field(repr=False)
    # NotAction statements and patterns such as "*" or "s3*:*" that any action may hit.
    _unindexed: tuple[int, ...] = field(repr=False)
    _candidates: dict[str, tuple[CompiledStatement, ...]] = field(repr=False, default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (self.kind, self.policy_id, self.text) == (other.kind, other.policy_id, other.text)

    def __hash__(self) -> int:
        return hash((self.kind, self.policy_id, self.text))

    @property
    def size(self) -> int:
        return policy_size(self.text)

    def statements_for(self, action: str) -> tuple[CompiledStatement, ...]:
        """Statements whose Action/NotAction matches ``action`` (already lower-case)."""
        found = self._candidates.get(action)
        if found is not None:
            return found
        positions = set(self._unindexed)
        positions.update(self._by_action.get(action, ()))
        service = action.partition(":")[0]
        positions.update(self._by_service.get(service, ()))
        statements = self.statements
        found = tuple(
            statements[position] for position in sorted(positions) if statements[position].action_test(action)
        )
        if len(self._candidates) >= _ACTION_CACHE_SIZE:
            # Rare (only with thousands of distinct actions); a reset is cheap and bounded.
            self._candidates.clear()
        self._candidates[action] = found
        return found


def compile_policy(document: PolicyDocument, kind: PolicyKind, policy_id: str = "", text: str = "") -> Policy:
    statements = tuple(_compile_statement(statement) for statement in document.statements)
    by_action: dict[str, list[int]] = {}
    by_service: dict[str, list[int]] = {}
    unindexed: list[int] = []
    for position, statement in enumerate(document.statements):
        if statement.not_action:
            unindexed.append(position)
            continue
        for action in statement.actions:
            action = action.lower()
            service, _, _ = action.partition(":")
            if not has_wildcard(action):
                by_action.setdefault(action, []).append(position)
            elif service and not has_wildcard(service):
                by_service.setdefault(service, []).append(position)
            else:
                unindexed.append(position)
    return Policy(
        policy_id=policy_id,
        kind=kind,
        document=document,
        text=text,
        statements=statements,
        _by_action={action: tuple(sorted(set(found))) for action, found in by_action.items()},
        _by_service={service: tuple(sorted(set(found))) for service, found in by_service.items()},
        _unindexed=tuple(sorted(set(unindexed))),
    )


@lru_cache(maxsize=4096)
def parse_policy(text: str, kind: PolicyKind, policy_id: str = "") -> Policy:
    """Parse, validate and compile policy text.

    Raises MalformedPolicyDocument (or its subclass PolicyTooLarge). Results
    are cached by (text, kind, policy_id): a Policy is immutable, so callers
    that keep policies as text still pay the compilation only once.
    """
    return compile_policy(read_document(text, kind), kind, policy_id, text)
