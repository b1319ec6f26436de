"""SAML identity federation broker modelled on AWS IAM and STS."""

__version__ = "0.1.0"
