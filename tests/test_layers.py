"""The layer contract beyond Python imports (which `lint-imports` checks): model relations,
templates a template extends or includes, and URL namespaces a page or template reverses must
also point down. The layer order is the one in pyproject.toml ([tool.importlinter])."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
ANNOTATOR = ROOT / "annotator"
TEMPLATE_REF = re.compile(r"""\{%\s*(?:extends|include)\s+["']([a-z_]+)/""")
URL_REF = re.compile(r"""(?:\{%\s*url\s+|(?:redirect|reverse)\()["']([a-z_]+):""")


def layer_of() -> dict[str, int]:
    """App name → layer (0 is the top); apps sharing a layer are independent siblings."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    order: dict[str, int] = {}
    for index, entry in enumerate(contract["layers"]):
        for module in entry.split("|"):
            order[module.strip().removeprefix("annotator.")] = index
    return order


def allowed(order: dict[str, int], source: str, target: str) -> bool:
    return source == target or order[target] > order[source]


def app_of(path: Path) -> str:
    return path.relative_to(ANNOTATOR).parts[0]


def namespaces() -> dict[str, str]:
    """URL namespace → the app whose urls module declares it."""
    found = {}
    for module in ANNOTATOR.rglob("*urls.py"):
        match = re.search(r"""^app_name\s*=\s*["']([a-z_]+)["']""", module.read_text(), re.M)
        if match:
            found[match.group(1)] = app_of(module)
    return found


def template_dirs() -> dict[str, str]:
    """Template folder name (the prefix of a template name) → the app that holds it."""
    return {d.name: app_of(d) for d in ANNOTATOR.glob("*/templates/*") if d.is_dir()}


def test_model_relations_point_down():
    order = layer_of()
    wrong = []
    for model in apps.get_models():
        source = model._meta.app_label
        if source not in order:
            continue
        for field in model._meta.get_fields():
            if not field.is_relation or field.auto_created or field.related_model is None:
                continue
            target = field.related_model._meta.app_label
            if target in order and not allowed(order, source, target):
                wrong.append(
                    f"{model._meta.label}.{field.name} → {field.related_model._meta.label}"
                )
    assert not wrong, f"relations to a higher (or sibling) layer: {wrong}"


def test_templates_and_url_names_point_down():
    order, owners, spaces = layer_of(), template_dirs(), namespaces()
    assert {"web", "modelops"} <= set(spaces), spaces  # the scan finds the namespaces
    assert "web" in owners and "modelops" in owners, owners
    wrong = []
    for path in [*ANNOTATOR.rglob("*.html"), *ANNOTATOR.rglob("*.py")]:
        if "migrations" in path.parts or app_of(path) not in order:
            continue
        source, text = app_of(path), path.read_text()
        for prefix in TEMPLATE_REF.findall(text):
            if prefix in owners and not allowed(order, source, owners[prefix]):
                wrong.append(f"{path.relative_to(ROOT)} uses the template folder {prefix}/")
        for space in URL_REF.findall(text):
            if space in spaces and not allowed(order, source, spaces[space]):
                wrong.append(f"{path.relative_to(ROOT)} reverses {space}:…")
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [("web", "cases", True), ("cases", "annotations", False), ("web", "demo", False)],
)
def test_the_rule_itself(source, target, ok):
    assert allowed(layer_of(), source, target) is ok
