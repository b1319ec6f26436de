"""Every action the broker serves, called with valid parameters, answers what botocore's model of
the operation names, on the wire; and a request missing a required parameter is refused as AWS
refuses it.

boto3 drops an element its model does not know and fills nothing that is missing, so answers are
read raw here: the Query protocol's XML (``member`` items in lists, ``entry`` items in maps,
ISO 8601 timestamps) and the JSON protocol's body (epoch-second timestamps). The calls come from
``served_actions.json``, one record per call, in order (later calls use what earlier ones saved);
every served action must have a record, so a new action is covered by adding one. A record may
name, per element path, the entry of ``docs/aws-differences.md`` that explains why that element
differs from the model; the entry must exist and the difference must still occur.

A record: ``action`` (botocore's operation name), ``service`` (``iam`` when left out),
``params`` (the operation's parameters as botocore takes them; ``${name}`` is replaced by a value
saved earlier or set up by the fixture), ``save`` (``{name: "Dotted.Path.0.In.The.Answer"}``),
``as`` (the saved account id whose OrganizationAccountAccessRole makes the call; the bootstrap
administrator otherwise), ``differences``. Any other key is an error.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel, Shape

from broker.iam import totp
from broker.services.api import actions  # noqa: F401  (registers every action)
from broker.services.api.registry import JSON_ACTIONS, QUERY_ACTIONS
from broker.services.setup import bootstrap_admin
from tests.services.federation.corp import CORP_ARN, corp_runtime, idp_keys, signed_response
from tests.support.aws import ACCOUNT, client, document
from tests.support.brokers import LiveBroker, free_port
from tests.support.metadata import idp_metadata_xml

HERE = Path(__file__).parent
RECORDS = json.loads((HERE / "served_actions.json").read_text())
DIFFERENCES = (HERE.parents[2] / "docs" / "aws-differences.md").read_text()
RECORD_KEYS = {"action", "service", "params", "save", "as", "differences"}
SERVICES = ("iam", "sts", "organizations", "cloudtrail")  # botocore's names, and the records' "service"
SAML_ROLE = "arn:aws:iam::123456789012:role/Engineer"
ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
BOTOCORE = botocore.session.get_session()
MODELS: dict[str, ServiceModel] = {name: BOTOCORE.get_service_model(name) for name in SERVICES}


def served() -> set[tuple[str, str]]:
    """(service, action) of every action the endpoint serves, from the action table."""
    return {
        (op.service.event_source.split(".")[0], op.name) for op in [*QUERY_ACTIONS.values(), *JSON_ACTIONS.values()]
    }


# ------------------------------------------------------------------------------------------------
# Reading an answer against the model


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _scalar_problem(shape: Shape, text: str) -> str | None:
    kind = shape.type_name
    if kind == "timestamp" and not ISO_8601.fullmatch(text):
        return f"timestamp {text!r} is not ISO 8601 UTC"
    if kind in ("integer", "long") and not re.fullmatch(r"-?[0-9]+", text):
        return f"{text!r} is not an integer"
    if kind == "boolean" and text not in ("true", "false"):
        return f"{text!r} is not a boolean"
    if kind == "string" and shape.enum and text not in shape.enum:
        return f"{text!r} is not one of {shape.enum}"
    return None


def xml_problems(shape: Shape, element: ElementTree.Element, where: str, out: dict[str, str]) -> None:
    """What in ``element`` does not fit ``shape``, by element path."""
    if shape.type_name == "structure":
        members = {member.serialization.get("name", name): member for name, member in shape.members.items()}
        seen: set[str] = set()
        for child in element:
            name = _local(child.tag)
            if name not in members:
                out[f"{where}.{name}"] = f"not a member of {shape.name}"
                continue
            if name in seen:
                out[f"{where}.{name}"] = "given twice"
            seen.add(name)
            xml_problems(members[name], child, f"{where}.{name}", out)
        for required in shape.required_members:
            if members and shape.members[required].serialization.get("name", required) not in seen:
                out[f"{where}.{required}"] = f"missing: {shape.name} requires it"
    elif shape.type_name == "list":
        for child in element:
            if _local(child.tag) != "member":
                out[f"{where}.{_local(child.tag)}"] = "a list holds <member> items"
            else:
                xml_problems(shape.member, child, f"{where}[]", out)
    elif shape.type_name == "map":
        for child in element:
            names = [_local(part.tag) for part in child]
            if _local(child.tag) != "entry" or names != ["key", "value"]:
                out[f"{where}.{_local(child.tag)}"] = "a map holds <entry><key/><value/></entry> items"
            else:
                xml_problems(shape.value, child[1], f"{where}{{}}", out)
    elif len(element):
        out[where] = f"a {shape.type_name} has no child elements"
    else:
        problem = _scalar_problem(shape, element.text or "")
        if problem:
            out[where] = problem


def json_problems(shape: Shape, value: Any, where: str, out: dict[str, str]) -> None:
    kind = shape.type_name
    expected: dict[str, type | tuple[type, ...]] = {
        "structure": dict,
        "map": dict,
        "list": list,
        "string": str,
        "blob": str,
        "boolean": bool,
        "timestamp": (int, float),
        "integer": int,
        "long": int,
        "double": (int, float),
        "float": (int, float),
    }
    if not isinstance(value, expected[kind]) or (kind != "boolean" and isinstance(value, bool)):
        out[where] = f"{type(value).__name__} where the model has a {kind}"
        return
    if kind == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name not in shape.members:
                out[f"{where}.{name}"] = f"not a member of {shape.name}"
            else:
                json_problems(shape.members[name], item, f"{where}.{name}", out)
        for required in shape.required_members:
            if required not in value:
                out[f"{where}.{required}"] = f"missing: {shape.name} requires it"
    elif kind == "list" and isinstance(value, list):
        for item in value:
            json_problems(shape.member, item, f"{where}[]", out)
    elif kind == "map" and isinstance(value, dict):
        for item in value.values():
            json_problems(shape.value, item, f"{where}{{}}", out)
    elif kind == "string" and shape.enum and value not in shape.enum:
        out[where] = f"{value!r} is not one of {shape.enum}"


def answer_problems(model: OperationModel, protocol: str, body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    if protocol == "json":
        answer = json.loads(body or b"{}")
        if model.output_shape is None:
            if answer:
                out[model.name] = "answers a body; the model has no output"
        else:
            json_problems(model.output_shape, answer, model.name, out)
        return out
    root = ElementTree.fromstring(body)  # noqa: S314  (the broker's own answer)
    namespace = model.metadata["xmlNamespace"]
    if root.tag != f"{{{namespace}}}{model.name}Response":
        out[model.name] = f"root element {root.tag}"
    names = [_local(child.tag) for child in root]
    result = next((child for child in root if _local(child.tag) == f"{model.name}Result"), None)
    if (
        names[-1:] != ["ResponseMetadata"]
        or root.find(f"{{{namespace}}}ResponseMetadata/{{{namespace}}}RequestId") is None
    ):
        out[f"{model.name}.ResponseMetadata"] = "missing or misplaced"
    if model.output_shape is None:
        if result is not None and len(result):
            out[f"{model.name}Result"] = "has elements; the model has no output"
    elif result is None:
        if model.output_shape.members:
            out[f"{model.name}Result"] = "missing"
    else:
        xml_problems(model.output_shape, result, model.name, out)
        if {"IsTruncated", "Marker"} <= set(model.output_shape.members):
            # IAM lists always say whether they are truncated, and give a Marker exactly when they are.
            truncated = result.find(f"{{{namespace}}}IsTruncated")
            marker = result.find(f"{{{namespace}}}Marker")
            if truncated is None:
                out[f"{model.name}.IsTruncated"] = "missing from a list answer"
            elif (truncated.text == "true") != (marker is not None):
                out[f"{model.name}.Marker"] = f"present or absent, with IsTruncated {truncated.text}"
    return out


# ------------------------------------------------------------------------------------------------
# The served broker and the calls


@dataclass
class Scenario:
    broker: LiveBroker
    clients: dict[tuple[str, str], Any]
    values: dict[str, Any]

    def client(self, service: str, account: str | None = None) -> Any:
        key = (service, account or "admin")
        if key not in self.clients:
            admin = self.clients[("sts", "admin")]
            role = f"arn:aws:iam::{self.values[account or '']}:role/OrganizationAccountAccessRole"
            credentials = admin.assume_role(RoleArn=role, RoleSessionName="wire")["Credentials"]
            token = credentials["SessionToken"]
            self.clients[key] = client(
                self.broker, service, credentials["AccessKeyId"], credentials["SecretAccessKey"], token
            )
        return self.clients[key]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$\{(\w+)\}", lambda found: str(self.variable(found.group(1))), value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {name: self.resolve(item) for name, item in value.items()}
        return value

    def variable(self, name: str) -> Any:
        offsets = {"totp_previous": -30, "totp_now": 0, "totp_next": 30}
        if name in offsets:
            seed = totp.seed_from_base32(self.values["seed"])
            return totp.totp(seed, time.time() + offsets[name])
        return self.values[name]


def _raw_body(responses: list[bytes]) -> Any:
    def keep(http_response: Any, **_: Any) -> None:
        responses.append(http_response.content)

    return keep


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, keys_dir: Path) -> Iterator[Scenario]:
    keys = idp_keys()
    workdir = tmp_path_factory.mktemp("served")
    runtime = corp_runtime(workdir, keys_dir, f"sqlite:///{workdir / 'broker.db'}", keys)
    with LiveBroker(runtime, free_port()) as live:
        admin = bootstrap_admin(runtime)
        clients = {
            (service, "admin"): client(live, service, admin.access_key_id, admin.secret_access_key)
            for service in SERVICES
        }
        iam = clients[("iam", "admin")]
        iam.create_user(UserName="wire-nobody")
        key = iam.create_access_key(UserName="wire-nobody")["AccessKey"]
        nobody = client(live, "iam", key["AccessKeyId"], key["SecretAccessKey"])
        with pytest.raises(ClientError) as denied:
            nobody.create_group(GroupName="nothing")
        message = denied.value.response["Error"]["Message"]
        values: dict[str, Any] = {
            "account": ACCOUNT,
            "admin_key": admin.access_key_id,
            "policy": document({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}),
            "trust": document(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ),
            "metadata": idp_metadata_xml("https://wire-idp.example/metadata", keys.cert_pem),
            "assertion": signed_response(keys, "_wire"),
            "saml_role": SAML_ROLE,
            "saml_provider": CORP_ARN,
            "encoded_message": message.split("Encoded authorization failure message: ", 1)[1],
        }
        yield Scenario(live, clients, values)


ECHO_MAX = 256  # how much of a value the broker's messages quote
MISSING = "wire-missing"
MISSING_POLICY = f"arn:aws:iam::{ACCOUNT}:policy/wire/{MISSING}"
# AWS's NoSuchEntity wording for an entity a parameter names that does not exist, by parameter.
NOT_FOUND: dict[str, tuple[str, str]] = {
    "UserName": (MISSING, f"The user with name {MISSING} cannot be found."),
    "RoleName": (MISSING, f"The role with name {MISSING} cannot be found."),
    "GroupName": (MISSING, f"The group with name {MISSING} cannot be found."),
    "InstanceProfileName": (MISSING, f"Instance Profile {MISSING} cannot be found."),
    "PolicyArn": (MISSING_POLICY, f"Policy {MISSING_POLICY} was not found."),
}
MISSING_KEY = "AKIAWIREMISSING00000"
# Actions that look up what a parameter names within an entity that exists.
NOT_FOUND_IN: dict[str, dict[str, tuple[str, str]]] = {
    **{
        f"{verb}{kind.title()}Policy": {
            "PolicyName": (MISSING, f"The {kind} policy with name {MISSING} cannot be found.")
        }
        for verb in ("Get", "Delete")
        for kind in ("user", "group", "role")
    },
    **{
        f"{verb}AccessKey": {"AccessKeyId": (MISSING_KEY, f"The Access Key with id {MISSING_KEY} cannot be found.")}
        for verb in ("Update", "Delete")
    },
}
# Actions whose parameter names an entity they create, or that answer for a missing one otherwise.
CREATES = {
    "CreateUser": "UserName",
    "CreateRole": "RoleName",
    "CreateGroup": "GroupName",
    "CreateInstanceProfile": "InstanceProfileName",
}
CALLS: list[str] = []  # every refusal sent, so the test knows the checks ran
ATTACHES = {"AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy"}


@dataclass
class Outcomes:
    """What the scenario saw: shape problems by call and element path, and wrong refusals."""

    shapes: dict[str, str] = field(default_factory=dict)
    refusals: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)


def _invoke(api: Any, action: str, params: dict[str, Any]) -> tuple[str, str, str | None]:
    CALLS.append(action)
    try:
        api._make_api_call(action, params)
    except ClientError as refused:
        error = refused.response["Error"]
        return error["Code"], error["Message"], refused.response.get("Reason")
    return "accepted", "", None


def _expected_missing(service: str, name: str) -> tuple[str, str, str | None]:
    if service in ("iam", "sts"):
        field_name = name[:1].lower() + name[1:]
        message = (
            f"1 validation error detected: Value null at '{field_name}' "
            "failed to satisfy constraint: Member must not be null"
        )
        return "ValidationError", message, None
    return "InvalidInputException", f"You must specify a value for {name}.", "INPUT_REQUIRED"


def _out_of_bounds(shape: Shape | None, params: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Each string parameter given, one character too long and one too short for the model's bounds
    (where the model's pattern still matches, so the length is the one violation), with AWS's message."""
    members = shape.members if shape is not None else {}
    for name, given in params.items():
        member = members.get(name)
        if not isinstance(given, str) or member is None or member.type_name != "string" or member.enum:
            continue
        bounds = member.metadata
        field_name = name[:1].lower() + name[1:]
        candidates = []
        if bounds.get("max", 10**6) <= 128:
            candidates.append(("a" * (bounds["max"] + 1), f"less than or equal to {bounds['max']}"))
        if bounds.get("min", 0) >= 2:
            candidates.append(("a" * (bounds["min"] - 1), f"greater than or equal to {bounds['min']}"))
        for value, constraint in candidates:
            if "pattern" in bounds and not re.fullmatch(bounds["pattern"], value):
                continue
            # A sensitive value is not quoted; a long one is quoted clipped (see "Echoed values").
            shown = (
                "" if bounds.get("sensitive") else f"'{value if len(value) <= ECHO_MAX else value[:ECHO_MAX] + '...'}' "
            )
            message = (
                f"1 validation error detected: Value {shown}at '{field_name}' "
                f"failed to satisfy constraint: Member must have length {constraint}"
            )
            yield name, value, message


