"""{% starter_progress %}: the starter model's training on the models page (live progress)."""

from django import template

from annotator.registry.selectors import starter_progress as progress

register = template.Library()


@register.inclusion_tag("modelops/_starter.html")
def starter_progress() -> dict:
    return {"starter": progress()}
