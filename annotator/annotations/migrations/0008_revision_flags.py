# A model revision's pre-segmentation checks (issue #14 item 4).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotations", "0007_maskrevision_measures"),
    ]

    operations = [
        migrations.AddField(
            model_name="maskrevision",
            name="flags",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