def _refusals(scenario: Scenario, record: dict[str, Any], outcomes: Outcomes) -> None:
    """Before the valid call: each required parameter left out, and each entity named missing."""
    service = record.get("service", "iam")
    action = record["action"]
    api = scenario.client(service, record.get("as"))
    params = scenario.resolve(record["params"])
    shape = MODELS[service].operation_model(action).input_shape
    for name in shape.required_members if shape is not None else []:
        if name in params:
            # AWS checks its input before it looks anything up: the other entities named may be missing.
            without = {key: value for key, value in params.items() if key != name}
            if service == "iam":
                without.update({key: NOT_FOUND[key][0] for key in without if key in NOT_FOUND})
            answer = _invoke(api, action, without)
            if answer != _expected_missing(service, name):
                outcomes.refusals[f"{action} without {name}"] = answer
    if service not in ("iam", "sts"):
        return
    for name, value, message in _out_of_bounds(shape, params):
        answer = _invoke(api, action, {**params, name: value})
        if answer != ("ValidationError", message, None):
            outcomes.refusals[f"{action} with {name} of {len(value)} characters"] = answer
    if service != "iam":
        return
    for name, (missing, message) in NOT_FOUND.items():
        if name not in params or CREATES.get(action) == name:
            continue
        if action in ATTACHES and name == "PolicyArn":
            message = f"Policy {missing} does not exist or is not attachable."
        answer = _invoke(api, action, {**params, name: missing})
        if answer != ("NoSuchEntity", message, None):
            outcomes.refusals[f"{action} with a missing {name}"] = answer
    for name, (missing, message) in NOT_FOUND_IN.get(action, {}).items():
        answer = _invoke(api, action, {**params, name: missing})
        if answer != ("NoSuchEntity", message, None):
            outcomes.refusals[f"{action} with a missing {name}"] = answer


