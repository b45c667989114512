"""Migration 0011: projects that existed keep one shared model (a policy row is written where
there was none, rows keep their value); a project made afterwards gets a model per kind."""

import pytest

from tests.modelops.helpers import migrate, migrate_to_latest

BEFORE = [("modelops", "0010_check_min_dice")]
AFTER = [("modelops", "0011_per_kind_default")]


@pytest.mark.django_db(transaction=True)
def test_existing_projects_keep_one_shared_model_and_new_ones_get_a_model_per_kind(project):
    from tests import factories

    chose = factories.project("spleen")
    try:
        old = migrate(BEFORE).get_model("modelops", "RoundPolicy")
        assert not old.objects.filter(project_id=project.pk).exists()  # never saved a policy
        old.objects.create(project_id=chose.pk, per_kind=True, steps=50)
        new = migrate(AFTER).get_model("modelops", "RoundPolicy")
        kept = new.objects.get(project_id=project.pk)
        assert kept.per_kind is False  # written by the migration, with the other defaults
        assert kept.steps == 300 and kept.check_min_dice == 0.8
        assert new.objects.get(project_id=chose.pk).per_kind is True  # untouched
        assert new.objects.filter(project_id=chose.pk).count() == 1
    finally:
        migrate_to_latest()
    from annotator.modelops import rounds

    assert rounds.policy_for(project).per_kind is False
    assert rounds.policy_for(factories.project("kidney")).per_kind is True
