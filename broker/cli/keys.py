"""``broker keys``: rotate the session-token signing keys, the SP certificates and the data keys
sealing secrets at rest; re-seal those secrets; show the rings."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from broker.cli import _runtime
from broker.cli.errors import BrokerError
from broker.crypto.keys import KeyMaterialError

if TYPE_CHECKING:
    pass


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds") if moment else "-"


@click.group()
def keys() -> None:
    """Rotate key material shared by every instance (files under certs_dir)."""


@keys.command()
@click.option("--tokens", is_flag=True, help="Session-token signing keys: next signs, current stays to verify.")
@click.option(
    "--retire",
    is_flag=True,
    help="With --tokens: remove the previous key (its tokens stop verifying). "
    "With --encryption: remove the old data keys (only once they seal nothing).",
)
@click.option("--sp-certificate", is_flag=True, help="Stage new SP signing and encryption certificates.")
@click.option("--finish", is_flag=True, help="With --sp-certificate: replace the old certificates by the staged ones.")
@click.option("--encryption", is_flag=True, help="Data keys for secrets at rest: a new key seals, old ones still open.")
@click.option("--force", is_flag=True, help="Skip the wait that protects tokens and IdPs still using the old key.")
@click.pass_context
def rotate(
    ctx: click.Context, tokens: bool, retire: bool, sp_certificate: bool, finish: bool, encryption: bool, force: bool
) -> None:
    """Rotate one kind of key (see docs/operations.md, "Rotating keys")."""
    from broker.services import keys as key_service

    if sum((tokens, sp_certificate, encryption)) != 1:
        raise BrokerError("choose one of --tokens, --sp-certificate, --encryption")
    if retire and not (tokens or encryption):
        raise BrokerError("--retire goes with --tokens or --encryption")
    if finish and not sp_certificate:
        raise BrokerError("--finish goes with --sp-certificate")
    runtime = _runtime.runtime_with_trail(ctx)
    try:
        if encryption and retire:
            retired = key_service.retire_encryption(runtime, force=force)
            click.echo(f"retired data keys {', '.join(retired)}; nothing they sealed remains")
        elif encryption:
            data_ring = key_service.rotate_encryption(runtime)
            click.echo(f"data key now {data_ring[0].key_id}: new secrets are sealed with it")
            waiting = sum(key.sealed_rows for key in data_ring[1:])
            click.echo(f"{waiting} rows sealed by older keys are re-sealed in the background (or: broker keys reseal)")
        elif tokens and retire:
            kid = key_service.retire_previous_token(runtime, force=force)
            click.echo(f"retired token signing key {kid}; tokens it signed no longer verify")
        elif tokens:
            ring = key_service.rotate_tokens(runtime, force=force)
            click.echo(f"token signing key now {ring.current} (published before it signed)")
            click.echo(f"next (published, not signing): {ring.next}")
            click.echo(
                f"previous (verifies until retired): {ring.previous}; retire after {_when(ring.previous_retirable_at)}"
            )
        elif finish:
            sp = key_service.finish_sp_certificate(runtime, force=force)
            click.echo(f"SP signing certificate now {sp.signing.fingerprint}; the old ones left the metadata")
        else:
            sp = key_service.stage_sp_certificate(runtime)
            assert sp.staged_signing is not None
            click.echo(f"staged SP signing certificate {sp.staged_signing.fingerprint}, listed in the metadata now")
            click.echo(f"AuthnRequests switch to it at {_when(sp.switch_at)}; then run --sp-certificate --finish")
    except key_service.KeyRotationRefused as exc:
        raise BrokerError(exc.message) from None
    except KeyMaterialError as exc:
        raise BrokerError(str(exc)) from None


@keys.command()
@click.pass_context
def reseal(ctx: click.Context) -> None:
    """Re-seal now, to completion, every secret an old data key seals (the background does it too)."""
    from broker.services import keys as key_service

    runtime = _runtime.runtime_with_trail(ctx)
    try:
        done = key_service.reseal(runtime)
    except KeyMaterialError as exc:
        raise BrokerError(str(exc)) from None
    click.echo(f"re-sealed {done} rows with data key {runtime.box.sealing_key_id}")


@keys.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the token key ring and the SP certificates, and when the next step is allowed."""
    from broker.services import keys as key_service

    runtime = _runtime.runtime(ctx)
    ctx.call_on_close(runtime.db.dispose)
    try:
        ring = key_service.token_ring_status(runtime)
        sp = key_service.sp_rollover_status(runtime)
        data_keys = key_service.data_key_status(runtime)
    except KeyMaterialError as exc:
        raise BrokerError(str(exc)) from None
    click.echo("session-token keys (all published at /.well-known/jwks.json):")
    click.echo(f"  current   {ring.current}  signs; rotated {_when(ring.rotated_at)}")
    click.echo(f"  next      {ring.next or '-'}  published, signs after the next rotation")
    if ring.previous:
        click.echo(f"  previous  {ring.previous}  verifies; retire allowed from {_when(ring.previous_retirable_at)}")
    else:
        click.echo("  previous  -")
    click.echo("SP certificates (SHA-256):")
    signing = "signs AuthnRequests until the switch" if sp.switch_at else "signs AuthnRequests"
    click.echo(f"  signing     {sp.signing.fingerprint}  {signing}; expires {_when(sp.signing.not_after)}")
    click.echo(f"  encryption  {sp.encryption.fingerprint}  expires {_when(sp.encryption.not_after)}")
    if sp.staged_signing and sp.staged_encryption:
        click.echo(
            f"  staged {_when(sp.staged_at)}, in the metadata; "
            f"AuthnRequests switch and --finish allowed at {_when(sp.switch_at)}"
        )
        click.echo(f"  staged signing     {sp.staged_signing.fingerprint}")
        click.echo(f"  staged encryption  {sp.staged_encryption.fingerprint}")
    click.echo("data keys (secrets at rest; rows each still seals):")
    for data_key in data_keys:
        role = "seals" if data_key.current else "opens"
        click.echo(
            f"  {data_key.key_id}  {role}; {data_key.sealed_rows} rows; {data_key.source}; "
            f"added {_when(data_key.created_at)}"
        )
