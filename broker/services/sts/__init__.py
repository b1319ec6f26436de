"""STS use cases, one module per protocol.

- :mod:`.saml`: AssumeRoleWithSAML (unsigned, as in AWS).
- :mod:`.assume_role`: AssumeRole for IAM users and role sessions (role chaining).
- :mod:`.session_token`: GetSessionToken, and what its credentials may not call.
- :mod:`.federation`: GetFederationToken (federated users).
- :mod:`.key_info`: GetAccessKeyInfo and DecodeAuthorizationMessage.
- :mod:`.mfa`: the SerialNumber + TokenCode check AssumeRole and GetSessionToken share.
"""

from broker.services.sts.assume_role import ASSUME_ROLE, AssumeRoleResult, assume_role
from broker.services.sts.key_info import access_key_account, decode_authorization_message
from broker.services.sts.mfa import verify_mfa
from broker.services.sts.saml import SamlAssumeResult, assume_role_with_saml, sts_error_for
from broker.services.sts.session_token import get_session_token, restrict_session_token_calls

__all__ = [
    "ASSUME_ROLE",
    "AssumeRoleResult",
    "SamlAssumeResult",
    "access_key_account",
    "assume_role",
    "assume_role_with_saml",
    "decode_authorization_message",
    "get_session_token",
    "restrict_session_token_calls",
    "sts_error_for",
    "verify_mfa",
]
