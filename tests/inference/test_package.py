from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_inference_never_imports_django():
    code = (
        "import sys\n"
        "import inference.cache, inference.checkpoint, inference.engine, inference.fetch\n"
        "import inference.metrics, inference.preprocess, inference.sam2_adapter, inference.train\n"
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
