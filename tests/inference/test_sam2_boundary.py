"""Only inference/sam2_adapter.py may touch sam2's internals (a static check of the source).

In ``inference/`` (strict): no attribute access ``x._name`` or ``getattr(x, "_name")`` unless
``x`` is ``self`` or ``cls``: the types of objects are unknown to an AST walk, and no code there
needs another object's private attributes, so any such access counts as a possible sam2 one.
Neither may a module import an underscore name (sam2's or another module's), nor index a dict
with, or build a dict from, the keys of sam2's inference state (``sam2_adapter.STATE_KEYS`` and
``OUTPUT_KEYS``). In ``bench/`` and ``annotator/`` (where Django's ``_meta`` and namedtuple's
``_replace`` are legitimate): no access to an underscore name that sam2 itself defines, and no
import of a private sam2 name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sam2

from inference import sam2_adapter

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "inference" / "sam2_adapter.py"
STRICT = ("inference",)
NAMED = ("bench", "annotator")
SAM2_KEYS = frozenset(sam2_adapter.STATE_KEYS + sam2_adapter.OUTPUT_KEYS)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def sam2_private_names() -> frozenset[str]:
    """Underscore names sam2 defines: functions, classes, assignments, ``self._x`` attributes."""
    names: set[str] = set()
    for path in Path(sam2.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.id if isinstance(node, ast.Name) else node.attr)
    return frozenset(n for n in names if _private(n))


def violations(source: str, strict: bool, sam2_names: frozenset[str]) -> list[str]:
    """``line: what`` for every touch of sam2 internals in ``source``."""
    found = []

    def touches(name: str, owner: ast.expr | None) -> bool:
        if not _private(name):
            return False
        if strict:
            return not (isinstance(owner, ast.Name) and owner.id in {"self", "cls"})
        return name in sam2_names

    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = getattr(node, "module", None) or ""
            paths = [module] if isinstance(node, ast.ImportFrom) else []
            paths += [alias.name for alias in node.names if isinstance(node, ast.Import)]
            imported = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            from_sam2 = any(p == "sam2" or p.startswith("sam2.") for p in paths)
            dotted = [part for p in paths for part in p.split(".")]
            if (from_sam2 or strict) and any(_private(n) for n in dotted + imported):
                found.append(f"{line}: imports a private name ({module or paths})")
        elif isinstance(node, ast.Attribute) and touches(node.attr, node.value):
            found.append(f"{line}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and touches(node.args[1].value, node.args[0])
        ):
            found.append(f"{line}: {node.func.id}(..., {node.args[1].value!r})")
        elif strict and isinstance(node, ast.Subscript | ast.Dict):
            keys = [node.slice] if isinstance(node, ast.Subscript) else node.keys
            for key in keys:
                if isinstance(key, ast.Constant) and key.value in SAM2_KEYS:
                    found.append(f"{line}: sam2 state key {key.value!r}")
    return found


def test_only_the_adapter_touches_sam2_internals():
    sam2_names = sam2_private_names()
    found = []
    for top, strict in [(t, True) for t in STRICT] + [(t, False) for t in NAMED]:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == ADAPTER or "migrations" in path.parts:
                continue
            for hit in violations(path.read_text(encoding="utf-8"), strict, sam2_names):
                found.append(f"{path.relative_to(ROOT)}:{hit}")
    assert not found, "sam2 internals outside inference/sam2_adapter.py:\n" + "\n".join(found)


def test_sam2_private_names_are_found():
    names = sam2_private_names()
    assert {"_run_single_frame_inference", "_track_step", "_prepare_backbone_features"} <= names
    assert "init_state" not in names and "__init__" not in names


PLANTED = [
    ("out = model._run_single_frame_inference(state)", True),
    ("model._track_step(1)", False),
    ("getattr(model, '_encode_memory_in_output')(x)", True),
    ("getattr(model, '_encode_memory_in_output')(x)", False),
    ("from sam2.sam2_video_predictor import _load_img_as_tensor", False),
    ("import sam2._C", False),
    ("from inference.train_data import _resize", True),
    ("x = state['output_dict_per_obj']", True),
    ("out = {'point_coords': c, 'point_labels': l}", True),
    ("other._store.clear()", True),
]


@pytest.mark.parametrize(("source", "strict"), PLANTED)
def test_the_check_catches_a_planted_touch(source, strict):
    assert violations(source, strict, sam2_private_names())


ALLOWED = [
    ("self._store.clear()", True),
    ("cls._cache = {}", True),
    ("x = model.__class__.__name__", True),
    ("model.add_new_points_or_box(state, 0, 1, box=box)", True),
    ("from sam2.build_sam import build_sam2_video_predictor", True),
    ("opts = Model._meta", False),
    ("parts._replace(path='/x')", False),
    ("logits['forward'] = {}", True),
]


@pytest.mark.parametrize(("source", "strict"), ALLOWED)
def test_the_check_allows_public_and_own_names(source, strict):
    assert not violations(source, strict, sam2_private_names())
