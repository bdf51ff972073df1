"""The human queue: tickets routed to a person, claimed under a lease, resolved, with feedback."""
