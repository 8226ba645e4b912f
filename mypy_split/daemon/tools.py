"""`suggest` and `inspect`: the engine's own tools, run on the daemon's fine-grained state."""

from __future__ import annotations

from typing import Any

from mypy.inspections import InspectionEngine
from mypy.suggestions import SuggestionEngine, SuggestionFailure

from mypy_split.daemon.session import Reply, Session


def suggest(session: Session, function: str, callsites: bool, settings: dict[str, Any]) -> Reply:
    """A signature for `function`, or its call sites."""
    fine_grained = session.fine_grained
    if fine_grained is None:
        return {"error": "Command 'suggest' is only valid after a 'check' command (that produces no parse errors)"}
    suggestions = SuggestionEngine(fine_grained, **settings)
    try:
        text = suggestions.suggest_callsites(function) if callsites else suggestions.suggest(function)
    except SuggestionFailure as failure:
        return {"error": str(failure)}
    finally:
        session.flush_caches()
    if not text:
        text = "No suggestions\n"
    elif not text.endswith("\n"):
        text += "\n"
    return {"out": text, "err": "", "status": 0}


def inspect(session: Session, show: str, location: str, settings: dict[str, Any]) -> Reply:
    """The type, attributes or definition of the expression(s) at `location`."""
    fine_grained = session.fine_grained
    if fine_grained is None:
        return {
            "error": 'Command "inspect" is only valid after a "check" command (that produces no parse errors)'
        }
    verbosity = settings.pop("verbosity", 0)
    inspections = InspectionEngine(fine_grained, verbosity=verbosity, **settings)
    options = session.options
    before = options.inspections
    # The engine keeps what inspections need only while this is set.
    options.inspections = True
    try:
        if show == "type":
            result = inspections.get_type(location)
        elif show == "attrs":
            result = inspections.get_attrs(location)
        elif show == "definition":
            result = inspections.get_definition(location)
        else:
            return {"error": f"Unknown inspection kind: {show}"}
    finally:
        options.inspections = before
    reply: Reply = dict(result)
    if isinstance(reply.get("out"), str):
        reply["out"] += "\n"
    return reply
