"""The KRM functions, one module each; fns.registry lists them by CLI name and config kind.

Every function module provides `Config` (a runtime.config.FunctionConfig) and
`transform(rl, config) -> summary`. A function never imports another function's internals:
what two functions share lives in domain/ or runtime/. The profile composes functions
through their public Config and transform only.
"""
