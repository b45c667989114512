from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("modelops", "0009_round_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="roundpolicy",
            name="check_min_dice",
            field=models.FloatField(default=0.8),
        ),
    ]
