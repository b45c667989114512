"""Domain events of the cases layer. Higher layers subscribe in their AppConfig.ready(); the cases
app never imports them (docs/architecture.md)."""

from django.dispatch import Signal

# Inside the import transaction, once per new case, with the targets CSV rows that belong to it
# (kwargs: case, rows, actor). Receivers create what they keep for the case and return how many
# targets they created; an exception rolls the whole import back.
case_imported = Signal()

# After the import has committed, once per new case (kwargs: case, actor). A receiver returns
# True when it queued work that will move the case on (pre-segmentation); a case that no
# receiver took becomes ready at once.
import_committed = Signal()
