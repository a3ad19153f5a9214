"""TI-ONE bad input: property-based tests (and every edge of each rule) of ``TrainingTaskSpec.from_kwargs`` against an independent oracle
written from the CreateTrainingTask contract (shared/tione-training.md, sections 3.1 and 3.2). Every
invalid combination raises JobSpecError naming an invalid field; every valid one is accepted and becomes
the request the oracle expects; a sample of the valid ones is accepted by the service as it is."""

from __future__ import annotations

import json
import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_tia.exceptions import JobSpecError
from airflow_provider_tia.hooks.tione import TIONEHook
from airflow_provider_tia.models.tione.training_spec import TrainingTaskSpec

SETTINGS = settings(
    deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck), max_examples=200
)
ONE_FIELD_OFF = settings(SETTINGS, max_examples=350)
ACCEPTANCE_SAMPLE = 12

# ------------------------------------------------------------------------------------------ oracle
# The contract's rules, written again here (not imported): a refusal must name one of these fields.
NAME_MAX, TUNING_MAX, REMARK_MAX, DATA_CONFIGS_MAX = 60, 2048, 1024, 10
CHARGE_TYPES = {"PREPAID", "POSTPAID_BY_HOUR"}
ROLES = {"WORKER", "PS", "DRIVER", "EXECUTOR", "HEAD"}  # the contract's roles, and tikit's HEAD (RAY)
ROLE_KEYS = {
    "Role",
    "Cpu",
    "Memory",
    "GpuType",
    "Gpu",
    "InstanceType",
    "InstanceNum",
    "InstanceTypeAlias",
    "RDMAConfig",
}
COS_KEYS = {"Bucket", "Region", "Paths"}
ENV_KEYS = {"Name", "Value", "IsPrivate"}
TAG_KEYS = {"TagKey", "TagValue"}
START_KEYS = {"StartCmd", "PsStartCmd", "WorkerStartCmd"}
DATA_KEYS = {"MappingPath", "DataSourceType", "DataSourceUsage", "COSSource", "ReadOnly"}  # those generated
ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


class Bad(Exception):
    """An invalid value (inside the oracle only)."""


def _name_char(ch: str, first: bool) -> bool:
    """Chinese or English letters and digits; '_' and '-' only after the first character."""
    if ch in string.ascii_letters or ch in string.digits or "\u4e00" <= ch <= "\u9fff":
        return True
    return not first and ch in "_-"


def valid_name(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 1 <= len(value) <= NAME_MAX
        and all(_name_char(ch, i == 0) for i, ch in enumerate(value))
    )


def _text(value: Any, max_len: int | None = None) -> str:
    if not isinstance(value, str) or (max_len is not None and len(value) > max_len):
        raise Bad
    return value


def _choice(value: Any, choices: set[str]) -> str:
    if value not in choices:
        raise Bad
    return value


def _integer(value: Any, low: int) -> int:
    """An integer >= low; text of ASCII digits (what a rendered template gives) stands for its number."""
    if isinstance(value, str) and ASCII_INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise Bad
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise Bad
    return value


def _object(value: Any, keys: set[str], required: set[str]) -> dict[str, Any]:
    """A dict with only these keys, the required ones set (None counts as unset)."""
    if not isinstance(value, dict) or set(value) - keys:
        raise Bad
    if any(value.get(key) is None for key in required):
        raise Bad
    return {key: item for key, item in value.items() if item is not None}


def _list(value: Any, low: int = 0, high: int | None = None) -> list[Any]:
    if not isinstance(value, list | tuple) or len(value) < low or (high is not None and len(value) > high):
        raise Bad
    return list(value)


def _role(value: Any) -> dict[str, Any]:
    role = _object(value, ROLE_KEYS, {"Role", "InstanceNum"})  # a role without a node count means nothing
    out = {"Role": _choice(role["Role"], ROLES), "InstanceNum": _integer(role["InstanceNum"], 1)}
    if "InstanceType" in role:
        out["InstanceType"] = _text(role["InstanceType"])
    for key in ("Cpu", "Memory", "Gpu"):
        if key in role:
            out[key] = _integer(role[key], 0)
    return out


