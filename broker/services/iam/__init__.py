"""IAM administration use cases, one module per kind of entity.

Each function takes the caller's transaction (``Tx``, one per API call) and passes it to the
store (:mod:`broker.store.iam`); it never queries or writes through it itself. It takes the
account the call acts in and validated or raw parameters, and raises :class:`AwsError` with the
code and message AWS uses. Authorization is the caller's job (``Call.authorize``) and happens
before these run.

What the IAM API returns is built here too: :mod:`.views` renders entities in AWS's shapes,
listings come as :class:`~broker.services.iam.paging.Entry` items (a value and its sort key) for
the handlers to page. What several kinds of entity do alike is written once: :mod:`._kinds`
(create, rename, delete), :mod:`.principals` (inline and managed policies, permissions
boundaries by kind and name), :mod:`.tagging`, and :mod:`.resources` (what authorization sees of
the entity an action names).
"""
