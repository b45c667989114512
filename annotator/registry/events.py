"""Domain events of the model registry (docs/architecture.md)."""

from django.dispatch import Signal

# After the transaction that changed a scope's production model has committed (promotion or
# rollback; kwargs: version, the new production model, and actor).
production_model_changed = Signal()
