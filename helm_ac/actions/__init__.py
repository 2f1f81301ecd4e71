"""Actions: one module per verb, each an options dataclass plus ``run() -> Result``; no printing, no argv."""
