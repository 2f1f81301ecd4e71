"""`helm ac simulate` through real helm 3 and 4."""
import json
from typing import Any
import xml.etree.ElementTree as ET

import pytest
from conftest import EXAMPLES

pytestmark = pytest.mark.helm
WP = str(EXAMPLES / "wordpress")
MIG = str(EXAMPLES / "migrations")


def test_wordpress_waits_for_mariadb(cli, tmp_path):
    r = cli("simulate", "wp", WP, "-o", "json", "--svg", str(tmp_path / "t.svg"), "--html", str(tmp_path / "t.html"))
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    obj = {o["key"]: o for o in doc["objects"]}
    mariadb_done = max(o["end"] for k, o in obj.items() if "mariadb" in k)
    assert all(o["start"] >= mariadb_done for k, o in obj.items() if "wp-wordpress" in k)
    assert doc["ok"] and doc["makespan"] == doc["criticalPath"]["seconds"] == 182
    assert doc["waveMakespan"] >= doc["makespan"]
    svg = ET.parse(tmp_path / "t.svg").getroot()
    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect") if r.find("{http://www.w3.org/2000/svg}title")
            is not None]
    assert svg.tag.endswith("svg") and sorted(b[0].text.split(":")[0] for b in bars) == sorted(obj)
    assert (tmp_path / "t.html").read_text().startswith("<!DOCTYPE html>")


def test_text_timeline(cli):
    r = cli("simulate", "wp", WP)
    assert r.code == 0
    assert "makespan 3m2s; critical path 3m2s; a wave-based run (level by level) would take 3m12s" in r.out
    assert "deployment/wp-wordpress" in r.out and "█" in r.out and "✔ succeeded: 11 ready" in r.out


def test_what_if_the_migration_job_fails(cli):
    r = cli("simulate", "app", MIG, "--fail", "job/app-migrations-migrate", "-o", "json")
    assert r.code == 1
    doc = json.loads(r.out)
    states = {o["key"]: o["state"] for o in doc["objects"]}
    assert states["job/app-migrations-migrate"] == "failed" and states["deployment/app-migrations"] == "blocked"
    job = next(o for o in doc["objects"] if o["key"] == "job/app-migrations-migrate")
    assert job["attempts"] == 3  # retry: "2" in the chart
    reasons = {u["key"]: u["reason"] for u in doc["unfinished"]}
    assert reasons["deployment/app-migrations"] == "blocked by job/app-migrations-migrate"


def test_faults_and_options(cli):
    r = cli("simulate", "app", MIG, "--estimate", "Job=30s", "--slow-api", "1s", "--concurrency", "1", "-o", "json")
    doc = json.loads(r.out)
    assert r.code == 0 and doc["makespan"] > doc["criticalPath"]["seconds"]
    r = cli("simulate", "app", MIG, "--api-error", "job/app-migrations-migrate=2", "-o", "json")
    assert r.code == 0  # retry: "2" absorbs two API errors
    r = cli("simulate", "app", MIG, "--never-ready", "deployment/app-migrations", "--timeout", "5m")
    assert r.code == 1 and "the run timed out" in r.out


def test_bad_fault_reference_is_a_usage_error(cli):
    r = cli("simulate", "app", MIG, "--fail", "job/migrate")
    assert r.code == 2 and "names no object" in r.err and "did you mean job/app-migrations-migrate" in r.err
    r = cli("simulate", "app", MIG, "--slow-api", "soon")
    assert r.code == 2 and "not a duration" in r.err


def test_event_stream_outputs(cli):
    r = cli("simulate", "app", MIG, "-o", "events", "--fail", "job/app-migrations-migrate")
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0] == "[     0.0s] plan: 6 objects, 4 dependencies"
    assert "[   181.0s] deployment/app-migrations: blocked: blocked by job/app-migrations-migrate" in lines
    r = cli("simulate", "app", MIG, "-o", "jsonl")
    events = [json.loads(x) for x in r.out.splitlines()]
    assert events[0]["type"] == "plan" and events[-1]["type"] == "summary" and events[-1]["ok"]
    assert {e["state"] for e in events if e["type"] == "state"} == {"applying", "waiting-ready", "ready"}


def test_live_table_renders_every_object():
    import io

    from helm_ac.engine.events import PlanEvent, State, StateEvent, SummaryEvent
    from helm_ac.output.printers.progress import LiveTable

    out = io.StringIO()
    table = LiveTable(out, live=False)
    for e in [PlanEvent(0, ("job/a", "deployment/b"), 1), StateEvent(0, "job/a", State.APPLYING),
              StateEvent(60, "job/a", State.FAILED, "job failed"),
              StateEvent(60, "deployment/b", State.BLOCKED, "blocked by job/a", 0, ("job/a",)),
              SummaryEvent(60, False, {"failed": 1, "blocked": 1}, (), 60)]:
        table(e)
    text = out.getvalue()
    assert "job/a" in text and "failed" in text and "blocked by job/a" in text and "✖ failed after 60.0s" in text


def _rows(text: str) -> dict[str, list[str]]:
    """The table's last drawing: object -> its cells."""
    import re

    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    out: dict[str, list[str]] = {}
    for line in plain.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and "/" in cells[0]:
            out[cells[0]] = cells
    return out


