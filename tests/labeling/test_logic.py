"""Pure logic of the annotation stage, no server: parsing, idle cap, labels, spend, budget, client
retries (mocked transport), state store, label set and label config (any number of classes), the
simulated annotators' plan, server guards."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from assets.annotation.annotations import budget_check_result
from labeling.client import LabelStudioAuthError, LabelStudioClient, LabelStudioError, LabelStudioUnavailable
from labeling.label_set import MAX_CHOICES, MAX_LABEL_CHARS, LabelSetError, check_choices, decide_label_set
from labeling.labels import annotator_agreement, task_labels
from labeling.replay import ReplayConfig, plan_annotations
from labeling.resource import LabelStudioResource
from labeling.server import ServerError, ServerPaths, credentials, port_is_free, up
from labeling.spend import budget_status, forecast, markdown_table, per_annotator
from labeling.store import SyncState, load_state, save_state
from labeling.sync import ChangedTask, active_seconds, parse_annotation
from labeling.tasks import INLINE_MAX, choice_result, config_choices, ensure_project, label_config

CHOICES = ("negative", "positive")
T0 = "2026-11-01T10:00:00.000000Z"
TOKEN = "feedfacefeedfacefeedfacefeedfacefeedface"


def raw(
    aid: int = 1,
    *,
    label: str | None = "positive",
    lead: Any = 30.0,
    by: Any = 7,
    cancelled: bool = False,
    result: Any = None,
    updated: str = T0,
) -> dict[str, Any]:
    return {
        "id": aid,
        "completed_by": by,
        "lead_time": lead,
        "was_cancelled": cancelled,
        "created_at": T0,
        "updated_at": updated,
        "result": result if result is not None else (choice_result(label) if label else []),
    }


def parse(r: dict[str, Any], task_id: int = 10, cap_s: float = 300.0) -> Any:
    return parse_annotation(
        r,
        task_id,
        choices=CHOICES,
        users={7: "alice", 8: "bob", 9: "cat"},
        idle_cap_s=cap_s,
        max_lead_time_s=86_400.0,
    )


@pytest.mark.parametrize(
    ("lead_s", "cap_s", "active_s", "capped"),
    [
        (0.0, 300.0, 0.0, False),
        (299.9, 300.0, 299.9, False),
        (300.0, 300.0, 300.0, False),
        (300.1, 300.0, 300.0, True),
        (7200.0, 300.0, 300.0, True),
        (50.0, 30.0, 30.0, True),
    ],
)
def test_idle_cap_arithmetic(lead_s: float, cap_s: float, active_s: float, capped: bool) -> None:
    assert active_seconds(lead_s, cap_s) == (active_s, capped)
    v = parse(raw(lead=lead_s), cap_s=cap_s)
    assert (v.lead_time_s, v.active_s, v.idle_cap_s) == (lead_s, active_s, cap_s)
    assert ("idle_capped" in v.flags) is capped


def test_valid_and_skipped() -> None:
    v = parse(raw())
    assert (v.annotator, v.label, v.reject_reason, v.task_id) == ("alice", "positive", None, 10)
    assert v.created_at == dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    s = parse(raw(label=None, cancelled=True, lead=42.0))
    assert (s.label, s.reject_reason, s.active_s, s.was_cancelled) == (None, None, 42.0, True)
    assert "skipped" in s.flags
    assert parse(raw(by=99)).annotator == "user-99"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"by": None}, "no_completed_by"),
        ({"lead": None}, "null_lead_time"),
        ({"lead": -1.0}, "negative_lead_time"),
        ({"lead": 1e9}, "huge_lead_time"),
        ({"lead": float("nan")}, "bad_lead_time"),
        ({"lead": "abc"}, "bad_lead_time"),
        ({"label": None}, "empty_result"),
        ({"label": "maybe"}, "choice_not_in_config"),
        ({"result": [{"value": {"choices": ["negative", "positive"]}}]}, "multiple_choices"),
        ({"result": [{"value": {"text": ["x"]}}]}, "empty_result"),
    ],
)
def test_malformed_are_rejected_with_reason(kwargs: dict[str, Any], reason: str) -> None:
    v = parse(raw(**kwargs))
    assert v.reject_reason == reason and v.label is None
    assert f"rejected:{reason}" in v.flags
    if "lead" in kwargs:
        assert v.lead_time_s is None and v.active_s is None and "raw_lead_time=" in v.flags


def test_majority_ties_and_agreement() -> None:
    vs = [
        parse(raw(1, label="positive", by=7), 1),
        parse(raw(2, label="positive", by=8), 1),
        parse(raw(3, label="negative", by=9), 1),
        parse(raw(4, label="positive", by=7), 2),
        parse(raw(5, label="negative", by=8), 2),
        parse(raw(6, label="negative", by=9), 3),
        parse(raw(7, label=None, cancelled=True, by=7), 3),
        parse(raw(8, label="maybe", by=8), 3),
    ]
    labels = task_labels(vs)
    assert (labels[1].label, labels[1].n_annotations, labels[1].agreement) == (
        "positive",
        3,
        pytest.approx(2 / 3),
    )
    assert (labels[2].label, labels[2].agreement) == (None, 0.5)  # tie
    assert (labels[3].label, labels[3].n_annotations, labels[3].agreement) == ("negative", 1, 1.0)
    assert annotator_agreement(vs, labels) == {"alice": 1.0, "bob": 1.0, "cat": 0.0}


def test_per_annotator_hours_cost_and_table() -> None:
    vs = [
        parse(raw(1, lead=1800.0, by=7), 1, cap_s=3600.0),
        parse(raw(2, lead=7200.0, by=7), 2, cap_s=3600.0),
        parse(raw(3, lead=900.0, by=8, label=None, cancelled=True), 3, cap_s=3600.0),
    ]
    rows_default = per_annotator(vs, task_labels(vs), lambda a: {"alice": 20.0}.get(a, 10.0))
    rows = {r.annotator: r for r in rows_default}
    a, b = rows["alice"], rows["bob"]
    assert (a.annotations, a.raw_h, a.active_h, a.cost_usd, a.labels, a.labels_per_h) == (
        2,
        2.5,
        1.5,
        30.0,
        2,
        2 / 1.5,
    )
    assert (b.annotations, b.skipped, b.active_h, b.cost_usd, b.labels, b.labels_per_h) == (
        1,
        1,
        0.25,
        2.5,
        0,
        0.0,
    )
    md = markdown_table(rows_default)
    assert (
        md.splitlines()[0].startswith("| annotator | annotations |")
        and "| alice | 2 | 0 | 0 | 2.500 | 1.500 |" in md
    )
    assert "**total**" in md and "32.50" in md


def test_forecast_and_budget_levels() -> None:
    vs = [parse(raw(i, lead=lead), i) for i, lead in enumerate([10.0, 20.0, 30.0, 900.0], 1)]
    fc = forecast(total_tasks=104, labelled_tasks=4, versions=vs, usd_per_hour=18.0)
    assert (fc.remaining_tasks, fc.median_active_s) == (100, 25.0)
    assert fc.cost_to_finish_usd == pytest.approx(100 * 25 / 3600 * 18)
    assert forecast(10, 0, [], 18.0).cost_to_finish_usd is None
    assert [budget_status(s, 100.0).level for s in (0.0, 79.99, 80.0, 99.99, 100.0, 250.0)] == [
        "ok",
        "ok",
        "warn",
        "warn",
        "error",
        "error",
    ]
    assert budget_status(0.0, 0.0).level == "error"
    warn, err, ok = (
        budget_check_result(85.0, 100.0, 0.8),
        budget_check_result(100.0, 100.0, 0.8),
        budget_check_result(1, 100, 0.8),
    )
    assert (warn.passed, warn.severity.value, err.passed, err.severity.value, ok.passed) == (
        False,
        "WARN",
        False,
        "ERROR",
        True,
    )


def test_state_roundtrip_merge_and_deletions(tmp_path: Path) -> None:
    path = tmp_path / "s" / "annotations.parquet"
    assert load_state(path).cursor is None
    state = SyncState()
    t1 = dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)
    v1, v2 = parse(raw(1), 10), parse(raw(2, by=8), 10)
    first = state.merge([ChangedTask(10, t1, [])], {10: [v1, v2]})
    assert len(first.new_versions) == 2 and state.cursor == t1
    save_state(path, state)
    again = load_state(path)
    assert again.annotations == state.annotations and again.cursor == t1
    assert again.resume_bound(5.0) == t1 - dt.timedelta(seconds=5)  # no server time known: cursor
    again.fetched_at = t1 + dt.timedelta(minutes=10)
    save_state(path, again)
    again = load_state(path)
    assert again.resume_bound(5.0) == t1 + dt.timedelta(minutes=10, seconds=-5)
    # same versions again (lookback overlap): nothing new; annotation 2 deleted in LS: dropped
    t2 = t1 + dt.timedelta(seconds=5)
    second = again.merge([ChangedTask(10, t2, [])], {10: [v1]})
    assert second.new_versions == [] and second.removed_ids == [2] and again.cursor == t2
    newer = parse(raw(1, lead=99.0, updated="2026-11-01T10:00:09Z"), 10)
    assert again.merge([ChangedTask(10, t2, [])], {10: [newer]}).new_versions == [newer]


def test_filter_time_always_has_microseconds() -> None:
    from labeling.sync import filter_time

    assert filter_time(dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)) == "2026-11-01T10:00:00.000000Z"
    cet = dt.timezone(dt.timedelta(hours=1))
    assert filter_time(dt.datetime(2026, 11, 1, 11, 0, 0, 5, tzinfo=cet)) == "2026-11-01T10:00:00.000005Z"


def test_label_config_and_choice_result() -> None:
    xml = label_config(["neg", 'a "quoted" one'])
    assert '<Choice value="neg"/>' in xml and "&quot;quoted&quot;" in xml and 'value="$text"' in xml
    assert config_choices(xml) == ["neg", 'a "quoted" one']
    assert 'showInline="true"' in xml  # two choices on one line
    with pytest.raises(LabelSetError, match="'a' is listed twice"):
        label_config(["a", "a"])
    assert choice_result("neg")[0]["value"] == {"choices": ["neg"]}


def test_label_config_for_four_classes_escapes_every_value() -> None:
    import xml.etree.ElementTree as ET

    labels = ["world", "R&D <science>", 'sport’s "best"', "Ünïcode & 'quotes'"]
    xml = label_config(labels)
    root = ET.fromstring(xml)  # well-formed
    [choices] = root.iter("Choices")
    assert (choices.get("name"), choices.get("toName"), choices.get("choice")) == ("label", "text", "single")
    assert [c.get("value") for c in choices.iter("Choice")] == labels  # every value, in order, unescaped
    assert config_choices(xml) == labels
    assert "&amp;" in xml and "&lt;science&gt;" in xml and "&quot;best&quot;" in xml
    many = [f"class {i}" for i in range(INLINE_MAX + 1)]
    assert "showInline" not in label_config(many) and config_choices(label_config(many)) == many


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ([], "0 label(s) []: a classifier needs at least 2"),
        (["only"], "1 label(s) ['only']"),
        (["a", "b", "a"], "'a' is listed twice"),
        (["News", "news"], "'news' differs from 'News' only in letter case"),
        (["a", ""], "label '' is empty"),
        (["a", "   "], "label '   ' is empty"),
        (["a", " b"], "' b' has leading or trailing whitespace"),
        (["a", "b\nc"], "control or non-character"),
        (["a", "x" * (MAX_LABEL_CHARS + 1)], f"is {MAX_LABEL_CHARS + 1} characters long"),
        ([f"c{i}" for i in range(MAX_CHOICES + 1)], f"{MAX_CHOICES + 1} labels: at most {MAX_CHOICES}"),
    ],
)
def test_ill_formed_label_sets_are_refused(labels: list[str], problem: str) -> None:
    with pytest.raises(LabelSetError, match="ill-formed label set") as info:
        check_choices(labels)
    assert problem in str(info.value)
    with pytest.raises(LabelSetError):
        label_config(labels)


def test_label_set_limit_accepts_the_maximum() -> None:
    labels = [f"c{i}" for i in range(MAX_CHOICES)]
    check_choices(labels)
    assert len(config_choices(label_config(labels))) == MAX_CHOICES


def _corpus(path: Path, source: list[str | None], gold: list[str | None] | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(source)
    pq.write_table(
        pa.table(
            {
                "row_id": [f"r{i}" for i in range(n)],
                "text": [f"text {i}" for i in range(n)],
                "split": ["train"] * n,
                "source_label": pa.array(source, pa.string()),
                "gold_label": pa.array(gold if gold is not None else source, pa.string()),
            }
        ),
        path,
    )
    return path


def test_label_set_derived_from_the_corpus_in_a_stable_order(tmp_path: Path) -> None:
    labels = ["sports", None, "world", "business", "science", "world", None, "business"]
    a = decide_label_set([], _corpus(tmp_path / "a.parquet", labels))
    assert a.choices == ("business", "science", "sports", "world") and a.derived
    assert a.without_corpus_rows == ()
    b = decide_label_set([], _corpus(tmp_path / "b.parquet", list(reversed(labels))))
    assert b.choices == a.choices  # row order does not matter
    numeric = decide_label_set([], _corpus(tmp_path / "n.parquet", ["10", "2", "1", "2"]))
    assert numeric.choices == ("1", "2", "10")
    # a gold label no source row carries (the eval split's, the simulation's) joins the set
    gold_only = decide_label_set([], _corpus(tmp_path / "g.parquet", ["a", "b", None], ["a", "b", "c"]))
    assert gold_only.choices == ("a", "b", "c")
    # no source labels at all: the gold labels (write_corpus-style corpora)
    assert decide_label_set([], _corpus(tmp_path / "o.parquet", [None, None], ["x", "y"])).choices == (
        "x",
        "y",
    )


def test_configured_label_set_is_kept_and_checked_against_the_corpus(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "c.parquet", ["world", "sports", "business", "science"])
    kept = decide_label_set(["world", "sports", "business", "science", "health"], corpus)
    assert kept.choices == ("world", "sports", "business", "science", "health") and not kept.derived
    assert kept.without_corpus_rows == ("health",)
    with pytest.raises(
        LabelSetError, match=r"do not cover the corpus's labels \['science', 'sports'\]"
    ) as info:
        decide_label_set(["world", "business"], corpus)
    assert "leave choices empty to use the corpus's labels ['business', 'science', 'sports', 'world']" in str(
        info.value
    )
    with pytest.raises(LabelSetError, match="listed twice"):
        decide_label_set(["world", "world", "sports", "business", "science"], corpus)


def test_label_set_refusals_name_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LabelSetError, match=r"1 distinct label\(s\) \['x'\].*set annotation_policy.choices"):
        decide_label_set([], _corpus(tmp_path / "one.parquet", ["x", "x", None]))
    with pytest.raises(LabelSetError, match=r"0 distinct label\(s\).*label_column"):
        decide_label_set([], _corpus(tmp_path / "none.parquet", [None, None], [None, None]))
    with pytest.raises(LabelSetError, match="clean the label column") as info:
        decide_label_set([], _corpus(tmp_path / "ws.parquet", ["pos", " pos", "neg"]))
    assert "' pos' has leading or trailing whitespace" in str(info.value)
    # a configured set works for a corpus without labels
    unlabelled = _corpus(tmp_path / "u.parquet", [None], [None])
    assert decide_label_set(["a", "b", "c"], unlabelled).without_corpus_rows == ("a", "b", "c")


def _projects_server(existing_config: str | None) -> tuple[LabelStudioClient, list[str]]:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(f"{req.method} {req.url.path}")
        if req.method == "GET" and req.url.path == "/api/projects/":
            found = [{"id": 5, "title": "p", "label_config": existing_config}] if existing_config else []
            return httpx.Response(200, json={"results": found, "next": None})
        if req.method == "POST" and req.url.path == "/api/projects/":
            return httpx.Response(201, json={"id": 6})
        return httpx.Response(500)

    c, _ = _client(handler)
    return c, calls


def test_ensure_project_creates_checks_and_refuses_another_label_set() -> None:
    four = ["business", "science", "sports", "world"]
    c, calls = _projects_server(None)
    assert ensure_project(c, "p", four) == (6, True)
    assert calls == ["GET /api/projects/", "POST /api/projects/"]
    # the same choices in another order: kept as they are (no PATCH, nothing created)
    c, calls = _projects_server(label_config(list(reversed(four))))
    assert ensure_project(c, "p", four) == (5, False) and calls == ["GET /api/projects/"]
    # another label set: refused, nothing changed on the server, the message says what to do
    c, calls = _projects_server(label_config(["negative", "positive"]))
    with pytest.raises(LabelSetError) as info:
        ensure_project(c, "p", four)
    assert calls == ["GET /api/projects/"]
    message = str(info.value)
    assert "offers the choices ['negative', 'positive']" in message and str(four) in message
    assert "annotation_policy.project_title" in message and "Labeling Interface" in message
    c, calls = _projects_server(None)
    with pytest.raises(LabelSetError):  # an ill-formed set never reaches the server
        ensure_project(c, "p", ["a"])
    assert calls == []


FOUR = ("business", "science", "sports", "world")


def _plan(n_tasks: int = 400, **kw: Any) -> tuple[list[Any], dict[str, str | None]]:
    gold: dict[str, str | None] = {f"r{i}": FOUR[(i * 7) % 4] for i in range(n_tasks)}
    tasks = [(1000 + i, f"r{i}") for i in range(n_tasks)]
    cfg = ReplayConfig(**kw)
    return plan_annotations(tasks, gold, FOUR, ["a@x", "b@x", "c@x", "d@x"], cfg), gold


def test_replay_plan_for_four_classes() -> None:
    plan, gold = _plan(error_rate=0.2, skip_rate=0.05)
    assert plan == _plan(error_rate=0.2, skip_rate=0.05)[0]  # seeded
    assert plan != _plan(error_rate=0.2, skip_rate=0.05, seed=8)[0]
    given = [a for a in plan if a.label is not None]
    assert {a.label for a in given} == set(FOUR)  # every class is given
    truth = {a.task_id: gold[f"r{a.task_id - 1000}"] for a in plan}
    assert all(a.label == truth[a.task_id] for a in given if not a.wrong)
    wrong = [a for a in given if a.wrong]
    assert all(a.label in FOUR and a.label != truth[a.task_id] for a in wrong)
    assert 0.12 < len(wrong) / len(given) < 0.28  # ~20 %
    assert {a.label for a in wrong} == set(FOUR)  # errors land on every other class, not one
    assert all(a.truth_from_gold for a in plan)
    assert 0.01 < sum(a.label is None for a in plan) / len(plan) < 0.1  # ~5 % skipped
    assert len({a.task_id for a in plan}) == 400 and len(plan) > 400  # some tasks get 2 annotators


def test_replay_plan_without_a_usable_gold_label_and_with_too_few_choices() -> None:
    tasks = [(1, "r1"), (2, "r2")]
    cfg = ReplayConfig(error_rate=0.0, skip_rate=0.0, target_overlap=1)
    plan = plan_annotations(tasks, {"r1": None}, FOUR, ["a@x"], cfg)
    assert [a.truth_from_gold for a in plan] == [False, False] and {a.label for a in plan} <= set(FOUR)
    with pytest.raises(ValueError, match="at least 2 choices"):
        plan_annotations(tasks, {}, ["only"], ["a@x"], ReplayConfig())


def test_majority_and_agreement_with_four_classes() -> None:
    def v(aid: int, task: int, who: int, label: str) -> Any:
        return parse_annotation(
            raw(aid, label=label, by=who), task, choices=FOUR, users={7: "al", 8: "bo", 9: "cy", 6: "di"},
            idle_cap_s=300.0, max_lead_time_s=86_400.0,
        )  # fmt: skip

    versions = [
        v(1, 10, 7, "world"), v(2, 10, 8, "world"), v(3, 10, 9, "sports"), v(4, 10, 6, "science"),
        v(5, 11, 7, "world"), v(6, 11, 8, "sports"), v(7, 11, 9, "science"),  # three-way tie
        v(8, 12, 7, "business"),
    ]  # fmt: skip
    labels = task_labels(versions)
    assert (labels[10].label, labels[10].n_annotations, labels[10].agreement) == ("world", 4, 0.5)
    assert labels[11].label is None and labels[11].agreement == pytest.approx(1 / 3)
    assert (labels[12].label, labels[12].agreement) == ("business", 1.0)
    assert annotator_agreement(versions, labels) == {"al": 1.0, "bo": 1.0, "cy": 0.0, "di": 0.0}


def _client(handler: Any, **kw: Any) -> tuple[LabelStudioClient, list[float]]:
    sleeps: list[float] = []
    c = LabelStudioClient(
        "http://ls.test:8080",
        TOKEN,
        transport=httpx.MockTransport(handler),
        backoff_s=0.1,
        sleep=sleeps.append,
        **kw,
    )
    return c, sleeps


def test_get_retries_5xx_with_backoff_then_succeeds() -> None:
    calls = iter([503, 502, 200])
    c, sleeps = _client(lambda req: httpx.Response(next(calls), json={"ok": 1}))
    assert c.get_json("/api/x") == {"ok": 1}
    assert sleeps == [0.1, 0.2] and c.counter.total.requests == 3


def test_failures_are_bounded_clear_and_token_free() -> None:
    c, sleeps = _client(lambda req: httpx.Response(500, text=f"boom {TOKEN}"), max_attempts=3)
    with pytest.raises(LabelStudioUnavailable) as err:
        c.get_json("/api/x")
    assert "http://ls.test:8080/api/x" in str(err.value) and "3 attempts" in str(err.value)
    assert TOKEN not in str(err.value) and len(sleeps) == 2

    def refuse(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    c, _ = _client(refuse, max_attempts=2)
    with pytest.raises(LabelStudioUnavailable, match="cannot connect"):
        c.post_json("/api/y", {})

    def slow(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=req)

    c, sleeps = _client(slow)
    with pytest.raises(LabelStudioUnavailable, match="not retried"):  # a POST may have been applied
        c.post_json("/api/y", {})
    assert sleeps == []
    c, sleeps = _client(lambda req: httpx.Response(401, json={"detail": "bad"}))
    with pytest.raises(LabelStudioAuthError, match="rejected the API token"):
        c.get_json("/api/x")
    assert sleeps == []
    c, _ = _client(lambda req: httpx.Response(400, json={"detail": "nope"}))
    with pytest.raises(LabelStudioError, match="HTTP 400"):
        c.post_json("/api/y", {})


def test_credentials_are_private_and_busy_port_fails_clearly(tmp_path: Path) -> None:
    paths = ServerPaths.under(tmp_path / "ls", tmp_path / "venv")
    creds = credentials(paths)
    assert len(creds["token"]) == 40 and int(creds["token"], 16) >= 0
    assert paths.credentials.stat().st_mode & 0o777 == 0o600
    assert credentials(paths) == creds  # stable across calls
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(ServerError, match=f"port {port} on 127.0.0.1 is busy"):
            up(paths, port=port, install=False)


def test_definitions_load() -> None:
    from pipelines.definitions import defs

    d = defs()
    keys = {k.to_user_string() for k in d.resolve_asset_graph().get_all_asset_keys()}
    assert {"label_tasks", "annotations"} <= keys
    assert d.resolve_sensor_def("annotations_poll_sensor") is not None


def test_resource_takes_url_and_token_through_envvar(monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    monkeypatch.setenv("LABEL_STUDIO_URL", "http://ls.example:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    resource = LabelStudioResource.from_env()
    assert TOKEN not in repr(resource)  # the config holds the variable's name, not its value
    seen: list[str] = []

    @dg.asset
    def probe(labelstudio: LabelStudioResource) -> None:
        seen.append(labelstudio.resolved_url())
        seen.append(labelstudio.client().url)

    assert dg.materialize([probe], resources={"labelstudio": resource}).success
    assert seen == ["http://ls.example:9", "http://ls.example:9"]
    assert LabelStudioResource.from_env_now().api_key == TOKEN
    monkeypatch.delenv("LABEL_STUDIO_URL")
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    assert LabelStudioResource.from_env().url == ""  # unset: the managed local server


def test_ensure_venv_is_idempotent_and_fails_clearly(tmp_path: Path) -> None:
    from labeling.install import LABEL_STUDIO_SPEC, ensure_venv

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "label-studio").touch()
    (venv / ".footprint-installed").write_text(LABEL_STUDIO_SPEC + "\n")
    assert ensure_venv(venv, python="/bin/false") == venv / "bin" / "label-studio"  # stamped: no pip
    with pytest.raises(ServerError, match=r"installing Label Studio into .* failed"):
        ensure_venv(tmp_path / "other", python="/bin/false")