def _cos(value: Any) -> dict[str, Any]:
    cos = _object(value, COS_KEYS, COS_KEYS)
    paths = _list(cos["Paths"], 1, 1)  # TI-ONE supports exactly one path
    return {"Bucket": _text(cos["Bucket"]), "Region": _text(cos["Region"]), "Paths": [_text(paths[0])]}


def _data_config(value: Any) -> dict[str, Any]:
    config = _object(value, DATA_KEYS, set())
    out = {
        key: _text(config[key])
        for key in ("MappingPath", "DataSourceType", "DataSourceUsage")
        if key in config
    }
    if "COSSource" in config:
        out["COSSource"] = _cos(config["COSSource"])
    if "ReadOnly" in config:
        out["ReadOnly"] = _flag(config["ReadOnly"])
    return out


def _pairs(value: Any, key: str, val: str, keys: set[str], required: set[str]) -> list[dict[str, Any]]:
    """A dict {k: v}, or a list of {key: k, val: v} objects (API form)."""
    items = [{key: k, val: v} for k, v in value.items()] if isinstance(value, dict) else _list(value)
    out = []
    for item in items:
        obj = _object(item, keys, required)
        out.append({k: (_flag(v) if k == "IsPrivate" else _text(v)) for k, v in obj.items()})
    return out


def _tuning(value: Any) -> str:
    if isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    return _text(value, TUNING_MAX)


RULES = {
    "charge_type": ("ChargeType", lambda v: _choice(v, CHARGE_TYPES)),
    "resource_config_infos": ("ResourceConfigInfos", lambda v: [_role(r) for r in _list(v, 1)]),
    "resource_group_id": ("ResourceGroupId", _text),
    "code_package_path": ("CodePackagePath", _cos),
    "output_path": ("Output", _cos),
    "data_configs": ("DataConfigs", lambda v: [_data_config(d) for d in _list(v, 0, DATA_CONFIGS_MAX)]),
    "tuning_parameters": ("TuningParameters", _tuning),
    "remark": ("Remark", lambda v: _text(v, REMARK_MAX)),
    "log_enable": ("LogEnable", _flag),
    "start_cmd_info": (
        "StartCmdInfo",
        lambda v: {k: _text(x) for k, x in _object(v, START_KEYS, set()).items()},
    ),
    "envs": ("Envs", lambda v: _pairs(v, "Name", "Value", ENV_KEYS, {"Name"})),
    "tags": ("Tags", lambda v: _pairs(v, "TagKey", "TagValue", TAG_KEYS, TAG_KEYS)),
}


