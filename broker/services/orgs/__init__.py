"""AWS Organizations: the hierarchy of accounts, service control policies, and what they add to
every decision (see :mod:`broker.services.orgs.context`)."""
