"""IAM administration use cases, one module per kind of entity.

Each function takes the caller's SQLAlchemy ``Session`` (one transaction per API call), the
account the call acts in, and validated or raw parameters; it returns store models (the web
layer renders them with :mod:`broker.services.iam.views`) or raises :class:`AwsError` with the
code and message AWS uses. Authorization is the caller's job (``Call.authorize``) and happens
before these run.
"""
