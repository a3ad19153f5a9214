"""Bad input: property-based tests over CreateJobOperator arguments and JobSpec against an independent
oracle written from the CreateJob contract (shared/tia-createjob.md). Every invalid combination raises
JobSpecError naming an invalid field before any API call; no valid combination is refused."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_tia.emulator import TIAEmulator
from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.hooks.tia import TIAHook
from airflow_provider_tia.models.tia.job_spec import API_NAMES, JobSpec
from airflow_provider_tia.operators.tia import CreateJobOperator
from tests.helpers.reliability import FakeTI, context_for

SETTINGS = settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
ACCEPTANCE_SAMPLE = 20

# ------------------------------------------------------------------------------------------ oracle
REQUIRED = ("name", "cluster", "runtime_version")
LISTS = ("package_dir", "command", "args", "runtime_conf")
NON_EMPTY_ITEMS = ("package_dir", "command")
MACHINES = ("master_type", "worker_type", "parameter_server_type")
COUNTS = ("worker_count", "parameter_server_count")
CUSTOM_ONLY = (*MACHINES, *COUNTS)
DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MACHINE = re.compile(r"[0-9]+U[0-9]+G[0-9]+P")
TRUE, FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _count(value: Any, rendered: bool) -> int | None:
    """The count a value stands for, or None when it is not a non-negative integer."""
    if rendered and isinstance(value, str):
        text = value.strip()
        return int(text) if text.isdecimal() else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _flag(value: Any, rendered: bool) -> bool | None:
    if rendered and isinstance(value, str):
        text = value.strip().lower()
        return True if text in TRUE else False if text in FALSE else None
    return value if isinstance(value, bool) else None


def oracle(values: dict[str, Any], rendered: bool) -> tuple[set[str], dict[str, Any]]:
    """(invalid fields, expected CreateJob body). ``rendered``: values come from templates (operator),
    so counts and flags may be text."""
    bad: set[str] = set()
    body: dict[str, Any] = {}
    for field in REQUIRED:
        value = values.get(field)
        if not _nonempty_str(value):
            bad.add(field)
        else:
            body[API_NAMES[field]] = value
    name = values.get("name")
    if isinstance(name, str) and not (len(name) <= 63 and DNS_1123.fullmatch(name)):
        bad.add("name")
    for field in LISTS:
        value = values.get(field)
        if value is None:
            continue
        ok = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        if ok and field in NON_EMPTY_ITEMS:
            ok = all(item.strip() for item in value)
        if ok:
            body[API_NAMES[field]] = list(value)
        else:
            bad.add(field)
    debug = values.get("debug")
    if debug is not None:
        if _flag(debug, rendered) is None:
            bad.add("debug")
        else:
            body["Debug"] = _flag(debug, rendered)
    tier = values.get("scale_tier")
    tier_ok = tier is None or (
        _nonempty_str(tier) and (tier in ("Custom", "CUSTOM") or tier.lower() != "custom")
    )
    if not tier_ok:
        bad.add("scale_tier")
    elif tier is not None:
        body["ScaleTier"] = tier
    custom = tier in ("Custom", "CUSTOM")
    for field in CUSTOM_ONLY:
        value = values.get(field)
        if value is None:
            continue
        if field in MACHINES:
            ok = isinstance(value, str) and MACHINE.fullmatch(value) is not None
            normal = value
        else:
            normal = _count(value, rendered)
            ok = normal is not None
        if not ok or (tier_ok and not custom):
            bad.add(field)
        else:
            body[API_NAMES[field]] = normal
    if tier_ok and custom:
        if values.get("master_type") is None:
            bad.add("master_type")
        for count, machine in (
            ("worker_count", "worker_type"),
            ("parameter_server_count", "parameter_server_type"),
        ):
            if (_count(values.get(count), rendered) or 0) > 0 and values.get(machine) is None:
                bad.add(machine)
    return bad, body


# ------------------------------------------------------------------------------------- strategies
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
names = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["a" * 63, "a" * 64, "Job", "-a", "a-", "a_b", "a.b", "abc\n", " abc", "", "  ", "ａbc"]),
    text,
    st.integers(),
    st.none(),
)
required_text = st.one_of(
    st.sampled_from(["ap-beijing", "cls-abcd1234", "tia-1.7.0", "tfplus-1.6.0-gpu"]),
    st.sampled_from(["", " ", "\n\t"]),
    text,
    st.integers(),
    st.none(),
    st.lists(text, max_size=2),
)
string_lists = st.lists(text.filter(lambda s: not s.strip().startswith("sim.")), max_size=4)
lists = st.one_of(
    st.none(),
    string_lists,
    string_lists.map(tuple),
    st.lists(st.sampled_from(["python", "/opt/code", "train.py"]), min_size=1, max_size=3),
    st.sampled_from(["train.py", "", [""], [" "], ["ok", 3], [None], {"a": "b"}, 7]),
)
tiers = st.one_of(
    st.none(),
    st.sampled_from(["Custom", "CUSTOM", "custom", "cUSTOM", "BASIC", "STANDARD_1", "", " "]),
    text,
    st.integers(0, 3),
)
machines = st.one_of(
    st.none(),
    st.from_regex(r"[0-9]{1,2}U[0-9]{1,3}G[0-9]P", fullmatch=True),
    st.sampled_from(
        ["1U1G0P", "1u1g0p", "1U1G", "1U1G0P\n", " 1U1G0P", "\u0661U1G0P", "", "1U1G0PX", "U1G0P"]
    ),
    text,
    st.integers(),
)
counts = st.one_of(
    st.none(),
    st.integers(-3, 40),
    st.booleans(),
    st.floats(allow_nan=False, width=16),
    st.sampled_from(["3", " 3 ", "03", "three", "3.5", "-1", "", "1e3", "+2", "\u0663", "2\n"]),
    st.integers(0, 99).map(str),
    text,
)
flags = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(0, 1),
    st.sampled_from(["true", "False", " yes ", "ON", "0", "1", "maybe", "", "t"]),
    text,
)

arguments = st.fixed_dictionaries(
    {"name": names, "cluster": required_text, "runtime_version": required_text},
    optional={
        "package_dir": lists,
        "command": lists,
        "args": lists,
        "runtime_conf": lists,
        "scale_tier": tiers,
        "master_type": machines,
        "worker_type": machines,
        "parameter_server_type": machines,
        "worker_count": counts,
        "parameter_server_count": counts,
        "debug": flags,
    },
)

# Valid by construction, so the acceptance sample below never depends on how many valid examples the
# two mixed strategies happen to draw (their draws change whenever this file's source does).
valid_arguments = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True),
        "cluster": st.sampled_from(["ap-beijing", "cls-abcd1234"]),
        "runtime_version": st.sampled_from(["tia-1.7.0", "tfplus-1.6.0-gpu"]),
    },
    optional={
        "command": st.lists(st.sampled_from(["python", "/opt/code/run.sh"]), min_size=1, max_size=2),
        "args": st.lists(st.sampled_from(["train.py", "--epochs", "3"]), max_size=3),
        "debug": st.sampled_from([True, False, "true", "0"]),
    },
)


@st.composite
def custom_arguments(draw) -> dict:
    """Mostly-valid Custom specs, so the Custom rules (and valid specs) are well covered."""
    values = {
        "name": draw(names.filter(lambda n: isinstance(n, str))),
        "cluster": "ap-beijing",
        "runtime_version": "tia-1.7.0",
        "scale_tier": draw(st.sampled_from(["Custom", "CUSTOM", "custom"])),
        "command": ["python"],
        "args": ["train.py"],
    }
    for field, strategy in (
        ("master_type", machines),
        ("worker_type", machines),
        ("parameter_server_type", machines),
        ("worker_count", counts),
        ("parameter_server_count", counts),
        ("debug", flags),
    ):
        if draw(st.booleans()):
            values[field] = draw(st.one_of(st.sampled_from(["1U1G0P", "16U48G1P", 2, "2", 0]), strategy))
    return values


# ------------------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def bad_input_emu():
    with TIAEmulator(runner="simulated", sim_duration=0.2) as emu:
        previous = os.environ.get("AIRFLOW_CONN_TIA_REL_INPUT")
        body = json.loads(emu.connection_uri_json())
        body["extra"]["retry_backoff"] = 0.01
        os.environ["AIRFLOW_CONN_TIA_REL_INPUT"] = json.dumps(body)
        try:
            yield emu
        finally:
            if previous is None:
                os.environ.pop("AIRFLOW_CONN_TIA_REL_INPUT", None)
            else:
                os.environ["AIRFLOW_CONN_TIA_REL_INPUT"] = previous


def _round_trip(spec: JobSpec, expected: dict) -> None:
    body = spec.to_request()
    assert body == expected
    assert JobSpec(**{attr: body.get(api) for attr, api in API_NAMES.items()}) == spec
    assert json.loads(json.dumps(body)) == body


def test_operator_arguments_refused_by_name_before_any_call(bad_input_emu, reliability_results) -> None:
    bad_input_emu.reset_counters()
    tally = {"examples": 0, "valid": 0, "invalid": 0, "misjudged": 0}
    valid_specs: list[JobSpec] = []
    ctx = context_for(FakeTI("tia_rel_input", "t"))

    def check(values: dict) -> None:
        tally["examples"] += 1
        bad_input_emu.reset_counters()
        bad, expected = oracle(values, rendered=True)
        op = CreateJobOperator(task_id="t", tencentcloud_conn_id="tia_rel_input", poll_interval=0.1, **values)
        try:
            if bad:
                tally["invalid"] += 1
                with pytest.raises(JobSpecError) as caught:
                    op.execute(ctx)
                assert caught.value.parameter in bad, (caught.value, bad)
                assert f"Invalid parameter {caught.value.parameter}" in str(caught.value)
            else:
                tally["valid"] += 1
                spec = op.build_spec(ctx)
                _round_trip(spec, expected)
                if len(valid_specs) < ACCEPTANCE_SAMPLE:
                    valid_specs.append(spec)
            assert sum(bad_input_emu.calls.values()) == 0  # refused before any API call
        except BaseException:
            tally["misjudged"] += 1
            raise

    try:
        SETTINGS(given(arguments)(check))()
        SETTINGS(given(custom_arguments())(lambda values: check(values)))()
        settings(SETTINGS, max_examples=ACCEPTANCE_SAMPLE)(
            given(valid_arguments)(lambda values: check(values))
        )()
    finally:
        reliability_results.record(
            "bad input: CreateJobOperator arguments (hypothesis)",
            tally["examples"],
            false_failures=tally["misjudged"],
        )
    assert tally["misjudged"] == 0 and tally["valid"] >= ACCEPTANCE_SAMPLE and tally["invalid"] >= 150

    # A sample of the valid ones: the service accepts them as they are (only the name made unique).
    hook = TIAHook("tia_rel_input")
    for index, spec in enumerate(valid_specs):
        job = hook.create_job(spec.with_name(f"hyp-{index:03d}"))
        stored = bad_input_emu.store.get(spec.cluster, f"hyp-{index:03d}")
        assert job.name == stored["Name"] and spec.with_name(job.name).matches(job)
    assert bad_input_emu.calls["CreateJob"] == len(valid_specs) == ACCEPTANCE_SAMPLE


def test_jobspec_refuses_invalid_and_accepts_valid(reliability_results) -> None:
    tally = {"examples": 0, "misjudged": 0}

    @SETTINGS
    @given(arguments)
    def check(values: dict) -> None:
        tally["examples"] += 1
        bad, expected = oracle(values, rendered=False)
        try:
            if bad:
                with pytest.raises(JobSpecError) as caught:
                    JobSpec(**values)
                assert caught.value.parameter in bad, (caught.value, bad)
                assert caught.value.api_name == API_NAMES[caught.value.parameter]
            else:
                _round_trip(JobSpec(**values), expected)
        except BaseException:
            tally["misjudged"] += 1
            raise

    try:
        check()
    finally:
        reliability_results.record(
            "bad input: JobSpec (hypothesis)", tally["examples"], false_failures=tally["misjudged"]
        )
    assert tally["misjudged"] == 0


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(JobSpecError, match="Invalid parameter worker_cnt: is not a CreateJob parameter"):
        JobSpec.from_kwargs(name="a", cluster="c", runtime_version="r", worker_cnt=2)
