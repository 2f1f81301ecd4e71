"""The linter: a registry of named rules (:mod:`.rules`) and the checks that report them (:mod:`.checks`)."""
from helm_ac.analysis.lint.rules import RULES, Finding, Rule, Severity, has_errors

__all__ = ["RULES", "Finding", "Rule", "Severity", "has_errors"]
