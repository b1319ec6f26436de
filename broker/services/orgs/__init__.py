"""AWS Organizations: the hierarchy of accounts, service control policies, and what they add to
every decision.

- :mod:`.structure`: the organization, its root and OUs, its accounts and their tags.
- :mod:`.policies`: service control policies, their attachments and the policy type switch.
- :mod:`.context`: what an account's organization adds to a decision (SCP levels, org condition keys).
- :mod:`.lookup`: finding what a call names, or refusing it as AWS does.

What the use cases return are the plain values of :mod:`broker.iam.org_entities`.
"""
