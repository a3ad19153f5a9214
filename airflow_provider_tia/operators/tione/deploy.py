"""Deploy a model version to a TI-ONE online service and never leave the service down.

``DeployModelServiceOperator`` is an operator of its own, not a ``CreateAndWaitOperator``: that base
waits for *one job to end*, while a rollout may have to undo itself (roll back to the configuration
read before, then wait for the old version) and, blue/green, shift traffic and retire a service once
the new one serves. What is live, what to send, what a record holds and the calls that roll forward,
shift or roll back are ``rollout.py``'s; this module is the Airflow side: keywords, templating, the
task state store, the deferral, the kill.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_tia.choices import EndAction
from airflow_provider_tia.compat import conf
from airflow_provider_tia.exceptions import (
    JobAlreadyExists,
    JobFailed,
    JobSpecError,
    ResourceBusy,
    RolloutFailed,
    TencentCloudError,
)
from airflow_provider_tia.links.tione import ModelServiceLink
from airflow_provider_tia.models.tione import rollout as ro
from airflow_provider_tia.models.tione.rollout import RolloutRecord, Strategy
from airflow_provider_tia.models.tione.service_spec import SERVICE_SPEC_FIELDS, ModelServiceSpec
from airflow_provider_tia.operators.base import choice, end_action, seconds
from airflow_provider_tia.operators.tione.service_keywords import (
    FIELDS,
    MANAGED,
    SPEC_ATTRS,
    ServiceKeywordsOperator,
)
from airflow_provider_tia.secrets import register_secrets

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tia.hooks.tione.rollout import RolloutCalls
    from airflow_provider_tia.models.tione.services import ModelService, ServiceGroup

ATTR_OF = {f.api: f.attr for f in SERVICE_SPEC_FIELDS}


class DeployModelServiceOperator(ServiceKeywordsOperator):
    """Serve a model version on the service group ``service_group_name``: create it (first deployment)
    or roll it to the version, wait until it serves, and roll back when it does not.

    Example::

        DeployModelServiceOperator(
            task_id="deploy", service_group_name="resnet50", model_version="mv-v7-1511805105118769999",
            charge_type="POSTPAID_BY_HOUR", instance_type="TI.S.MEDIUM.POST", replicas=2,
            authorization_enable=True, strategy="blue_green",
        )

    ``model_version`` is typically ``register.output``, the XCom of a ``RegisterModelVersionOperator``.

    A later deployment copies the live service's whole configuration (ModifyModelService replaces it,
    we assume: the fields given here override the copy, the model is the new version). ``in_place``
    modifies the live service; ``blue_green`` adds a service (version) to the group with it, moves the
    weights to it once it serves, then stops and deletes the old one. Done means Normal, the new
    ModelVersionId, and every replica updated and available.

    When the new version does not serve within ``healthy_timeout`` or stays Abnormal for
    ``abnormal_grace``, the service is rolled back to the configuration read before (blue/green:
    weights back, the new service deleted), the old version is awaited, and the task fails with the
    service's Warning events and last log lines (``RolloutFailed``, not retried). A first deployment
    has nothing to roll back to: it fails as it is. The rollout's record (the configuration read
    before, without secrets: they are read again from the service) is kept in the task state store and
    in the trigger's payload, so a retry after a lost reply, a crash or a deferral finds the service and
    the rollout again and never creates a second one.

    Rollouts of one group may overlap (``.expand()`` on one group, overlapping runs): each waits until
    no rollout is in progress before it reads what it may restore, starts over from that read when the
    service refuses its change as in use, and, when another rollout put a third version on the service
    first (the last writer wins), fails with ``RolloutSuperseded`` naming it and rolls nothing back.

    :param service_group_name: The group (templated); created with this name on the first deployment.
    :param model_version: A TrainingModelVersionId, or ``RegisterModelVersionOperator``'s XCom (a dict
        with ``TrainingModelVersionId`` and ``TrainingModelId``) (templated).
    :param strategy: ``"in_place"`` (default) or ``"blue_green"``.
    :param rollback_on_failure: Roll back a failed rollout (default True); False leaves it as it is.
    :param healthy_timeout: Seconds (or timedelta) the new version has to serve.
    :param abnormal_grace: Seconds an Abnormal service may take to recover before the rollout fails.
    :param on_kill_action: A kill of the task during a rollout: ``"rollback"`` (default) restores the
        configuration read before and waits for it (deferred: the triggerer does, ``RolloutTrigger``);
        ``"leave"`` lets the rollout go on.
    :param deferrable: Wait for the rollout in the triggerer (``RolloutTrigger``).
    :param poll_interval: Seconds between two reads of the service.
    """

    operator_extra_links = (ModelServiceLink(),)  # type: ignore[assignment]
    template_fields = ("service_group_name", "model_version", "region", *SPEC_ATTRS)
    template_fields_renderers = {attr: "json" for attr in SPEC_ATTRS}
    ui_color = "#e8f0fe"
    END_ACTIONS = (EndAction.ROLLBACK, EndAction.LEAVE)  # what a kill during a rollout can do

    def __init__(
        self,
        *,
        service_group_name: str,
        model_version: str | dict[str, Any],
        strategy: str = Strategy.IN_PLACE.value,
        rollback_on_failure: bool = True,
        healthy_timeout: float = 1800,
        abnormal_grace: float = 120,
        on_kill_action: str | EndAction = EndAction.ROLLBACK,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 15,
        **kwargs: Any,
    ) -> None:
        managed = sorted(set(kwargs) & set(MANAGED))
        if managed:
            raise JobSpecError(managed[0], "is set by the rollout (the group and the model version)")
        super().__init__(**kwargs)
        self.service_group_name, self.model_version = service_group_name, model_version
        self.strategy = Strategy(choice("strategy", strategy, tuple(s.value for s in Strategy)))
        self.on_kill_action = end_action("on_kill_action", on_kill_action, self.END_ACTIONS)
        self.rollback_on_failure, self.deferrable = rollback_on_failure, deferrable
        self.healthy_timeout = float(seconds(healthy_timeout, "healthy_timeout") or 0)
        self.abnormal_grace = float(seconds(abnormal_grace, "abnormal_grace") or 0)
        self.poll_interval = float(seconds(poll_interval, "poll_interval") or 0)
        self.rollout: RolloutRecord | None = None  # the rollout under way (what a kill rolls back)
        self._previous_full: dict[str, Any] | None = None  # the configuration read before, secrets included
        self._store: Any = None

    # ------------------------------------------------------------------------------------ execute
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_tia import lifecycle  # the engines load when a task runs, not at parse

        version_id, model_id = ro.model_version_of(self.model_version)
        spec = self._spec(version_id, model_id)  # JobSpecError naming the field, before any call
        self._store = context.get("task_state_store")
        record = RolloutRecord.from_dict(lifecycle.recorded_job(self._store, ro.ROLLOUT_KEY))
        if record is not None and not record.matches(
            str(self.service_group_name), version_id, self.strategy.value
        ):
            record = None
        if record is not None and record.phase == "rolling_back":  # an earlier try was rolling back
            self.rollout = record
            return self._fail(record, "an earlier try was rolling back the failed rollout")
        self.rollout = rollout = self._start(spec, version_id, record)
        self._link(context, rollout)
        if self.deferrable:
            self._defer(rollout)
        previous = rollout.previous_version_id if self.strategy is Strategy.IN_PLACE else None
        verdict = self.calls.wait(rollout.service_id, version_id, rollout.started, previous=previous or None)
        return self._finish(rollout, verdict)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after ``RolloutTrigger``: the rollout travels in the event (``resume``)."""
        from airflow_provider_tia import lifecycle

        received = lifecycle.JobEvent.from_payload(event)
        self.rollout = rollout = RolloutRecord.from_dict(received.resume.get("rollout"))
        if rollout is None:
            raise TencentCloudError(f"The trigger's event carries no rollout: {received.message}")
        self._store = context.get("task_state_store")
        self._link(context, rollout)
        if received.status is lifecycle.Status.SUCCESS:
            return self._finish(rollout, self.calls.read(rollout.service_id))
        return self._finish(rollout, received.message)

    def on_kill(self) -> None:
        """Roll back the rollout under way (``on_kill_action="rollback"``), with a hook of its own (the
        killed call may be in flight on the other); the execution's own wait ends."""
        rollout, self.calls.killed = self.rollout, True
        if rollout is None or rollout.phase != "rolling" or self.on_kill_action is EndAction.LEAVE:
            return
        if rollout.can_roll_back:
            self.log.info("Task killed during the rollout to %s: rolling it back", rollout.version_id)
            self._calls(self.hook.copy()).rollback(rollout, self._previous_full)

    @cached_property
    def calls(self) -> RolloutCalls:
        return self._calls(self.hook)

    def _calls(self, hook: Any) -> RolloutCalls:
        from airflow_provider_tia.hooks.tione.rollout import RolloutCalls

        args = (self.poll_interval, self.healthy_timeout, self.abnormal_grace, self._save)
        return RolloutCalls(hook, self.log, *args)

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render, then register the secrets (env values, image passwords) at once: the rendered fields
        Airflow stores right after are masked too, also when a later check refuses the input."""
        super().render_template_fields(context, jinja_env)
        env = getattr(self, "env", None)
        values = (
            env.values()
            if isinstance(env, dict)
            else [e.get("Value") for e in env or () if isinstance(e, dict)]
        )
        sidecar = getattr(self, "sidecar", None) or {}
        images = [
            getattr(self, "image_info", None),
            sidecar.get("ImageInfo") if isinstance(sidecar, dict) else None,
        ]
        passwords = [
            ((i or {}).get("ImageSecret") or {}).get("Password") for i in images if isinstance(i, dict)
        ]
        register_secrets(*(str(v) for v in [*values, *passwords] if isinstance(v, str)))

    # ------------------------------------------------------------------------------------ starting
    def _spec(self, version_id: str, model_id: str | None) -> ModelServiceSpec:
        values = {FIELDS[k].attr: getattr(self, k) for k in SPEC_ATTRS if getattr(self, k) is not None}
        return ModelServiceSpec(
            service_group_name=self.service_group_name,
            model_info=ro.model_info(version_id, model_id),
            **values,
        )

    def _start(self, spec: ModelServiceSpec, version_id: str, record: RolloutRecord | None) -> RolloutRecord:
        """``_start_once``; started over from the read while another rollout holds the group (the service
        refuses the change as in use, or another run created the group first), within ``healthy_timeout``."""
        started = record.started if record else time.time()
        while True:
            try:
                return self._start_once(spec, version_id, record, started)
            except (ResourceBusy, JobAlreadyExists) as error:
                if time.time() - started >= self.healthy_timeout:
                    raise TencentCloudError(f"Gave up rolling {self.service_group_name}: {error}") from None
                self.log.info("%s (another rollout): starting over from reading the group", error)
                time.sleep(self.poll_interval)

    def _start_once(
        self, spec: ModelServiceSpec, version_id: str, record: RolloutRecord | None, started: float
    ) -> RolloutRecord:
        """Create the group, or roll its live service once no rollout is in progress on it; or find the
        rollout an earlier try started."""
        name = str(self.service_group_name)
        group = self._group(name, record.group_id if record else "")
        if group is None:
            rollout = RolloutRecord(self.strategy.value, name, version_id)
            self._save(rollout)
            service = self.calls.idempotent(
                lambda: self.hook.create_model_service(spec), lambda: self._found(name, version_id)
            )  # another run creating the group first: JobAlreadyExists (DuplicateName), start over
            rollout.group_id, rollout.service_id = service.group_id, service.id
            self._save(rollout)
            self.log.info("Created %s serving %s", service.label, version_id)
            return rollout
        blue_green_old = record.old_service_id if record and self.strategy is Strategy.BLUE_GREEN else None
        found = ro.serving_version(list(group.services), version_id, exclude=blue_green_old)
        if found is not None:  # done, or in flight (a retry, a lost reply)
            rollout = record or RolloutRecord(self.strategy.value, name, version_id, previous=None)
            rollout.group_id, rollout.service_id = group.id, found.id
            self.log.info("%s is already configured with %s: watching it", found.label, version_id)
            return rollout
        group = self.calls.settled_group(group.id, started)  # not a configuration read mid-roll
        live = ro.live_service(list(group.services))
        if live is None:
            raise TencentCloudError(f"The service group {name} ({group.id}) has no running service to roll")
        self._previous_full = ro.configuration(dict(live.raw))
        rollout = RolloutRecord(
            self.strategy.value, name, version_id, group_id=group.id, old_service_id=live.id,
            service_id=live.id if self.strategy is Strategy.IN_PLACE else "",
            previous_version_id=live.model_version_id or "", previous=ro.without_secrets(self._previous_full),
        )  # fmt: skip
        self._save(rollout)  # before the call: a crash after it finds the rollout and what it replaced
        overrides = {k: v for k, v in spec.to_request().items() if k in ro.CONFIG_FIELDS}
        config = ro.rolled(self._previous_full, spec.model_info, overrides)
        if self.strategy is Strategy.IN_PLACE:
            self.log.info("Rolling %s from %s to %s in place", live.label, live.model_version_id, version_id)
            self.calls.modify({"ServiceId": live.id, **config}, version_id)
        else:
            new = self._new_version(group, live, config, version_id)
            rollout.service_id = new.id
            self.log.info("Added %s serving %s beside %s", new.label, version_id, live.label)
        self._save(rollout)
        return rollout

    def _new_version(
        self, group: ServiceGroup, live: ModelService, config: dict[str, Any], version_id: str
    ) -> ModelService:
        values = {ATTR_OF[k]: v for k, v in config.items() if k in ATTR_OF}
        charge = getattr(self, "charge_type", None) or live.raw.get("ChargeType") or None
        spec = ModelServiceSpec(**{**values, "service_group_id": group.id, "charge_type": charge})

        def found() -> ModelService | None:
            fresh = self.hook.describe_model_service_group(group.id)
            return ro.serving_version(list(fresh.services), version_id, exclude=live.id)

        # Refused as in use (another rollout): ResourceBusy, and _start starts over from the read.
        create = self.hook.create_model_service
        return self.calls.idempotent(lambda: create(spec), found)  # type: ignore[no-any-return]

    def _group(self, name: str, group_id: str) -> ServiceGroup | None:
        groups = self.calls.retry(
            lambda: self.hook.find_model_service_groups(name=name), f"Finding the service group {name}"
        )
        group = next((g for g in groups if g.name == name), None)
        if group is None and group_id:  # the listing may lag behind a group just created
            group = self.calls.retry(
                lambda: self.hook.describe_model_service_group(group_id, missing_ok=True), "Reading the group"
            )
        return group

    def _found(self, name: str, version_id: str) -> ModelService | None:
        group = self._group(name, "")
        return ro.serving_version(list(group.services), version_id) if group else None

    # ------------------------------------------------------------------------------------- waiting
    def _defer(self, rollout: RolloutRecord) -> None:
        from airflow_provider_tia.triggers.tione.rollout import RolloutTrigger

        trigger = RolloutTrigger(
            rollout.to_dict(),
            tencentcloud_conn_id=self.tencentcloud_conn_id,
            region=self.region,
            poll_interval=self.poll_interval,
            deadline=rollout.started + self.healthy_timeout,
            budget=self.healthy_timeout,
            abnormal_grace=self.abnormal_grace,
            rollback_on_kill=self.on_kill_action is EndAction.ROLLBACK,
            healthy_timeout=self.healthy_timeout,
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    # ------------------------------------------------------------------------------------ the end
    def _finish(self, rollout: RolloutRecord, verdict: ModelService | str) -> dict[str, Any]:
        if isinstance(verdict, str):
            return self._fail(rollout, verdict)
        if rollout.strategy == Strategy.BLUE_GREEN.value and rollout.old_service_id:
            self.calls.taken_over(rollout)  # another rollout shifted the traffic meanwhile: RolloutSuperseded
            self.calls.shift(rollout)
        rollout.phase = "done"
        self._save(rollout)
        self.log.info("%s serves %s", verdict.label, rollout.version_id)
        return {**verdict.to_dict(), "ModelVersionId": rollout.version_id,
                "PreviousModelVersionId": rollout.previous_version_id or None, "Strategy": rollout.strategy}  # fmt: skip

    def _fail(self, rollout: RolloutRecord, why: str) -> dict[str, Any]:
        """Collect the failed service's events and last lines, roll back, then raise."""
        label = f"The rollout of {rollout.version_id} to the service group {rollout.group_name}"
        events, lines = self.calls.diagnostics(rollout.service_id)
        if not rollout.can_roll_back or not self.rollback_on_failure:
            what = (
                "left as it is (rollback_on_failure=False)"
                if rollout.can_roll_back
                else rollout.nothing_before
            )
            raise JobFailed(ro.failure_text(label, why, events, what), None, lines)
        self.calls.rollback(rollout, self._previous_full)
        back = f"rolled back: {rollout.previous_version_id or 'the previous version'} serves again"
        raise RolloutFailed(ro.failure_text(label, why, events, back), None, lines)

    # ------------------------------------------------------------------------------------- records
    def _save(self, rollout: RolloutRecord) -> None:
        """Keep the rollout in the task state store (best effort: Airflow < 3.3 has none)."""
        from airflow_provider_tia import lifecycle

        lifecycle.record_job(self._store, ro.ROLLOUT_KEY, rollout.to_dict(), self.log)

    def _link(self, context: Context, rollout: RolloutRecord) -> None:
        if rollout.group_id:
            self.push_link(context, service_group_id=rollout.group_id, service_id=rollout.service_id)


DeployModelServiceOperator.__doc__ = (DeployModelServiceOperator.__doc__ or "") + "\n".join(
    ["", "    CreateModelService parameters (templated; on a later deployment they override the copy):", ""]
    + [f"    :param {keyword}: ``{f.api}``. {f.doc}" for keyword, f in FIELDS.items()]
)
