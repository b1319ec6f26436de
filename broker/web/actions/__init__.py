"""Handlers of the AWS Query actions, registered by importing their modules."""

from broker.web.actions import iam, iam_simulate, sts

__all__ = ["iam", "iam_simulate", "sts"]
