"""Domain events of the annotation workflow. Higher layers (modelops, metrics) subscribe in their
AppConfig.ready(); this app never imports them (docs/architecture.md)."""

from django.dispatch import Signal

# Inside the review's transaction, after the verdict is stored (kwargs: target, review, actor).
target_reviewed = Signal()

# After the transaction that accepted a case has committed (kwargs: case).
case_accepted = Signal()

# Inside the transaction that deleted (hid) a target (kwargs: target, actor).
target_deleted = Signal()
