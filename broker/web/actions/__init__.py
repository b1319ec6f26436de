"""Handlers of the AWS Query actions, registered by importing their modules."""

from broker.web.actions import iam, sts

__all__ = ["iam", "sts"]
