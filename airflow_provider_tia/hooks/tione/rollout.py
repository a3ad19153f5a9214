"""The calls that carry a service rollout out, shift its traffic or roll it back (``RolloutCalls``), for
the deploy operator in a worker and for its trigger's kill in the triggerer. The decisions are
``models.tione.rollout``'s and ``models.tione.services``'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_tia import lifecycle
from airflow_provider_tia.exceptions import (
    JobNotFound,
    RollbackFailed,
    TencentCloudError,
    TransientError,
)
from airflow_provider_tia.models.tione.rollout import RolloutRecord, Strategy, configuration, with_secrets
from airflow_provider_tia.models.tione.services import RolloutWatch, rollout_state

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_tia.hooks.tione import TIONEHook
    from airflow_provider_tia.models.tione.services import ModelService

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

    def wait(
        self, service_id: str, version_id: str, started: float, interruptible: bool = True
    ) -> ModelService | str:
        """The service once it serves ``version_id``, or why it failed; ``healthy_timeout`` counts from
        ``started`` (epoch seconds)."""
        watch = RolloutWatch(service_id.rsplit("-", 1)[0], version_id, service_id, self.grace)
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

    def modify(self, params: dict[str, Any], version_id: str) -> None:
        """ModifyModelService with a whole configuration; not sent again once it shows (a lost reply)."""

        def applied() -> bool | None:
            return self.read(params["ServiceId"]).model_version_id == version_id or None

        self.idempotent(lambda: self.hook.modify_model_service(params) or True, applied)

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
            current = configuration(dict(self.read(rollout.service_id).raw))
            config, missing = with_secrets(rollout.previous, previous_full, current)
            if missing:
                self.log.warning("Not found again for the rollback: %s (sent empty)", ", ".join(missing))
            self.log.info("Rolling %s back to %s", rollout.service_id, rollout.previous_version_id)
            self.modify({"ServiceId": rollout.service_id, **config}, rollout.previous_version_id)
        elif rollout.service_id and rollout.service_id != target:
            self.weights(rollout.group_id, {target: 100, rollout.service_id: 0})
            self.delete(rollout.service_id)
        verdict = self.wait(target, rollout.previous_version_id, time.time(), interruptible=False)
        if isinstance(verdict, str):
            raise RollbackFailed(
                f"The rollback of the service group {rollout.group_name} failed too: {verdict}"
            )
        rollout.phase = "rolled_back"
        self.save(rollout)
        self.log.info("Rolled back: %s serves %s again", verdict.label, rollout.previous_version_id)

    def diagnostics(self, service_id: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The service's Warning events and last log lines (none when they cannot be read)."""
        try:
            events = self.hook.describe_service_events(service_id, warnings_only=True)
            lines = self.hook.service_log_lines(service_id, limit=50)
        except TencentCloudError as error:
            self.log.warning("Could not read the events and logs of %s (%s)", service_id, error)
            return [], []
        return list(events), list(lines)
