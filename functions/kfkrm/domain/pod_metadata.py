"""What PodTemplateLabels and PodTemplateAnnotations share: select, walk, set, report."""
from __future__ import annotations

from ..runtime.podtemplates import has_pod_template, pod_template, set_template_metadata
from ..runtime.results import error, info, warn
from ..runtime.selectors import select


def apply_to_pod_templates(rl, config, key: str, values: dict) -> str:
    selected = [i for i in select(rl.items, config.include, config.exclude) if has_pod_template(i)]
    if config.include and not selected:
        error(rl, f"include selects no workload with a pod template; nothing would get the {key}")
        return ""
    changed = 0
    for item in selected:
        tpl = pod_template(item)
        if tpl is None:
            warn(rl, f"{item.kind} has no pod template; skipped", item)
            continue
        keys = set_template_metadata(rl, tpl, key, values)
        if keys:
            changed += 1
            info(rl, f"set pod-template {key}: {', '.join(keys)}", item, tpl.field("metadata", key))
    if not selected:
        warn(rl, f"no workload with a pod template in the input; no {key} set")
    return f"set {key} on {changed} pod templates ({len(selected) - changed} of {len(selected)} selected already up to date)"
