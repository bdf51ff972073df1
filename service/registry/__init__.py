"""The model registry: versions, statuses, promotion, rollback and the hot swap."""