def _call(scenario: Scenario, index: int, record: dict[str, Any], outcomes: Outcomes) -> None:
    service = record.get("service", "iam")
    api = scenario.client(service, record.get("as"))
    model = MODELS[service].operation_model(record["action"])
    bodies: list[bytes] = []
    event = f"after-call.{MODELS[service].service_id.hyphenize()}.{record['action']}"
    api.meta.events.register(event, _raw_body(bodies), unique_id=f"wire-{index}")
    try:
        parsed = api._make_api_call(record["action"], scenario.resolve(record["params"]))
    finally:
        api.meta.events.unregister(event, unique_id=f"wire-{index}")
    for name, path in record.get("save", {}).items():
        found: Any = parsed
        for part in path.split("."):
            found = found[int(part)] if part.isdigit() else found[part]
        scenario.values[name] = found.decode("ascii") if isinstance(found, bytes) else found
    found_problems = answer_problems(model, MODELS[service].metadata["protocol"], bodies[-1])
    allowed = record.get("differences", {})
    for path, problem in found_problems.items():
        if path not in allowed:
            outcomes.shapes[f"#{index} {path}"] = problem
    for path in allowed:
        if path not in found_problems:
            outcomes.shapes[f"#{index} {path}"] = "documented as a difference, but answers as modeled now"


