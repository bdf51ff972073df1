"""Drift without labels: live scores, routing and languages against what the model was trained for."""
