"""AWS Organizations on the JSON protocol (``X-Amz-Target: AWSOrganizationsV20161128.*``).

Each handler checks the ids it is given, asks the policy engine for ``organizations:<Action>`` on
AWS's resource for that action (:meth:`request.Request.authorize`), then calls a use case of
:mod:`broker.services.orgs` and renders the plain values it returns (:mod:`.views`). Shapes and
errors are botocore's Organizations model. Importing this package registers every action.
"""

from broker.services.api.organizations import accounts, handshakes, organization, policies, tags, tree

__all__ = ["accounts", "handshakes", "organization", "policies", "tags", "tree"]
