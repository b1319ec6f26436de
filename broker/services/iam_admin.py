"""The IAM use cases other packages call (set-up, the demo, federation's tests).

The implementation lives in :mod:`broker.services.iam`, one module per kind of entity; this
module keeps the names the rest of the broker was written against.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from broker.services.iam._common import check_policy, decode_policy_parameter
from broker.services.iam.access_keys import create_access_key
from broker.services.iam.inline import put_inline_policy
from broker.services.iam.providers import create_saml_provider, get_saml_provider, update_saml_provider_metadata
from broker.services.iam.roles import create_role, get_role, update_assume_role_policy
from broker.services.iam.users import create_user
from broker.services.iam.views import role_view
from broker.store import models

__all__ = [
    "ADMINISTRATOR_ACCESS",
    "check_policy",
    "compact_json",
    "create_access_key",
    "create_role",
    "create_saml_provider",
    "create_user",
    "decode_policy_parameter",
    "get_role",
    "get_saml_provider",
    "put_role_policy",
    "put_user_policy",
    "role_view",
    "update_assume_role_policy",
    "update_saml_provider_metadata",
]

ADMINISTRATOR_ACCESS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


def compact_json(document: str) -> str:
    return json.dumps(json.loads(document), separators=(",", ":"))


def put_user_policy(session: Session, user: models.User, policy_name: str, document: str) -> None:
    put_inline_policy(session, user, policy_name, document)


def put_role_policy(session: Session, account_id: str, role_name: str, policy_name: str, document: str) -> None:
    put_inline_policy(session, get_role(session, account_id, role_name), policy_name, document)
