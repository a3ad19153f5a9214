"""The calls that carry a service rollout out, shift its traffic or roll it back (``RolloutCalls``), for
the deploy operator in a worker and for its trigger's kill in the triggerer. The decisions are
``models.tione.rollout``'s and ``models.tione.service_state``'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import (
    JobNotFound,
    ResourceBusy,
    RollbackFailed,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.models.tione.rollout import (
    RolloutRecord,
    RolloutSuperseded,
    Strategy,
    configuration,
    live_service,
    with_secrets,
)
from airflow_provider_tia.models.tione.service_state import RolloutWatch, rollout_state, settled, superseding

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.services import ModelService, ServiceGroup

SETTLE_TIMEOUT = 120.0  # seconds a weight change or a stop of the old service may take


class RolloutCalls:
    """The service calls of one rollout: transient errors are ridden out (``retry``), a call whose reply
    may be lost is made again only when its effect is not there (``idempotent``), and waits are judged by
    ``RolloutWatch`` as the trigger judges them. ``save`` records each phase (the task state store)."""

    def __init__(
        self, hook: TIONEHook, log: Any, interval: float, healthy_timeout: float, grace: float,
        save: Callable[[RolloutRecord], None],
    ) -> None:  # fmt: skip
        self.hook, self.log, self.save = hook, log, save
        self.interval, self.healthy_timeout, self.grace = interval, healthy_timeout, grace
        self.killed = False  # the task was killed: waits end (a rollback's own wait goes on)

    def retry(self, call: Callable[[], Any], what: str) -> Any:
        return lifecycle.retry_transient(
            call, lifecycle.Deadline.after(self.healthy_timeout), self.interval, what
        )

    def read(self, service_id: str) -> ModelService:
        """The service (``JobNotFound`` when gone)."""
        return self.retry(lambda: self.hook.describe_model_service(service_id), f"Reading {service_id}")  # type: ignore[no-any-return]

    def settled_group(self, group_id: str, started: float) -> ServiceGroup:
        """The group once no rollout is in progress on it (``settled``), read again; bounded by
        ``healthy_timeout`` from ``started``. Another rollout's Modify may be under way: the configuration
        a rollout restores must not be read mid-roll."""
        while True:
            group = self.retry(lambda: self.hook.describe_model_service_group(group_id), "Reading the group")
            if settled(group):
                return group  # type: ignore[no-any-return]
            if time.time() - started >= self.healthy_timeout:
                raise TencentCloudError(
                    f"The service group {group_id} still had a rollout in progress after "
                    f"{self.healthy_timeout:.0f}s (another run's?): nothing was changed"
                )
            if self.killed:
                raise TencentCloudError(f"The task was killed while waiting for {group_id} to settle")
            self.log.info(
                "The service group %s has a rollout in progress: waiting until it settles", group_id
            )
            time.sleep(self.interval)

    def wait(
        self, service_id: str, version_id: str, started: float, interruptible: bool = True,
        previous: str | None = None,
    ) -> ModelService | str:  # fmt: skip
        """The service once it serves ``version_id``, or why it failed (also: superseded, a third version
        than ``version_id`` and ``previous``); ``healthy_timeout`` counts from ``started`` (epoch seconds)."""
        watch = RolloutWatch(service_id.rsplit("-", 1)[0], version_id, service_id, self.grace, previous)
        while True:
            if self.killed and interruptible:
                raise TencentCloudError(f"The task was killed while waiting for {watch.label}")
            try:
                read = watch.observe(self.read(service_id), time.monotonic())
            except JobNotFound:
                return f"the service {service_id} no longer exists"
            if read.succeeded and read.service is not None:
                return read.service
            if read.failed:
                return read.message or f"{watch.label} failed"
            if time.time() - started >= self.healthy_timeout:
                return f"{watch.label} did not serve within {self.healthy_timeout:.0f}s ({read.state_name})"
            time.sleep(self.interval)

    def idempotent(self, call: Callable[[], Any], found: Callable[[], Any]) -> Any:
        """``call()``; after a transient error (the reply may be lost) ``found()`` says whether it was
        done, and the call is made again only when it was not, within the rollout's budget."""
        deadline = lifecycle.Deadline.after(self.healthy_timeout)
        while True:
            try:
                return call()
            except TransientError as error:
                self.log.warning("The call failed (%s): checking whether it was done", error)
                time.sleep(min(self.interval, 2.0))
                done = lifecycle.retry_transient(found, deadline, self.interval, "Looking for the result")
                if done is not None:
                    return done
                if deadline.expired:
                    raise

    def modify(self, params: dict[str, Any], version_id: str, wait_if_busy: bool = False) -> None:
        """ModifyModelService with a whole configuration; not sent again once it shows (a lost reply).
        Refused as in use (``ResourceBusy``: another rollout is updating the service): raised, or
        (``wait_if_busy``, a rollback) sent again once it is not."""

        def applied() -> bool | None:
            return self.read(params["ServiceId"]).model_version_id == version_id or None

        def send() -> bool:
            self.hook.modify_model_service(params)
            return True

        deadline = lifecycle.Deadline.after(self.healthy_timeout)
        while True:
            try:
                self.idempotent(send, applied)
                return
            except ResourceBusy:
                if not wait_if_busy or deadline.expired:
                    raise
                self.log.info("%s is updating: sending the Modify again once it is not", params["ServiceId"])
                time.sleep(self.interval)

    def weights(self, group_id: str, weights: dict[str, int]) -> None:
        """Set the group's weights and wait until they apply (WeightUpdateStatus UPDATED)."""
        self.retry(lambda: self.hook.modify_service_group_weights(group_id, weights), "Setting the weights")
        group = self.hook.describe_model_service_group
        self.until(lambda: group(group_id).weight_update_status in (None, "UPDATED"), "the weights to apply")

    def until(self, check: Callable[[], bool], what: str) -> None:
        ends = time.monotonic() + SETTLE_TIMEOUT
        while not self.retry(check, f"Waiting for {what}"):
            if time.monotonic() >= ends:
                raise TencentCloudError(f"Gave up waiting for {what} after {SETTLE_TIMEOUT:.0f}s")
            time.sleep(min(self.interval, 1.0))

    def delete(self, service_id: str, stop_first: bool = False) -> None:
        """Delete a service; one still running is stopped first (the service refuses to delete it)."""
        if not stop_first:
            try:
                self.retry(lambda: self.hook.delete_model_service(service_id), f"Deleting {service_id}")
                return
            except TencentCloudError:
                pass
        stop = {"ServiceId": service_id, "ServiceAction": "STOP"}
        self.retry(lambda: self.hook.modify_model_service(stop), f"Stopping {service_id}")
        self.until(lambda: rollout_state(self.read(service_id), None) == "stopped", f"{service_id} to stop")
        self.retry(lambda: self.hook.delete_model_service(service_id), f"Deleting {service_id}")

    def shift(self, rollout: RolloutRecord) -> None:
        """Blue/green, the new service serving: all traffic to it, then the old one stopped and deleted."""
        old = rollout.old_service_id
        self.weights(rollout.group_id, {rollout.service_id: 100, old: 0})
        rollout.phase = "shifted"
        self.save(rollout)
        try:
            self.delete(old, stop_first=True)
            self.log.info("The old service %s was stopped and deleted", old)
        except TencentCloudError as error:  # the new version serves: this is housekeeping
            self.log.warning("The old service %s could not be retired (%s): delete it by hand", old, error)

    def rollback(self, rollout: RolloutRecord, previous_full: dict[str, Any] | None) -> None:
        """Back to the configuration read before (blue/green: weights back, the new service deleted);
        returns once the old version serves again, else ``RollbackFailed``. Secrets the record masks
        come from ``previous_full`` (this worker read it) or the service's current configuration."""
        rollout.phase = "rolling_back"
        self.save(rollout)
        target = rollout.old_service_id or rollout.service_id
        if rollout.strategy == Strategy.IN_PLACE.value and rollout.previous is not None:
            live = self.read(rollout.service_id)
            self.superseded(rollout, live)
            current = configuration(dict(live.raw))
            config, missing = with_secrets(rollout.previous, previous_full, current)
            if missing:
                self.log.warning("Not found again for the rollback: %s (sent empty)", ", ".join(missing))
            self.log.info("Rolling %s back to %s", rollout.service_id, rollout.previous_version_id)
            self.modify(
                {"ServiceId": rollout.service_id, **config}, rollout.previous_version_id, wait_if_busy=True
            )
        elif rollout.service_id and rollout.service_id != target:
            self.taken_over(rollout)
            self.weights(rollout.group_id, {target: 100, rollout.service_id: 0})
            self.delete(rollout.service_id)
        verdict = self.wait(
            target, rollout.previous_version_id, time.time(), interruptible=False, previous=rollout.version_id
        )
        if isinstance(verdict, str) and rollout.strategy == Strategy.IN_PLACE.value:
            self.superseded(rollout, self.read(target), rolled_back=True)
        if isinstance(verdict, str):
            raise RollbackFailed(
                f"The rollback of the service group {rollout.group_name} failed too: {verdict}"
            )
        rollout.phase = "rolled_back"
        self.save(rollout)
        self.log.info("Rolled back: %s serves %s again", verdict.label, rollout.previous_version_id)

    def superseded(self, rollout: RolloutRecord, service: ModelService, rolled_back: bool = False) -> None:
        """``RolloutSuperseded`` when another rollout moved ``service`` to a third version: neither rolled
        back (that would undo the other's version) nor left down (the other rollout owns it now)."""
        other = superseding(service, rollout.version_id, rollout.previous_version_id)
        if other is None:
            return
        rollout.phase = "superseded"
        self.save(rollout)
        done = "rolled back, then " if rolled_back else ""
        raise RolloutSuperseded(
            f"The rollout of {rollout.version_id} to the service group {rollout.group_name} was {done}"
            f"superseded by another rollout: {service.label} now runs {other}; it is left to that rollout "
            f"(not rolled back: that would undo {other})"
        )

    def taken_over(self, rollout: RolloutRecord) -> None:
        """Blue/green: ``RolloutSuperseded`` when the group's live service is neither the old one nor ours
        (another rollout shifted the traffic): the weights are left alone, and our new service, which takes
        no traffic, is retired."""
        group = self.retry(
            lambda: self.hook.describe_model_service_group(rollout.group_id), "Reading the group"
        )
        live = live_service(list(group.services))
        if live is None or live.id in (rollout.old_service_id, rollout.service_id):
            return
        try:
            self.delete(rollout.service_id, stop_first=True)
        except TencentCloudError as error:
            self.log.warning("Our new service %s could not be retired (%s)", rollout.service_id, error)
        rollout.phase = "superseded"
        self.save(rollout)
        raise RolloutSuperseded(
            f"The rollout of {rollout.version_id} to the service group {rollout.group_name} was superseded "
            f"by another rollout: {live.label} (running {live.model_version_id}) takes the traffic; the "
            f"weights were left alone and {rollout.service_id} retired"
        )

    def diagnostics(self, service_id: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The service's Warning events and last log lines (none when they cannot be read)."""
        try:
            events = self.hook.describe_service_events(service_id, warnings_only=True)
            lines = self.hook.service_log_lines(service_id, limit=50)
        except TencentCloudError as error:
            self.log.warning("Could not read the events and logs of %s (%s)", service_id, error)
            return [], []
        return list(events), list(lines)
