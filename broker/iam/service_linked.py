"""Service-linked roles: the role a service principal gets in an account, named and placed as AWS does.

A service-linked role lives under ``/aws-service-role/<service principal>/`` (a path no other role
may use), is named ``AWSServiceRoleFor<Service>`` (``_<CustomSuffix>`` appended where the service
allows one) and trusts only its service. The names below are those AWS documents for each service;
another ``*.amazonaws.com`` principal gets a name built the same way from its first label.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

from broker.iam import limits
from broker.iam.errors import AwsError
from broker.iam.names import constraint_violation, length_violations, validation_error

SERVICE_ROLE_PATH: Final = "/aws-service-role/"
_SERVICE_NAME: Final = re.compile(r"[\w+=,.@-]+", re.ASCII)
_SUFFIX: Final = re.compile(r"[\w+=,.@-]+", re.ASCII)
_AMAZONAWS: Final = re.compile(r"([a-z0-9]+(?:-[a-z0-9]+)*)((?:\.[a-z0-9-]+)*)\.amazonaws\.com")
_SUFFIX_MAX: Final = 64
_DESCRIPTION_MAX: Final = 1000


@dataclass(frozen=True, slots=True)
class LinkedService:
    role_name: str
    custom_suffix: bool  # whether the service accepts a CustomSuffix


# As AWS's documentation of each service names its service-linked role.
KNOWN_SERVICES: Final[dict[str, LinkedService]] = {
    "autoscaling.amazonaws.com": LinkedService("AWSServiceRoleForAutoScaling", True),
    "lexv2.amazonaws.com": LinkedService("AWSServiceRoleForLexV2Bots", True),
    "elasticbeanstalk.amazonaws.com": LinkedService("AWSServiceRoleForElasticBeanstalk", False),
    "ecs.amazonaws.com": LinkedService("AWSServiceRoleForECS", False),
    "es.amazonaws.com": LinkedService("AWSServiceRoleForAmazonElasticsearchService", False),
    "opensearchservice.amazonaws.com": LinkedService("AWSServiceRoleForAmazonOpenSearchService", False),
    "spot.amazonaws.com": LinkedService("AWSServiceRoleForEC2Spot", False),
    "spotfleet.amazonaws.com": LinkedService("AWSServiceRoleForEC2SpotFleet", False),
    "elasticloadbalancing.amazonaws.com": LinkedService("AWSServiceRoleForElasticLoadBalancing", False),
    "rds.amazonaws.com": LinkedService("AWSServiceRoleForRDS", False),
    "elasticache.amazonaws.com": LinkedService("AWSServiceRoleForElastiCache", False),
    "eks.amazonaws.com": LinkedService("AWSServiceRoleForAmazonEKS", False),
    "eks-nodegroup.amazonaws.com": LinkedService("AWSServiceRoleForAmazonEKSNodegroup", False),
    "organizations.amazonaws.com": LinkedService("AWSServiceRoleForOrganizations", False),
    "sso.amazonaws.com": LinkedService("AWSServiceRoleForSSO", False),
    "config.amazonaws.com": LinkedService("AWSServiceRoleForConfig", False),
    "guardduty.amazonaws.com": LinkedService("AWSServiceRoleForAmazonGuardDuty", False),
    "securityhub.amazonaws.com": LinkedService("AWSServiceRoleForSecurityHub", False),
    "support.amazonaws.com": LinkedService("AWSServiceRoleForSupport", False),
    "trustedadvisor.amazonaws.com": LinkedService("AWSServiceRoleForTrustedAdvisor", False),
    "cloudtrail.amazonaws.com": LinkedService("AWSServiceRoleForCloudTrail", False),
    "access-analyzer.amazonaws.com": LinkedService("AWSServiceRoleForAccessAnalyzer", False),
    "dynamodb.application-autoscaling.amazonaws.com": LinkedService(
        "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable", False
    ),
    "ecs.application-autoscaling.amazonaws.com": LinkedService(
        "AWSServiceRoleForApplicationAutoScaling_ECSService", False
    ),
}


@dataclass(frozen=True, slots=True)
class ServiceLinkedRole:
    """What CreateServiceLinkedRole makes: the role's name, path and trust policy."""

    service: str
    name: str
    path: str
    trust_policy: str


def is_service_linked(path: str) -> bool:
    return path.startswith(SERVICE_ROLE_PATH)


def service_of(path: str) -> str:
    """The service principal a service-linked role's path names."""
    return path.removeprefix(SERVICE_ROLE_PATH).rstrip("/")


def unmodifiable(role_name: str) -> AwsError:
    """AWS's refusal of an ordinary role action on a service-linked role."""
    return AwsError(
        "UnmodifiableEntity",
        f"Cannot perform the operation on the protected role '{role_name}' - this role is only modifiable by AWS",
    )


def _derived(service: str) -> LinkedService | None:
    """A service AWS would know but the table does not list: ``AWSServiceRoleFor<First label>``."""
    match = _AMAZONAWS.fullmatch(service)
    if match is None:
        return None
    label = "".join(part[:1].upper() + part[1:] for part in match.group(1).split("-"))
    return LinkedService(f"AWSServiceRoleFor{label}", False)


def validate_service_name(service: str | None) -> str:
    if service is None:
        raise validation_error([constraint_violation(None, "aWSServiceName", "must not be null")])
    violations = length_violations(service, "aWSServiceName", 1, 128)
    if violations:
        raise validation_error(violations)
    if not _SERVICE_NAME.fullmatch(service):
        raise validation_error(
            [constraint_violation(service, "aWSServiceName", r"must satisfy regular expression pattern: [\w+=,.@-]+")]
        )
    return service


def service_linked_role(service: str, custom_suffix: str | None) -> ServiceLinkedRole:
    """The role CreateServiceLinkedRole would make for ``service``, or AWS's InvalidInput."""
    validate_service_name(service)
    linked = KNOWN_SERVICES.get(service) or _derived(service)
    if linked is None:
        raise AwsError("InvalidInput", f"Invalid service name: {service}")
    name = linked.role_name
    if custom_suffix is not None:
        if not 1 <= len(custom_suffix) <= _SUFFIX_MAX or not _SUFFIX.fullmatch(custom_suffix):
            raise validation_error(
                [
                    constraint_violation(
                        custom_suffix, "customSuffix", r"must satisfy regular expression pattern: [\w+=,.@-]+"
                    )
                ]
            )
        if not linked.custom_suffix:
            raise AwsError("InvalidInput", f"Custom suffix is not allowed for {service}")
        name = f"{name}_{custom_suffix}"
        if len(name) > limits.ROLE_NAME_MAX:
            raise AwsError("InvalidInput", f"The role name {name} is longer than {limits.ROLE_NAME_MAX} characters.")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": ["sts:AssumeRole"]}],
    }
    return ServiceLinkedRole(service, name, f"{SERVICE_ROLE_PATH}{service}/", json.dumps(trust))


def validate_description(description: str | None) -> str:
    description = description or ""
    if len(description) > _DESCRIPTION_MAX:
        raise validation_error(
            [
                constraint_violation(
                    description, "description", f"must have length less than or equal to {_DESCRIPTION_MAX}"
                )
            ]
        )
    return description