@pytest.fixture(scope="module")
def outcomes(scenario: Scenario) -> Outcomes:
    """Every record, in order: its refusals first (nothing changes state), then the valid call."""
    seen = Outcomes()
    for index, record in enumerate(RECORDS):
        _refusals(scenario, record, seen)
        _call(scenario, index, record, seen)
    return seen


# ------------------------------------------------------------------------------------------------
# The tests


def test_every_record_is_well_formed_and_every_served_action_has_one() -> None:
    for record in RECORDS:
        assert set(record) <= RECORD_KEYS, f"unknown keys in {record}"
        assert {"action", "params"} <= set(record), record
        service = record.get("service", "iam")
        assert service in MODELS, record
        assert record["action"] in MODELS[service].operation_names, record
        for anchor in record.get("differences", {}).values():
            assert f"#### {anchor}\n" in DIFFERENCES, f"docs/aws-differences.md has no entry '{anchor}'"
    recorded = {(record.get("service", "iam"), record["action"]) for record in RECORDS}
    assert served() - recorded == set(), "served actions without a record in served_actions.json"
    assert recorded - served() == set(), "records of actions the broker does not serve"


def test_every_served_action_answers_the_modeled_shape(outcomes: Outcomes) -> None:
    assert len(served()) >= 161
    assert not outcomes.shapes, "\n".join(f"{path}: {problem}" for path, problem in outcomes.shapes.items())


def test_missing_parameters_and_entities_are_refused_as_aws_refuses_them(outcomes: Outcomes) -> None:
    assert len(CALLS) >= 450 and len(set(CALLS)) >= 135  # refusals of nearly every action were sent
    assert not outcomes.refusals, "\n".join(f"{call}: {answer}" for call, answer in outcomes.refusals.items())
