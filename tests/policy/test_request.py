"""Requests and their context normalisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.policy import Principal, Request
from broker.policy.request import normalize_context


def test_keys_are_lowered_and_values_become_tuples() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    context = normalize_context(
        {"aws:UserName": "alice", "aws:TagKeys": ["a", "b"], "aws:CurrentTime": moment, "x:flag": True}
    )
    assert context == {
        "aws:username": ("alice",),
        "aws:tagkeys": ("a", "b"),
        "aws:currenttime": (moment,),
        "x:flag": (True,),
    }


def test_none_means_absent() -> None:
    assert normalize_context({"aws:SourceIp": None}) == {}


def test_two_spellings_of_one_key_are_a_bug() -> None:
    with pytest.raises(ValueError, match="given twice"):
        normalize_context({"aws:username": "a", "AWS:UserName": "b"})


def test_unsupported_values_are_rejected() -> None:
    with pytest.raises(TypeError, match="unsupported value"):
        normalize_context({"k:a": [object()]})


def test_request_lowers_the_action_for_lookups_and_keeps_the_original() -> None:
    request = Request(Principal(), "S3:GetObject", "*", {"K:A": "v"})
    assert request.action == "S3:GetObject"
    assert request.action_key == "s3:getobject"
    assert request.normalized_context == {"k:a": ("v",)}
