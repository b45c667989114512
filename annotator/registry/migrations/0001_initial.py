# The model registry left modelops for its own app below the annotation layer
# (docs/architecture.md). Its table keeps its name, so this changes Django's state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("modelops", "0002_training_rounds"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ModelVersion",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        (
                            "origin",
                            models.CharField(
                                choices=[
                                    ("published", "Published weights"),
                                    ("bootstrap", "Bootstrap (synthetic phantoms)"),
                                    ("round", "Fine-tuning round"),
                                    ("imported", "Imported checkpoint"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("config", models.CharField(max_length=100)),
                        ("checksum", models.CharField(max_length=64)),
                        ("file", models.CharField(max_length=500)),
                        ("metrics", models.JSONField(blank=True, default=dict)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("candidate", "Candidate"),
                                    ("production", "Production"),
                                    ("retired", "Retired"),
                                ],
                                db_index=True,
                                default="candidate",
                                max_length=16,
                            ),
                        ),
                        ("round_number", models.PositiveIntegerField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("promoted_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "parent",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="children",
                                to="registry.modelversion",
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="model_versions",
                                to="projects.project",
                            ),
                        ),
                        (
                            "replaced",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="registry.modelversion",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "modelops_modelversion",
                        "ordering": ["-created_at", "-id"],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(
                                    ("project__isnull", False), ("status", "production")
                                ),
                                fields=("project",),
                                name="one_production_per_project",
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(
                                    ("project__isnull", True), ("status", "production")
                                ),
                                fields=("status",),
                                name="one_global_production",
                            ),
                        ],
                    },
                ),
            ],
        ),
    ]
