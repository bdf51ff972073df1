"""API keys with roles: ``helpdesk`` (score, feedback), ``agent`` (the queue), ``ops`` (everything)."""
