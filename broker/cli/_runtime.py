"""Settings and the runtime, built once per invocation for the commands that work on the broker itself.

Imported lazily by those commands: the person's commands (login, credential-process...) never
load the server's dependencies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import click

from broker.cli.errors import BrokerError
from broker.crypto.keys import KeyMaterialError
from broker.logs import use_format
from broker.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from broker.services.runtime import Runtime


def settings(ctx: click.Context) -> Settings:
    """The settings of ``--config`` (or ``BROKER_CONFIG``) and the environment, loaded once."""
    loaded: Settings | None = ctx.obj.get("settings")
    if loaded is None:
        try:
            loaded = load_settings(ctx.obj.get("config"))
        except SettingsError as exc:
            raise BrokerError("; ".join(exc.problems)) from None
        ctx.obj["settings"] = loaded
        logging.getLogger().setLevel(loaded.log_level.upper())
        use_format(loaded.log_format)
    return loaded


def runtime(ctx: click.Context) -> Runtime:
    from broker.services.runtime import Runtime

    try:
        return Runtime.from_settings(settings(ctx))
    except KeyMaterialError as exc:
        raise BrokerError(str(exc)) from None


def runtime_with_trail(ctx: click.Context) -> Runtime:
    """The runtime, disposed when the command ends, once the database is known to hold the audit
    trail the command reads or records its steps in."""
    from broker.services.audit.trail import AuditTrailUnavailable, open_trail

    built = runtime(ctx)
    ctx.call_on_close(built.db.dispose)
    try:
        open_trail(built)
    except AuditTrailUnavailable as exc:
        raise BrokerError(exc.message) from None
    return built