def oracle(values: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """(the invalid fields, the CreateTrainingTask request expected when there are none)."""
    bad: set[str] = set()
    body: dict[str, Any] = {}
    if valid_name(values.get("name")):
        body["Name"] = values["name"]
    else:
        bad.add("name")
    for field in ("charge_type", "resource_config_infos"):  # required
        if values.get(field) is None:
            bad.add(field)
    for field, (api, rule) in RULES.items():
        if values.get(field) is None:
            continue
        try:
            body[api] = rule(values[field])
        except Bad:
            bad.add(field)
    start_cmd = values.get("start_cmd")
    if start_cmd is not None:
        if not isinstance(start_cmd, str) or values.get("start_cmd_info") is not None:
            bad.add("start_cmd")  # one command for every role, or commands per role: not both
        else:
            body["StartCmdInfo"] = {"StartCmd": start_cmd, "PsStartCmd": "", "WorkerStartCmd": start_cmd}
    if values.get("charge_type") == "PREPAID" and not values.get("resource_group_id"):
        bad.add("resource_group_id")  # a prepaid task runs in a resource group
    return bad, body


# ------------------------------------------------------------------------------------- strategies
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
english_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
chinese_names = st.from_regex(r"[\u4e00-\u9fff][\u4e00-\u9fff0-9_-]{0,5}", fullmatch=True)
odd_names = st.sampled_from(["a" * 60, "a" * 61, "_a", "-a", "a b", "a.b", "a\n", "", "Ａbc", "é", "x/y"])
names = english_names | chinese_names | odd_names | text | st.integers() | st.none()
integers_or_text = st.one_of(
    st.integers(-2, 9),
    st.sampled_from(["2", " 3 ", "+1", "0", "-1", "two", "1.5", "\u0663", "", "2\n"]),
    st.booleans(),
    st.floats(allow_nan=False, width=16),
    st.none(),
)
roles = st.fixed_dictionaries(
    {
        "Role": st.one_of(
            st.sampled_from(["WORKER", "PS", "WROKER", "worker"]), text, st.integers(), st.none()
        ),
        "InstanceNum": integers_or_text,
    },
    optional={
        "InstanceType": st.one_of(st.just("TI.S.MEDIUM.POST"), st.integers()),
        "Cpu": integers_or_text,
        "Memory": integers_or_text,
        "Bogus": st.just(1),
    },
)
good_role = st.fixed_dictionaries(
    {"Role": st.sampled_from(["WORKER", "PS"]), "InstanceNum": st.integers(1, 4)},
    optional={"InstanceType": st.just("TI.S.MEDIUM.POST")},
)
paths = st.sampled_from([["out/"], [""], ["a/", "b/"], [], "out/", [3], None])
cos = st.one_of(
    st.fixed_dictionaries(
        {"Bucket": st.just("ml-out-1250000000"), "Region": st.just("ap-beijing"), "Paths": paths},
        optional={"Extra": st.just("x")},
    ),
    st.fixed_dictionaries({"Bucket": st.one_of(st.just("b-1"), st.integers()), "Paths": st.just(["p/"])}),
    st.sampled_from(["cos://b/p", ["b"], 7]),
)
good_cos = st.just({"Bucket": "ml-data-1250000000", "Region": "ap-beijing", "Paths": ["data/"]})
data_configs = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"DataSourceType": st.just("COS"), "COSSource": st.one_of(good_cos, cos)},
            optional={
                "MappingPath": st.just("/opt/ml/input/data/"),
                "ReadOnly": st.sampled_from([True, "false", "no"]),
            },
        ),
        max_size=3,
    ),
    st.sampled_from([10, 11]).map(
        lambda n: [{"DataSourceType": "COS", "MappingPath": f"/d{i}/"} for i in range(n)]
    ),
    st.sampled_from(["COS", {"DataSourceType": "COS"}, [{"Unknown": 1}]]),
)
tuning = st.one_of(
    st.sampled_from([2048, 2049]).map(lambda n: "x" * n),
    st.sampled_from([2038, 2039]).map(lambda n: {"lr": "y" * n}),  # JSON of 2048, 2049 characters
    st.dictionaries(st.sampled_from(["lr", "epochs"]), st.integers(0, 9), max_size=2),
    text,
    st.integers(),
)
remarks = st.one_of(st.sampled_from([1024, 1025]).map(lambda n: "r" * n), text, st.integers(), st.just(["r"]))
flags = st.one_of(st.booleans(), st.sampled_from(["true", " FALSE ", "yes", "1", "", "t"]), st.integers(0, 1))
env_values = st.one_of(st.sampled_from(["1", "", "s3cret"]), st.integers(), st.none())
envs = st.one_of(
    st.dictionaries(st.sampled_from(["EPOCHS", "LR", ""]), env_values, max_size=3),
    st.lists(
        st.fixed_dictionaries(
            {"Value": env_values},
            optional={"Name": st.one_of(st.just("A"), st.integers()), "IsPrivate": flags, "Bad": st.just(1)},
        ),
        max_size=2,
    ),
    st.sampled_from(["A=1", 5]),
)
tags = st.one_of(
    st.dictionaries(st.sampled_from(["team", "env"]), st.one_of(st.just("ml"), st.integers()), max_size=2),
    st.lists(
        st.fixed_dictionaries(
            {"TagKey": st.one_of(st.just("team"), st.none())},
            optional={"TagValue": st.sampled_from(["ml", 1])},
        ),
        max_size=2,
    ),
    st.sampled_from(["team=ml", 3]),
)
start_cmd_infos = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "StartCmd": st.just("python a.py"),
            "WorkerStartCmd": st.one_of(st.just("python b.py"), st.integers()),
        },
    ),
    st.sampled_from([{"Cmd": "x"}, "python a.py"]),
)
OPTIONAL = {
    "resource_group_id": st.one_of(st.sampled_from(["trsg-abc", ""]), st.integers()),
    "code_package_path": cos,
    "output_path": cos,
    "data_configs": data_configs,
    "tuning_parameters": tuning,
    "remark": remarks,
    "log_enable": flags,
    "start_cmd": st.one_of(st.just("python train.py"), st.integers()),
    "start_cmd_info": start_cmd_infos,
    "envs": envs,
    "tags": tags,
}
REQUIRED = {
    "name": names,
    "charge_type": st.one_of(
        st.sampled_from(sorted(CHARGE_TYPES)),
        st.sampled_from(["prepaid", "", "FREE"]),
        st.none(),
        st.integers(),
    ),
    "resource_config_infos": st.one_of(
        st.lists(roles, max_size=3), st.sampled_from([{"Role": "WORKER"}, "WORKER", None])
    ),
}
arguments = st.fixed_dictionaries(REQUIRED, optional=OPTIONAL)
FREE = {**REQUIRED, **OPTIONAL}
ROLE = {"Role": "WORKER", "InstanceNum": 1}
COS = {"Bucket": "ml-out-1250000000", "Region": "ap-beijing", "Paths": ["out/"]}
# Values on either side of each rule, drawn as often as the free ones (random draws seldom land on them).
EDGES: dict[str, list[Any]] = {
    "name": ["a" * 60, "a" * 61, "任务", "_a", "a-", "a_", "Ａ", "a\n"],
    "charge_type": ["PREPAID", "prepaid", None],
    "resource_config_infos": [
        [],
        [{**ROLE, "InstanceNum": 0}],
        [{**ROLE, "InstanceNum": "2"}],
        [{"Role": "WORKER"}],
        [{"InstanceNum": 1}],
        [ROLE, {**ROLE, "Cpu": -1}],
        [{**ROLE, "Memory": "0"}],
    ],
    "code_package_path": [{**COS, "Paths": ["a/", "b/"]}, {**COS, "Paths": []}, {**COS, "Paths": [""]}],
    "output_path": [{**COS, "Paths": ["a/", "b/"]}, {"Bucket": "b-1", "Paths": ["p/"]}, {**COS, "Region": 1}],
    "data_configs": [[], [{"COSSource": {**COS, "Paths": ["a/", "b/"]}}], [{"COSSource": COS}] * 10],
    "tuning_parameters": ["t" * 2048, "t" * 2049, {}, {"b": 1, "a": 2}],
    "remark": ["", "r" * 1024, "r" * 1025],
    "log_enable": ["TRUE", "yes", 1, False],
    "envs": [{"A": "1"}, {"A": 1}, [{"Value": "1"}], [{"Name": "A"}], [{"Name": "A", "IsPrivate": "true"}]],
    "tags": [{"team": "ml"}, [{"TagKey": "team"}], [{"TagValue": "ml"}], [{"TagKey": "t", "TagValue": "v"}]],
    "start_cmd": ["", 3],
    "start_cmd_info": [{}, {"PsStartCmd": "x"}, {"Cmd": "x"}],
    "resource_group_id": ["", "trsg-1", 1],
}