def test_live_table_shows_what_each_object_waits_for_and_its_elapsed_time():
    """The columns of issue 11's live table: object, state, waiting for, elapsed (from the first
    apply, or the start while pending, to now; frozen once done), message."""
    import io

    from helm_ac.engine.events import PlanEvent, State, StateEvent, SummaryEvent
    from helm_ac.output.printers.progress import LiveTable

    clock = [100.0]
    out = io.StringIO()
    table = LiveTable(out, live=False, clock=lambda: clock[0])
    table(PlanEvent(0, ("statefulset/db", "deployment/web", "job/migrate"), 2))
    table(StateEvent(1, "statefulset/db", State.APPLYING))
    table(StateEvent(1, "job/migrate", State.PENDING, "", 0, ("statefulset/db",)))
    table(StateEvent(1, "deployment/web", State.PENDING, "", 0, ("job/migrate", "statefulset/db")))
    table(StateEvent(2, "statefulset/db", State.WAITING, "0/1 replicas ready"))
    clock[0] += 3.5  # no event for 3.5 s: the table ticks
    rows = _rows(_render(table))
    assert rows["statefulset/db"][1:4] == ["waiting-ready", "", "4.5s"] and rows["statefulset/db"][4] == "0/1 replicas ready"
    assert rows["job/migrate"][1:4] == ["pending", "statefulset/db", "5.5s"]
    assert rows["deployment/web"][2] == "job/migrate, statefulset/db"
    table(StateEvent(9, "statefulset/db", State.READY))
    table(StateEvent(9, "job/migrate", State.APPLYING))
    table(StateEvent(12, "job/migrate", State.FAILED, "BackoffLimitExceeded"))
    table(StateEvent(12, "deployment/web", State.BLOCKED, "blocked by job/migrate", 0, ("job/migrate",)))
    table(SummaryEvent(12, False, {"ready": 1, "failed": 1, "blocked": 1}, (), 12))
    clock[0] += 50  # done: nothing ticks any more
    rows = _rows(out.getvalue())
    assert rows["statefulset/db"][1:4] == ["ready", "", "8.0s"]  # applied at 1, ready at 9
    assert rows["job/migrate"][1:5] == ["failed", "", "3.0s", "BackoffLimitExceeded"]
    assert rows["deployment/web"][1:4] == ["blocked", "job/migrate", "12.0s"]
    assert "t = 12.0s" in out.getvalue()


def _render(table: Any) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=160).print(table.render())
    return buf.getvalue()


@pytest.mark.parametrize("flags,fragment", [
    (["--svg", "/no/such/dir/x.svg"], "--svg /no/such/dir/x.svg: cannot write the file: No such file or directory"),
    (["--html", "/no/such/dir/x.html"], "--html /no/such/dir/x.html: cannot write the file"),
    (["--api-error", "job/app-migrations-migrate=-1"], "--api-error 'job/app-migrations-migrate=-1': the count"),
    (["--api-error", "job/app-migrations-migrate=0"], "must be a whole number ≥ 1"),
    (["--api-error", "job/nope=2"], "--api-error 'job/nope' names no object of the chart"),
    (["--estimate", "no/such=5m"], "--estimate 'no/such' names no object of the chart"),
    (["--estimate", "job/migrate=5m"], "--estimate 'job/migrate' names no object of the chart; "
                                       "did you mean job/app-migrations-migrate?"),
    (["--never-ready", "chart:x"], "--never-ready 'chart:x': name an object, not a chart"),
])
def test_bad_flags_are_usage_errors_naming_the_flag(cli, flags, fragment):
    r = cli("simulate", "app", MIG, *flags)
    assert r.code == 2, (r.code, r.err)
    assert fragment in r.err and "Traceback" not in r.err and "internal error" not in r.err


def test_graph_resolves_estimates_like_simulate(cli):
    r = cli("graph", "app", MIG, "--estimate", "job/migrate=5m")
    assert r.code == 2 and "--estimate 'job/migrate' names no object of the chart; did you mean " \
                           "job/app-migrations-migrate?" in r.err
    r = cli("graph", "app", MIG, "--estimate", "job/app-migrations-migrate=5m", "-o", "json")
    assert r.code == 0
    nodes = {n["id"]: n for n in json.loads(r.out)["nodes"]}
    assert nodes["job/app-migrations-migrate"]["seconds"] == 300


def test_a_failed_run_ends_with_its_failure_not_ten_minutes_later(cli):
    """On main the Service of the blocked Deployment waited 10 minutes for pods and was reported
    timed-out, burying the failed Job."""
    r = cli("simulate", "app", MIG, "--fail", "job/app-migrations-migrate", "-o", "json")
    assert r.code == 1
    doc = json.loads(r.out)
    states = {o["key"]: o["state"] for o in doc["objects"]}
    assert doc["makespan"] == 181 and states["service/app-migrations"] == "ready"
    assert {u["key"]: u["state"] for u in doc["unfinished"]} == {"job/app-migrations-migrate": "failed",
                                                               "deployment/app-migrations": "blocked"}
