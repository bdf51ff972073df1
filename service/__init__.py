"""ticket-triage: the web service."""
