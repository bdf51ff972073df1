"""Scoring: the routing policy, the engine (no web framework) and the HTTP routes."""
