"""Seeds the fault-test database (run in a subprocess with the stack's environment)."""

from __future__ import annotations

import json
import sys
import tempfile

import django


def main() -> None:
    django.setup()
    import numpy as np
    import torch
    from rest_framework.authtoken.models import Token

    from annotator.registry import services as modelops
    from annotator.registry.models import ModelOrigin
    from inference.checkpoint import save_checkpoint
    from inference.model import STARTER_LARGE as STARTER
    from inference.model import build_model
    from tests import factories

    # The model first: promoting it later would re-pre-segment the unopened cases.
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/starter.pt"
        save_checkpoint(build_model(STARTER), path)  # random weights: slow enough to interrupt
        modelops.promote(
            modelops.register(path, name="slow", origin=ModelOrigin.BOOTSTRAP, config=STARTER),
            override="fault test: random weights, not evaluated",
        )
    annotator = factories.user("annotator")
    project = factories.project("faults", annotator=[annotator])
    rng = np.random.default_rng(0)
    small = [factories.case(project, assignee=annotator, shape_zyx=(16, 64, 64)) for _ in range(4)]
    slow = factories.case(
        project, assignee=annotator, array=rng.integers(-100, 100, (48, 64, 64), dtype=np.int16)
    )
    targets = [factories.target(c).pk for c in small]
    slow_targets = [factories.target(slow, key_index=24, box=[10, 10, 40, 40]).pk for _ in range(2)]
    json.dump(
        {
            "token": Token.objects.create(user=annotator).key,
            "targets": targets,
            "shape": [64, 64, 16],
            "slow_targets": slow_targets,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