BASE = {
    "name": "edge-task",
    "charge_type": "POSTPAID_BY_HOUR",
    "resource_config_infos": [ROLE],
    "start_cmd": "python train.py",
    "output_path": COS,
}


def one_off(field: str, value: Any, **base: Any) -> dict[str, Any]:
    """A valid task (``BASE`` updated by ``base``) with ``field`` set to ``value`` (None: left out)."""
    values = {**BASE, **base, field: value}
    if field == "start_cmd_info":
        values.pop("start_cmd")  # one or the other (both together is a case of the free draws)
    return {key: item for key, item in values.items() if item is not None or key in REQUIRED}


@st.composite
def one_field_off(draw) -> dict[str, Any]:
    """A valid task with one field drawn freely: each rule is met alone, where only it decides."""
    field = draw(st.sampled_from(sorted(FREE)))
    return one_off(
        field,
        draw(st.one_of(st.sampled_from(EDGES[field]), FREE[field])),
        name=draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
        resource_config_infos=draw(st.lists(good_role, min_size=1, max_size=2)),
    )


# ------------------------------------------------------------------------------------------ tests
def _field_of(parameter: str) -> str:
    """The keyword a refusal's parameter path starts with (``resource_config_infos[0].Role`` -> the list)."""
    return re.match(r"[a-z_]+", parameter).group()  # type: ignore[union-attr]


