"""What STS tells a caller about a key (GetAccessKeyInfo) or a denial (DecodeAuthorizationMessage)."""

from __future__ import annotations

from broker.iam.errors import AwsError
from broker.services.auth import Caller
from broker.services.credentials import account_of_temporary_key
from broker.services.iam.access_keys import validate_access_key_id
from broker.services.sts._params import required_length
from broker.store import Tx
from broker.store.auth import signing_key


def access_key_account(tx: Tx, access_key_id: str | None) -> str:
    """GetAccessKeyInfo: the account of any key the broker issued."""
    key_id = validate_access_key_id(access_key_id)
    if key_id.startswith("AKIA"):
        key = signing_key(tx, key_id)
        if key is not None:
            return key.user.account_id
    else:
        account = account_of_temporary_key(key_id)
        if account is not None:
            return account
    raise AwsError("InvalidParameterValue", f"The access key ID {key_id} was not issued by this broker.")


def decode_authorization_message(caller: Caller, encoded_message: str | None) -> str:
    message = required_length("encodedMessage", encoded_message, 1, 10240)
    if caller.messages is None:
        raise AwsError("InvalidAuthorizationMessageException", "The authorization message is invalid.")
    return caller.messages.decode(message, caller.account_id)
