# A round's gate verdict also lives on its candidate's metrics (`gate`), where the registry reads
# it when anyone promotes the version (a failed gate then needs a written reason). Rounds that
# finished before this get it copied over.

from django.db import migrations


def forwards(apps, schema_editor):
    TrainingRound = apps.get_model("modelops", "TrainingRound")
    for round_ in TrainingRound.objects.exclude(candidate=None).select_related("candidate"):
        gate = (round_.metrics or {}).get("gate")
        candidate = round_.candidate
        if isinstance(gate, dict) and "gate" not in (candidate.metrics or {}):
            candidate.metrics = {**(candidate.metrics or {}), "gate": gate}
            candidate.save(update_fields=["metrics"])


class Migration(migrations.Migration):
    dependencies = [
        ("modelops", "0003_model_registry_app"),
        ("registry", "0003_metrics_schema"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
