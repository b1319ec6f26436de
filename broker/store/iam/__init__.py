"""IAM persistence: the queries and writes the IAM use cases (and sign-in, STS, set-up) call.

- :mod:`.rows`: adding, saving and deleting rows; a constraint that refuses a write is a result, not an exception.
- :mod:`.accounts`, :mod:`.principals` (users, groups, roles), :mod:`.policies` (managed policies and
  their attachments), :mod:`.providers` (SAML providers), :mod:`.credentials` (access keys, MFA devices).
"""
