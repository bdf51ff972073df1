"""Training, evaluation and the ``triage`` command line for ops."""
