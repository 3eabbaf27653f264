"""Field paths as results and messages spell them (kyaml's style: `spec.template.metadata`)."""


def field_path(parts) -> str:
    """`spec.template.metadata` style, with [i] for list indexes."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif "." in p or "/" in p:
            out += f'["{p}"]'  # a label or annotation key
        else:
            out += ("." if out else "") + p
    return out