def test_training_task_spec_refuses_invalid_and_accepts_valid(
    simulated_emulator, connect, reliability_results
) -> None:
    tally = {"examples": 0, "valid": 0, "invalid": 0, "misjudged": 0}
    accepted: list[TrainingTaskSpec] = []

    def check(values: dict[str, Any]) -> None:
        tally["examples"] += 1
        bad, expected = oracle(values)
        try:
            if bad:
                tally["invalid"] += 1
                with pytest.raises(JobSpecError) as caught:
                    TrainingTaskSpec.from_kwargs(**values)
                parameter = caught.value.parameter
                assert _field_of(parameter) in bad, (parameter, bad, str(caught.value))
                assert str(caught.value).startswith(f"Invalid parameter {parameter}")
            else:
                tally["valid"] += 1
                spec = TrainingTaskSpec.from_kwargs(**values)
                assert spec.to_request() == expected
                if len(accepted) < ACCEPTANCE_SAMPLE and tally["valid"] % 5 == 1:
                    accepted.append(spec)
        except BaseException:
            tally["misjudged"] += 1
            raise

    try:
        for field, edges in EDGES.items():  # every edge, alone on a valid task
            for value in edges:
                check(one_off(field, value))
        SETTINGS(given(arguments)(check))()
        ONE_FIELD_OFF(given(one_field_off())(check))()
    finally:
        reliability_results.record(
            "TI-ONE bad input: TrainingTaskSpec (hypothesis)",
            tally["examples"],
            false_failures=tally["misjudged"],
        )
    assert tally["misjudged"] == 0 and tally["valid"] >= 60 and tally["invalid"] >= 200, tally

    # A sample of the valid ones: the service accepts them as they are (only the name made unique).
    connect("tione_rel_input", simulated_emulator, extra={"retry_backoff": 0.01})
    simulated_emulator.reset_counters()
    hook = TIONEHook("tione_rel_input")
    for index, spec in enumerate(accepted):
        task = hook.describe_training_task(hook.create_training_task(spec.replace(name=f"hyp-{index:03d}")))
        assert task.name == f"hyp-{index:03d}"
    assert simulated_emulator.calls["CreateTrainingTask"] == len(accepted) == ACCEPTANCE_SAMPLE


def test_unknown_keyword_is_named() -> None:
    with pytest.raises(JobSpecError, match="Invalid parameter resource_configs: is not a CreateTrainingTask"):
        TrainingTaskSpec.from_kwargs(name="a", charge_type="PREPAID", resource_configs=[])


def test_name_oracle_knows_the_rules() -> None:
    """The oracle itself: it must be able to say no (a test that cannot fail is a defect)."""
    assert valid_name("a" * 60) and valid_name("任务-1_x") and valid_name("9a")
    assert not any(valid_name(n) for n in ("a" * 61, "_a", "-a", "a b", "", "Ａ", "é", "\u212a", None))
    assert oracle(
        {
            "name": "a",
            "charge_type": "PREPAID",
            "resource_config_infos": [{"Role": "WORKER", "InstanceNum": 1}],
        }
    )[0] == {"resource_group_id"}
