# The audit trail sits below the projects layer (every service writes to it), so it keeps a
# project's id instead of a relation to projects.Project (docs/architecture.md). The column
# stays project_id with its index; only the foreign-key constraint goes. Deleting a project
# still clears the id (annotator/projects/receivers.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="project",
            field=models.ForeignKey(
                blank=True,
                null=True,
                db_constraint=False,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="projects.project",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="auditevent", name="project"),
                migrations.AddField(
                    model_name="auditevent",
                    name="project_id",
                    field=models.BigIntegerField(blank=True, db_index=True, null=True),
                ),
            ],
        ),
    ]
