"""Object references given on the command line (``--fail job/migrate``, ``--estimate job/migrate=5m``),
resolved against the rendered chart exactly as ``depends-on`` references are, with lint's "did you mean"."""
from __future__ import annotations

from typing import Any

from helm_ac.errors import UserError
from helm_ac.kinds import ObjectKey


def resolve(flag: str, ref_text: str, analysis: Any, keys: Any) -> ObjectKey:
    """A command-line object reference (a fault's target, an estimate's object), resolved as
    depends-on resolves references (:func:`helm_ac.analysis.model.find_objects`), with lint's
    "did you mean"."""
    from helm_ac.analysis import model
    from helm_ac.analysis.lint.checks import suggest_object
    from helm_ac.extension import refs

    try:
        ref = refs.parse_ref(ref_text)
    except refs.RefSyntaxError as exc:
        raise UserError(f"{flag} {ref_text!r}: {exc.reason}", hint=exc.hint) from None
    if isinstance(ref, refs.ChartRef):
        raise UserError(f"{flag} {ref_text!r}: name an object, not a chart", hint="e.g. job/migrate")
    matches = model.find_objects(analysis, ref)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        close = suggest_object(analysis, ref)
        names = [keys.key(k) for k in analysis.order]
        raise UserError(f"{flag} {ref_text!r} names no object of the chart" + (f"; did you mean {close}?"
                                                                                if close else ""),
                        hint="objects: " + ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))
    raise UserError(f"{flag} {ref_text!r} matches several objects: {', '.join(keys.key(k) for k in matches)}",
                    hint="qualify it: kind.group/name")


def check_estimates(overrides: dict[str, float], analysis: Any, keys: Any) -> dict[str, float]:
    """Object estimates (kind/name) must name an object of the chart, as --fail does; kinds may be any."""
    out: dict[str, float] = {}
    for key, seconds in overrides.items():
        if "/" in key:
            obj = resolve("--estimate", key, analysis, keys)
            key = f"{obj.kind.lower()}/{obj.name}"
        out[key] = seconds
    return out
