"""The path a SigV4 signature covers is the path of the request target, however it is written."""

from __future__ import annotations

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from broker.services.runtime import Runtime
from broker.services.setup import bootstrap_admin
from broker.web.app import create_app

BODY = "Action=GetCallerIdentity&Version=2011-06-15"


def _signed_headers(runtime: Runtime) -> dict[str, str]:
    admin = bootstrap_admin(runtime)
    request = AWSRequest(
        method="POST",
        url="http://broker.test/",
        data=BODY,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(admin.access_key_id, admin.secret_access_key), "sts", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def test_an_absolute_form_target_is_read_as_its_path(runtime: Runtime) -> None:
    # RFC 9112 3.2.2: a server accepts "POST http://host/ HTTP/1.1"; gunicorn passes that target
    # as RAW_URI. The client signed "/", the path alone.
    client = create_app(runtime=runtime).test_client()
    headers = _signed_headers(runtime)
    for target in ("/", "http://broker.test/", "http://broker.test"):
        answer = client.post(
            "/", data=BODY, headers=headers, base_url="http://broker.test", environ_overrides={"RAW_URI": target}
        )
        assert answer.status_code == 200, (target, answer.get_data(as_text=True)[:300])
        assert b"<GetCallerIdentityResult>" in answer.data
    # A different path in absolute form is still a different path.
    answer = client.post(
        "/",
        data=BODY,
        headers=headers,
        base_url="http://broker.test",
        environ_overrides={"RAW_URI": "http://broker.test/other"},
    )
    assert answer.status_code == 403 and b"SignatureDoesNotMatch" in answer.data
