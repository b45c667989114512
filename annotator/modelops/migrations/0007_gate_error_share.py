from django.db import migrations, models


class Migration(migrations.Migration):
    """The gate's share of production's remaining error. Existing policies get 1 (the fixed
    margin they were set up with: nothing an admin chose loosens by itself); new ones 0.2."""

    dependencies = [
        ("modelops", "0006_gate_max_dice_drop"),
    ]

    operations = [
        migrations.AddField(
            model_name="roundpolicy",
            name="promote_error_share",
            field=models.FloatField(default=1.0),
        ),
        migrations.AlterField(
            model_name="roundpolicy",
            name="promote_error_share",
            field=models.FloatField(default=0.2),
        ),
    ]
