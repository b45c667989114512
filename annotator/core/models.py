"""Model mixins shared by the apps."""

from __future__ import annotations


class WriteOnce:
    """Rows that are never changed once stored (mask revisions, training snapshots): history
    and reproducibility rest on it. Saving a stored row raises."""

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError(f"{self._meta.verbose_name_plural} are immutable")
        super().save(*args, **kwargs)
