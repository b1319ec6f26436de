"""``POST /``: the AWS-compatible endpoint (Query protocol for STS and IAM).

A handler is a few lines: read parameters, authorize, call a service, return the result
structure. Each call is one transaction with its audit event; a refused call is audited in
a transaction of its own, after the refused one rolled back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from broker.iam import arn as arns
from broker.iam.errors import AwsError
from broker.iam.names import name_key
from broker.services import iam_admin, sts
from broker.services.audit import ANONYMOUS, Actor, record_event
from broker.services.auth import Caller, authenticate, authorize, request_context
from broker.services.federation import ClientInfo
from broker.services.runtime import Runtime
from broker.store import repositories as repo
from broker.web.wire import IAM_NS, STS_NS, Params, error_xml, success_xml

log = logging.getLogger("broker.aws")
bp = Blueprint("aws", __name__)


@dataclass
class Call:
    runtime: Runtime
    session: Session
    caller: Caller
    params: Params
    client: ClientInfo
    resources: list[dict[str, str]]

    @property
    def account_id(self) -> str:
        return self.caller.account_id

    def authorize(self, action: str, resource: str) -> None:
        self.resources.append({"ARN": resource})
        context = request_context(self.caller, self.client.source_ip, self.runtime.now(), request.is_secure)
        authorize(self.session, self.caller, action, resource, context)


Handler = Callable[[Call], dict[str, Any] | None]


@dataclass(frozen=True)
class Action:
    name: str
    namespace: str
    event_source: str
    handler: Handler
    read_only: bool = False


ACTIONS: dict[str, Action] = {}


def action(name: str, service: str, read_only: bool = False) -> Callable[[Handler], Handler]:
    namespace, source = (STS_NS, "sts.amazonaws.com") if service == "sts" else (IAM_NS, "iam.amazonaws.com")

    def register(handler: Handler) -> Handler:
        ACTIONS[name] = Action(name, namespace, source, handler, read_only)
        return handler

    return register


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["broker.runtime"]
    return rt


def client_info() -> ClientInfo:
    return ClientInfo(
        source_ip=request.remote_addr, user_agent=request.headers.get("User-Agent"), request_id=str(uuid.uuid4())
    )


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/xml")


@bp.post("/")
def endpoint() -> Response:
    if request.headers.get("X-Amz-Target"):
        error = AwsError("InvalidAction", "No JSON-protocol service is served on this endpoint yet.")
        return _xml(error_xml(error, IAM_NS, str(uuid.uuid4())), error.status)
    client = client_info()
    body = request.get_data(cache=True)
    # Query APIs accept parameters in the form body or, for GET and presigned URLs, the query.
    params = Params(request.values)
    name = params.get("Action")
    if not name:
        error = AwsError("MissingAction", "Missing Action")
        return _xml(error_xml(error, IAM_NS, client.request_id), error.status)
    found = ACTIONS.get(name)
    if found is None:
        error = AwsError("InvalidAction", f"Could not find operation {name} for version {params.get('Version')}")
        return _xml(error_xml(error, IAM_NS, client.request_id), error.status)
    if name == "AssumeRoleWithSAML":
        return _assume_role_with_saml(params, client)
    return _signed_call(found, params, client, body)


def _signed_call(found: Action, params: Params, client: ClientInfo, body: bytes) -> Response:
    rt = runtime()
    actor: Actor = ANONYMOUS
    resources: list[dict[str, str]] = []
    try:
        with rt.db.transaction() as session:
            caller, _signed = authenticate(
                rt, session, request.method, _raw_path(), request.query_string.decode(), _headers(), body
            )
            actor = caller.actor()
            call = Call(rt, session, caller, params, client, resources)
            result = found.handler(call)
            _audit(session, found, actor, client, params, result, None, resources)
            return _xml(success_xml(found.name, found.namespace, result, client.request_id))
    except AwsError as exc:
        if exc.code == "AccessDenied":
            log.info("denied %s for %s: %s", found.name, actor.arn, exc.message)
        with rt.db.transaction() as session:
            _audit(session, found, actor, client, params, None, exc, resources)
        return _xml(error_xml(exc, found.namespace, client.request_id), exc.status)


def _raw_path() -> str:
    """SigV4 signs the path as sent; werkzeug's request.path is already percent-decoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    return raw.split("?", 1)[0] if raw else request.path


def _headers() -> dict[str, str]:
    # A header sent more than once is signed as its values joined by commas.
    return {name: ",".join(request.headers.getlist(name)) for name in request.headers.keys()}  # noqa: SIM118


