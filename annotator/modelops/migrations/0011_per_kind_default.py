"""A model per kind of image becomes the default round policy (docs/inference.md, "A model per
kind of image"). Projects that exist keep the one shared model they had: a policy row is written
for each project that had none yet (its rounds read the old default), and rows kept their value."""

from django.db import migrations, models


def keep_shared(apps, schema_editor):
    project_model = apps.get_model("projects", "Project")
    policy_model = apps.get_model("modelops", "RoundPolicy")
    have = set(policy_model.objects.values_list("project_id", flat=True))
    policy_model.objects.bulk_create(
        policy_model(project_id=pk, per_kind=False)
        for pk in project_model.objects.values_list("pk", flat=True)
        if pk not in have
    )


class Migration(migrations.Migration):
    dependencies = [
        ("modelops", "0010_check_min_dice"),
    ]

    operations = [
        migrations.RunPython(keep_shared, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="roundpolicy",
            name="per_kind",
            field=models.BooleanField(default=True),
        ),
    ]
