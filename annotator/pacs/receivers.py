"""What the DICOMweb app does when the workflow below announces something."""

from __future__ import annotations

from annotator.annotations import events as annotation_events


def send_accepted(sender, *, case, **kwargs) -> None:
    """A case accepted: queue its SEG for each destination whose link asks for it."""
    from .sending import queue_on_accept

    queue_on_accept(case)


annotation_events.case_accepted.connect(send_accepted, dispatch_uid="pacs.send_accepted")
