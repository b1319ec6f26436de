"""IAM persistence: the queries and writes the IAM use cases (and sign-in, STS, set-up) call.

Every function takes plain values (names, unique ids, ARNs) and returns the entities of
:mod:`broker.iam.entities` (or a record defined next to the query), never a row.

- :mod:`.rows`: writing in a savepoint; a constraint that refuses a write is a result, not an exception.
- :mod:`.values`: rows as entities.
- :mod:`.named`: users, groups, roles and managed policies by name, unique id or ARN; group membership.
- :mod:`.owned`: a principal's inline policies and attached managed policies.
- :mod:`.attributes`: tags and permissions boundaries of every kind that has them.
- :mod:`.accounts`, :mod:`.policies` (versions, usage), :mod:`.providers` (SAML providers),
  :mod:`.credentials` (access keys, MFA devices), :mod:`.principals` (what authorization reads),
  :mod:`.details` (GetAccountAuthorizationDetails).
- :mod:`.quota_owners`: the row lock that makes a quota's count and the insert after it one step.
"""
