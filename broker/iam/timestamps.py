"""The one timestamp format AWS wire responses and CloudTrail records use."""

from __future__ import annotations

import datetime as dt


def aws_timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC to the second with a ``Z``: ``2026-11-29T12:00:00Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