def _audit(
    session: Session,
    found: Action,
    actor: Actor,
    client: ClientInfo,
    params: Params,
    result: dict[str, Any] | None,
    error: AwsError | None,
    resources: list[dict[str, str]],
) -> None:
    rt = runtime()
    request_parameters = {k: v for k, v in params.as_dict().items() if k not in ("Action", "Version")}
    record_event(
        session,
        event_name=found.name,
        event_source=found.event_source,
        actor=actor,
        now=rt.now(),
        region=rt.settings.region,
        source_ip=client.source_ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
        request_parameters=request_parameters,
        response_elements=None if found.read_only else _json_safe(result),
        error_code=error.code if error else None,
        error_message=error.message if error else None,
        read_only=found.read_only,
        resources=resources or None,
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --- STS ---------------------------------------------------------------------------------------


def _assume_role_with_saml(params: Params, client: ClientInfo) -> Response:
    try:
        result = sts.assume_role_with_saml(
            runtime(),
            role_arn=params.get("RoleArn"),
            principal_arn=params.get("PrincipalArn"),
            saml_assertion=params.get("SAMLAssertion"),
            duration_seconds=params.integer("DurationSeconds"),
            policy=params.get("Policy"),
            policy_arns=_policy_arns(params),
            client=client,
        )
    except AwsError as exc:
        return _xml(error_xml(exc, STS_NS, client.request_id), exc.status)
    credentials = result.credentials
    body: dict[str, Any] = {
        "Credentials": {
            "AccessKeyId": credentials.access_key_id,
            "SecretAccessKey": credentials.secret_access_key,
            "SessionToken": credentials.session_token,
            "Expiration": credentials.expiration,
        },
        "AssumedRoleUser": {"AssumedRoleId": credentials.assumed_role_id, "Arn": credentials.assumed_role_arn},
        "PackedPolicySize": result.packed_policy_size,
        "Subject": result.subject,
        "SubjectType": result.subject_type,
        "Issuer": result.issuer,
        "Audience": result.audience,
        "NameQualifier": result.name_qualifier,
        "SourceIdentity": result.source_identity,
    }
    return _xml(success_xml("AssumeRoleWithSAML", STS_NS, body, client.request_id))


def _policy_arns(params: Params) -> list[str]:
    arns_given: list[str] = []
    index = 1
    while (value := params.get(f"PolicyArns.member.{index}.arn")) is not None:
        arns_given.append(value)
        index += 1
    return arns_given


ACTIONS["AssumeRoleWithSAML"] = Action("AssumeRoleWithSAML", STS_NS, "sts.amazonaws.com", lambda call: None)


@action("GetCallerIdentity", "sts", read_only=True)
def get_caller_identity(call: Call) -> dict[str, Any]:
    # AWS answers GetCallerIdentity for any valid credentials; no policy can deny it.
    return {"UserId": call.caller.user_id, "Account": call.caller.account_id, "Arn": call.caller.arn}


# --- IAM: SAML providers -------------------------------------------------------------------------


@action("CreateSAMLProvider", "iam")
def create_saml_provider(call: Call) -> dict[str, Any]:
    name = call.params.required("Name")
    call.authorize("iam:CreateSAMLProvider", arns.saml_provider_arn(call.account_id, name))
    provider = iam_admin.create_saml_provider(
        call.session,
        call.account_id,
        name,
        call.params.required("SAMLMetadataDocument"),
        call.params.tags(),
        call.runtime.now(),
    )
    result: dict[str, Any] = {"SAMLProviderArn": provider.arn}
    if provider.tags:
        result["Tags"] = [{"Key": k, "Value": v} for k, v in provider.tags.items()]
    return result


@action("GetSAMLProvider", "iam", read_only=True)
def get_saml_provider(call: Call) -> dict[str, Any]:
    provider_arn = call.params.required("SAMLProviderArn")
    call.authorize("iam:GetSAMLProvider", provider_arn)
    provider = iam_admin.get_saml_provider(call.session, call.account_id, provider_arn)
    return {
        "SAMLMetadataDocument": provider.metadata_xml,
        "CreateDate": provider.created_at,
        "ValidUntil": provider.valid_until,
        "Tags": [{"Key": k, "Value": v} for k, v in provider.tags.items()] if provider.tags else None,
    }


@action("ListSAMLProviders", "iam", read_only=True)
def list_saml_providers(call: Call) -> dict[str, Any]:
    call.authorize("iam:ListSAMLProviders", "*")
    providers = repo.list_providers(call.session, call.account_id)
    return {
        "SAMLProviderList": [{"Arn": p.arn, "ValidUntil": p.valid_until, "CreateDate": p.created_at} for p in providers]
    }


# --- IAM: roles ----------------------------------------------------------------------------------


@action("CreateRole", "iam")
def create_role(call: Call) -> dict[str, Any]:
    name = call.params.required("RoleName")
    path = call.params.get("Path") or "/"
    try:
        resource = arns.role_arn(call.account_id, name, path)
    except (arns.InvalidArn, AwsError):
        resource = f"arn:aws:iam::{call.account_id}:role/{name}"
    call.authorize("iam:CreateRole", resource)
    role = iam_admin.create_role(
        call.session,
        call.account_id,
        name=name,
        trust_policy=call.params.required("AssumeRolePolicyDocument"),
        path=path,
        description=call.params.get("Description"),
        max_session_duration=call.params.integer("MaxSessionDuration"),
        permissions_boundary=call.params.get("PermissionsBoundary"),
        tags=call.params.tags(),
        now=call.runtime.now(),
    )
    view = iam_admin.role_view(role)
    view.pop("RoleLastUsed", None)
    return {"Role": view}


def _role_resource(call: Call, name: str) -> str:
    role = repo.role_by_name(call.session, call.account_id, name_key(name))
    return role.arn if role is not None else f"arn:aws:iam::{call.account_id}:role/{name}"


@action("GetRole", "iam", read_only=True)
def get_role(call: Call) -> dict[str, Any]:
    name = call.params.required("RoleName")
    call.authorize("iam:GetRole", _role_resource(call, name))
    return {"Role": iam_admin.role_view(iam_admin.get_role(call.session, call.account_id, name))}


@action("UpdateAssumeRolePolicy", "iam")
def update_assume_role_policy(call: Call) -> None:
    name = call.params.required("RoleName")
    call.authorize("iam:UpdateAssumeRolePolicy", _role_resource(call, name))
    iam_admin.update_assume_role_policy(call.session, call.account_id, name, call.params.required("PolicyDocument"))
    return None


@action("PutRolePolicy", "iam")
def put_role_policy(call: Call) -> None:
    name = call.params.required("RoleName")
    call.authorize("iam:PutRolePolicy", _role_resource(call, name))
    iam_admin.put_role_policy(
        call.session, call.account_id, name, call.params.required("PolicyName"), call.params.required("PolicyDocument")
    )
    return None
