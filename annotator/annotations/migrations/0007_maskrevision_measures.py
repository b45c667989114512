# What a revision's mask measures (issue #16 item 2): volume_ml, RECIST-style long and short
# axis on the key slice (annotations.measure).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0006_target_name_note_delete_revision_number"),
    ]

    operations = [
        migrations.AddField(
            model_name="maskrevision",
            name="measures",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
