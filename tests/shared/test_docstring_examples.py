"""Every ``Example::`` block of the provider's public classes is a test.

Operator and sensor examples are evaluated inside a DAG and must construct (the CreateTrainingTaskOperator
example passed ``output=``, a TypeError, before the fix). Trigger examples construct and survive the
triggerer's serialize round trip; link examples run and return what their comment says. Hook examples
need the network past their constructor: they are parsed, their constructor runs, and every call in them
whose target is known is bound against its signature. Every ``Example::`` block in the package parses.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

import airflow_provider_tia
from tests.helpers import airflow_compat

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGE = "airflow_provider_tia"


# The modules whose public classes are documented with an example: every module of the operators, sensors,
# triggers, hooks and links (a platform's part may be a package of modules).
def _modules_of(layers: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for layer in layers:
        package = importlib.import_module(f"{PACKAGE}.{layer}")
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return tuple(sorted(names))


MODULES = _modules_of(("operators", "sensors", "triggers", "hooks", "links"))
PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def example_blocks(doc: str | None) -> list[str]:
    """The code of each ``Example::`` block of a docstring (the indented lines after it)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip() != "Example::":
            continue
        indent = len(line) - len(line.lstrip())
        body: list[str] = []
        for following in lines[i + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n"))
    return blocks


def documented() -> Iterator[tuple[str, Any, str]]:
    """(qualified name, object, example) for every public class and function of ``MODULES`` with one."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            for example in example_blocks(obj.__doc__):
                yield f"{module_name.removeprefix(PACKAGE + '.')}.{name}", obj, example


EXAMPLES = list(documented())


def kind_of(obj: Any) -> str:
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_tia.compat import BaseHook, BaseOperator, BaseSensorOperator

    if not inspect.isclass(obj):
        return "function"
    for base, kind in (
        (BaseSensorOperator, "sensor"),
        (BaseOperator, "operator"),
        (BaseTrigger, "trigger"),
        (BaseHook, "hook"),
    ):
        if issubclass(obj, base):
            return kind
    return "link" if obj.__module__.startswith(f"{PACKAGE}.links") else "other"


def namespace(obj: Any) -> dict[str, Any]:
    """What an example may name: the public names of the provider's modules, its own module's globals."""
    names: dict[str, Any] = {"time": time, "pendulum": pendulum}
    for module_name in (
        *MODULES,
        f"{PACKAGE}.models.tia.job",
        f"{PACKAGE}.models.tia.job_spec",
        f"{PACKAGE}.models.tione.training_spec",
        f"{PACKAGE}.models.tione.training_task",
        f"{PACKAGE}.operators.base",
    ):
        module = importlib.import_module(module_name)
        names.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
    names.update(vars(importlib.import_module(obj.__module__)))
    return names


def init_signature(cls: type) -> inspect.Signature | None:
    """The first ``__init__`` up the MRO that names its parameters (not just ``*args, **kwargs``)."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        kinds = {p.kind for name, p in signature.parameters.items() if name != "self"}
        if kinds - {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}:
            return signature
    return None


def resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        base = resolve(node.value, names)
        return None if base is None else getattr(base, node.attr, None)
    return None


def check_calls_bind(tree: ast.AST, names: dict[str, Any]) -> int:
    """Bind every call to a known provider callable against its signature; returns how many were bound."""
    bound = 0
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if any(
            isinstance(a, ast.Starred) or (isinstance(a, ast.Constant) and a.value is ...) for a in call.args
        ):
            continue
        if any(k.arg is None for k in call.keywords):
            continue
        target = resolve(call.func, names)
        if target is None or not str(getattr(target, "__module__", "")).startswith(PACKAGE):
            continue
        args: list[Any] = list(call.args)
        signature = init_signature(target) if inspect.isclass(target) else None
        if signature is not None:
            args.insert(0, None)  # self
        else:  # a function, or a class whose __init__ names nothing (takes what its signature says)
            signature = inspect.signature(target)
        try:
            signature.bind(*args, **{k.arg: None for k in call.keywords})
        except TypeError as error:
            raise AssertionError(f"{ast.unparse(call)[:120]}: {error}") from None
        bound += 1
    return bound


def test_every_public_class_with_an_example_is_collected() -> None:
    found = {name for name, _obj, _example in EXAMPLES}
    expected = {
        "operators.tia.job.CreateJobOperator",
        "operators.tia.job.DeleteJobOperator",
        "operators.tione.training.CreateTrainingTaskOperator",
        "operators.tione.training.StopTrainingTaskOperator",
        "sensors.tia.JobSensor",
        "sensors.tione.TrainingTaskSensor",
        "triggers.tia.JobTrigger",
        "triggers.tione.training.TrainingTaskTrigger",
        "hooks.tia.TIAHook",
        "hooks.tione.hook.TIONEHook",
        "hooks.cos.COSHook",
        "links.tia.TIAJobLink",
        "links.tia.job_url",
        "links.tione.task_url",
    }
    assert expected <= found, expected - found


def test_every_example_in_the_package_parses() -> None:
    """Beyond MODULES: every ``Example::`` block anywhere in the package (emulator included)."""
    checked = 0
    for info in pkgutil.walk_packages(airflow_provider_tia.__path__, PACKAGE + "."):
        module = importlib.import_module(info.name)
        docs = [module.__doc__] + [
            getattr(obj, "__doc__", None)
            for obj in vars(module).values()
            if getattr(obj, "__module__", None) == info.name
        ]
        for example in (e for doc in docs for e in example_blocks(doc)):
            compile(example, f"<{info.name} example>", "exec", PARSE_FLAGS)
            checked += 1
    assert checked >= len(EXAMPLES)


@pytest.mark.parametrize(("name", "obj", "example"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_runs_as_documented(name: str, obj: Any, example: str) -> None:
    tree = compile(example, f"<{name} example>", "exec", PARSE_FLAGS)
    names = namespace(obj)
    kind = kind_of(obj)
    if kind in ("operator", "sensor"):
        _construct_in_a_dag(obj, example, names)
    elif kind == "trigger":
        _construct_and_round_trip(obj, example, names)
    elif kind == "function":
        _run_and_compare_with_comment(obj, example, names)
    elif kind == "link":
        _define_an_operator_with_the_link(obj, example, names)
    elif kind == "hook":
        _construct_the_hook(obj, tree, names)
    # any other class: its calls must bind to the signatures they name (below)
    assert check_calls_bind(tree, names) >= 1  # at least the documented class or function itself


def _construct_in_a_dag(cls: type, example: str, names: dict[str, Any]) -> None:
    from airflow_provider_tia.compat import DAG

    with DAG("doc", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        exec(example, names)
    (task,) = dag.tasks
    assert type(task) is cls
    airflow_compat.first("DagSerialization", "SerializedDAG").serialize_dag(
        dag
    )  # what the DAG processor stores: it must serialize too


def _construct_and_round_trip(cls: type, example: str, names: dict[str, Any]) -> None:
    import_string = airflow_compat.first("import_string")
    tree = ast.parse(example)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr), "a trigger example is one expression"
    trigger = eval(compile(ast.Expression(tree.body[0].value), "<trigger example>", "eval"), names)
    assert type(trigger) is cls
    classpath, kwargs = trigger.serialize()
    assert import_string(classpath) is cls
    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


def _run_and_compare_with_comment(function: Any, example: str, names: dict[str, Any]) -> None:
    """``call(...)`` followed by ``# 'expected value'``: the call returns exactly that."""
    code, _, comment = example.partition("\n")
    expected = ast.literal_eval(comment.strip().removeprefix("#").strip())
    assert eval(code, names) == expected


def _define_an_operator_with_the_link(link: type, example: str, names: dict[str, Any]) -> None:
    from airflow_provider_tia.compat import DAG, BaseOperator

    before = set(names)
    exec(example, names)
    (operator,) = [v for k, v in names.items() if k not in before and inspect.isclass(v)]
    assert issubclass(operator, BaseOperator)
    assert any(isinstance(one, link) for one in operator.operator_extra_links)
    with DAG("doc", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
        operator(task_id="with_link")


def _construct_the_hook(cls: type, tree: ast.Module, names: dict[str, Any]) -> None:
    """Run the example's first statement, which builds the hook (no call is made until it is used)."""
    first = tree.body[0]
    assert isinstance(first, ast.Assign) and isinstance(first.value, ast.Call), (
        "a hook example starts hook = ..."
    )
    assert resolve(first.value.func, names) is cls
    exec(compile(ast.Module(body=[first], type_ignores=[]), "<hook example>", "exec"), names)
    assert type(names[first.targets[0].id]) is cls
