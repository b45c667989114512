"""What the annotation layer does when the cases layer below announces something."""

from __future__ import annotations

from annotator.cases import events as case_events

from .models import Target


def create_imported_targets(sender, *, case, rows, actor, **kwargs) -> int:
    """The targets CSV rows of a newly imported case become its targets (box prompts and their
    windows)."""
    for row in rows:
        Target.objects.create(
            case=case,
            label=row.label,
            key_index=row.key_index,
            box=[float(v) for v in row.box],
            points=[],
            window=list(row.window) if isinstance(row.window, tuple) else row.window,
            created_by=actor,
        )
    return len(rows)


def connect() -> None:
    case_events.case_imported.connect(create_imported_targets, dispatch_uid="annotations.targets")
