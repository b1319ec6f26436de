"""DEMO ONLY: roles that trust the compose demo's SimpleSAMLphp IdP, mapped from its groups.

    python3 roles.py        (compose's `idp-roles` job, in the broker image, after `setup`)

The IdP's docker/idp/start.sh writes its metadata as ``simplesamlphp.xml`` in the broker's
``metadata_dir``; `broker init` registers it as provider ``simplesamlphp``. This adds, once,
``IdpAdmin`` (group ``admins``) and ``IdpDeveloper`` and ``IdpReadOnly`` (group ``developers``),
whose trust policies allow that provider for members of the group, with the same access as the
bundled demo's roles. Settings come from the broker's own ``BROKER_*`` variables and
``BROKER_CONFIG``. Roles that exist keep their policies. In a real installation, create roles
with the IAM API instead (docs/role-mapping.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from broker.demo.setup import access_policy, trust_policy
from broker.iam.arn import saml_provider_arn
from broker.services.runtime import Runtime
from broker.services.setup import SeedRole, seed_federation, setting_up
from broker.settings import SettingsError, load_settings

PROVIDER_NAME = "simplesamlphp"
ROLES = {
    "IdpAdmin": ("admins", "Full access for the demo IdP's admins group.", 43200),
    "IdpDeveloper": ("developers", "Developer access for the demo IdP's developers group.", 28800),
    "IdpReadOnly": ("developers", "Read-only access for the demo IdP's developers group.", 3600),
}


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"idp-roles: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    metadata_file = Path(settings.metadata_dir) / f"{PROVIDER_NAME}.xml"
    if not metadata_file.is_file():
        print(f"idp-roles: no {metadata_file} (the IdP writes it when it starts)", file=sys.stderr)
        return 1
    provider_arn = saml_provider_arn(settings.default_account_id, PROVIDER_NAME)
    roles = [
        SeedRole(
            name=name,
            path="/idp/",
            description=description,
            max_session_duration=max_duration,
            trust_policy=trust_policy(provider_arn, settings.acs_url, group),
            access_policy=access_policy(group),
            tags=(("purpose", "demo"),),
        )
        for name, (group, description, max_duration) in ROLES.items()
    ]
    runtime = Runtime.from_settings(settings)
    try:
        with setting_up(runtime):  # takes turns with brokers running `broker init` at start-up
            seed_federation(
                runtime,
                alias=settings.default_account_alias or "demo",
                provider_name=PROVIDER_NAME,
                metadata_xml=metadata_file.read_text(encoding="utf-8"),
                source=f"file:{metadata_file.name}",
                roles=roles,
            )
    finally:
        runtime.db.dispose()
    print(f"idp-roles: {', '.join(ROLES)} trust {provider_arn}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
