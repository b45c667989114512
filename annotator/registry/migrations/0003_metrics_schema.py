# Model versions registered before the one metrics schema (registry/quality.py) are rewritten
# into it: bootstrap_model's `heldout_dice`, a round's flat `heldout` summary (filed under its
# project's kind), fetch_medsam2's file name under `source`. read_metrics still reads the old keys,
# so a row this misses keeps showing its figures; reversing leaves the new schema in place.

from django.db import migrations


def forwards(apps, schema_editor):
    from annotator.registry.quality import kind_of, read_metrics

    ModelVersion = apps.get_model("registry", "ModelVersion")
    for version in ModelVersion.objects.select_related("project").iterator():
        project = version.project
        hint = kind_of(project.kind, project.modality) if project is not None else None
        new = read_metrics(version.metrics, hint)
        if new != version.metrics:
            version.metrics = new
            version.save(update_fields=["metrics"])


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_quality_floor_and_override")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
