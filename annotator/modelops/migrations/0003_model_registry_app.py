# The model registry left modelops for its own app below the annotation layer
# (docs/architecture.md). Its table keeps its name, so this changes Django's state only: the
# rounds' relations point at registry.ModelVersion, then modelops forgets the model.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("modelops", "0002_training_rounds"),
        ("registry", "0001_initial"),
        ("annotations", "0003_model_registry_app"),
        ("metrics", "0003_model_registry_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="traininground",
                    name="base_model",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rounds_based_on",
                        to="registry.modelversion",
                    ),
                ),
                migrations.AlterField(
                    model_name="traininground",
                    name="candidate",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="registry.modelversion",
                    ),
                ),
                migrations.DeleteModel(name="ModelVersion"),
            ],
        ),
    ]
