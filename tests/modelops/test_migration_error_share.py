"""Migration 0007: a policy that existed before the error share keeps the fixed margin it was set
up with (1); a new policy gets the default share (0.2)."""

import pytest

from tests.modelops.helpers import migrate, migrate_to_latest

BEFORE = [("modelops", "0006_gate_max_dice_drop")]
AFTER = [("modelops", "0007_gate_error_share")]


@pytest.mark.django_db(transaction=True)
def test_existing_policies_keep_the_fixed_margin_and_new_ones_get_the_share(project):
    try:
        old = migrate(BEFORE).get_model("modelops", "RoundPolicy")
        old.objects.create(project_id=project.pk, promote_margin=0.03)
        new = migrate(AFTER).get_model("modelops", "RoundPolicy")
        kept = new.objects.get(project_id=project.pk)
        assert (kept.promote_margin, kept.promote_error_share) == (0.03, 1.0)
    finally:
        migrate_to_latest()
    from annotator.modelops import rounds
    from tests import factories

    other = factories.project("spleen")
    assert rounds.policy_for(other).promote_error_share == 0.2
