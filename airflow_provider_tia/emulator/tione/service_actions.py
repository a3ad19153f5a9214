"""The online-service actions over a ServiceStore, the Serving replicas and the Gateway.

Rules the service leaves open, as the emulator answers them:

* A new group's first version gets ``Weight`` 100, a version added to a group 0 (shift traffic with
  ModifyServiceGroupWeights, whose ``WeightUpdateStatus`` is UPDATING for a moment, then UPDATED). Weights
  need not sum to 100: traffic follows their proportions; a stopped version gets none.
* ModifyModelService without ``ServiceAction`` *replaces* the whole configuration with the request's (only
  ``ResourceGroupId`` is kept when absent): send everything, as a read-modify-write does. With a
  ``ServiceAction`` every other field but the scaling ones (SCALE) is ignored. STOP of a stopped service and
  RESUME of a running one change nothing.
* With ``AuthorizationEnable`` a token is made at creation; DescribeModelServiceCallInfo and the group show it.
* DeleteModelService is refused (``ResourceInUse``) while the version runs: stop it first (an Abnormal one
  may be deleted). DeleteModelServiceGroup removes every version, running or not.
* Whether the service refuses a change while a version is updating is not published: by default it
  accepts it (the last writer wins: a Modify replaces the configuration mid-roll). The switch
  ``refuse_while_updating = True`` answers a configuration Modify, and a Create of a new version, with
  ``ResourceInUse`` while the version (any of the group's, for a Create) is in a transitional status or
  mid-roll (Normal with replicas of an older configuration); an Abnormal one may always be modified
  (how a failed roll is rolled back). ``refused`` counts those answers.
* ``CallbackUrl`` is kept but never called. ``Command``/``ServicePort`` are kept; a replica always runs tiinfer.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from . import service_views as views
from .repo import SUCCESS
from .schema import invalid
from .service_events import describe_events
from .service_schema import (
    MAX_GROUPS_PAGE,
    check_action,
    check_config,
    check_group_fields,
    check_replicas,
    config_of,
)  # fmt: skip
from .service_store import new_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..core.auth import Account
    from .gateway import Gateway
    from .repo import ModelRepo
    from .service_store import ServiceStore
    from .serving import Serving

WEIGHT_SETTLE = 0.3  # seconds a weight change shows UPDATING
UPDATING = ("CREATING", "Pending", "Waiting", "Stopping")
GROUP_FILTERS: dict[str, Callable[[dict], list[str]]] = {
    "ClusterId": lambda g: ["emulator"], "ServiceId": lambda g: [s["ServiceId"] for s in g["Services"]],
    "ServiceGroupName": lambda g: [g["Name"]], "ServiceGroupId": lambda g: [g["Id"]],
    "Status": lambda g: [s["Status"] for s in g["Services"]], "CreatedBy": lambda g: [g["Uin"]],
    "ModelVersionId": lambda g: [s["Config"].get("ModelInfo", {}).get("ModelVersionId", "") for s in g["Services"]],
}  # fmt: skip


def desired_replicas(cfg: dict) -> int:
    """MANUAL: ``Replicas`` (default 1); AUTO: ``Replicas``, else the autoscaler's minimum, else 1."""
    if "Replicas" in cfg:
        return int(cfg["Replicas"])
    hpa = cfg.get("HorizontalPodAutoscaler")
    minimum = hpa.get("MinReplicas") if isinstance(hpa, dict) else None
    return minimum if isinstance(minimum, int) and minimum >= 0 else 1


def updating(service: dict) -> bool:
    """A version in a transitional status, or Normal with replicas of an older configuration (mid-roll)."""
    work = service.get("Workload") or {}
    rolling = (
        work.get("Replicas", 0) != work.get("UpdatedReplicas", 0)
        or work.get("UpdatedReplicas", 0) != service["DesiredReplicas"]
    )
    return service["Status"] in UPDATING or (service["Status"] == "Normal" and rolling)


class ServiceActions:
    """Handlers of the online-service actions (``handlers``: action -> fn(params, account))."""

    def __init__(self, store: ServiceStore, repo: ModelRepo, serving: Serving, gateway: Gateway) -> None:
        self.store, self.repo, self.serving, self.gateway = store, repo, serving, gateway
        self.refuse_while_updating = False  # True: ResourceInUse for a change while a version updates
        self.refused = 0
        self.handlers: dict[str, Callable[[dict, Account], dict]] = {
            "CreateModelService": self.create, "ModifyModelService": self.modify,
            "DescribeModelService": self.describe, "DescribeModelServiceGroup": self.describe_group,
            "DescribeModelServiceGroups": self.describe_groups, "DeleteModelService": self.delete,
            "DeleteModelServiceGroup": self.delete_group, "ModifyServiceGroupWeights": self.weights,
            "DescribeModelServiceCallInfo": self.call_info, "DescribeEvents": self.events,
        }  # fmt: skip

    # ---- helpers -----------------------------------------------------------------------------
    def _image(self, cfg: dict, uin: str) -> dict:
        """The model version's inference image, for a configuration without ImageInfo."""
        found = self.repo.version(cfg.get("ModelInfo", {}).get("ModelVersionId", ""), uin)
        url = found[1]["Spec"].get("ReasoningEnvironment", "") if found else ""
        return {"ImageType": "PRESET", "ImageUrl": url, "RegistryRegion": "", "RegistryId": ""}

    def _check_model(self, cfg: dict, uin: str) -> None:
        """The ModelInfo names an imported version of the caller's."""
        if "ModelInfo" not in cfg:
            return
        vid = cfg["ModelInfo"]["ModelVersionId"]
        _, version = self.repo.require_version(vid, uin, "ModelInfo.ModelVersionId")
        if version["Status"] != SUCCESS:
            raise invalid(
                "ModelInfo.ModelVersionId", f"names a version that is {version['Status']}, not imported"
            )

    def view(self, group: dict, service: dict) -> dict:
        return views.service_view(group, service, self._image(service["Config"], group["Uin"]),
                                  self.serving.pods(service["ServiceId"]))  # fmt: skip

    def in_use(self, version_id: str) -> str | None:
        """The Id of a service that runs this model version, or None."""
        for group in self.store.groups():
            for s in group["Services"]:
                if s["Config"].get("ModelInfo", {}).get("ModelVersionId") == version_id:
                    return str(s["ServiceId"])
        return None

    def _refuse_if_updating(self, services: list[dict]) -> None:
        busy = next((s for s in services if updating(s)), None) if self.refuse_while_updating else None
        if busy is not None:
            self.refused += 1
            raise ApiError("ResourceInUse", f"The service {busy['ServiceId']} is updating ({busy['Status'] or 'CREATING'}): try again once its rollout is over.")  # fmt: skip

    def recover(self) -> None:
        """After a restart: start the replicas of every service that is not stopped again."""
        for group in self.store.groups():
            for s in group["Services"]:
                if s["Status"] == "Stopping":
                    self.store.update_service(s["ServiceId"], _stopped)
                self.serving.reconcile(s["ServiceId"])

    # ---- actions -----------------------------------------------------------------------------
    def create(self, p: dict, account: Account) -> dict:
        region = p.pop("Region", "ap-guangzhou")
        gid = p.get("ServiceGroupId")
        if gid and p.get("NewVersion") is not True:
            raise invalid("NewVersion", "must be true to add a version to the group ServiceGroupId")
        group = self.store.group(gid, account.uin) if gid else None
        first = group["Services"][0] if group and group["Services"] else None
        charge = p.get("ChargeType") or (first["ChargeType"] if first else "")
        if not charge:
            raise ApiError("MissingParameter", "The request is missing a required parameter `ChargeType`.")
        check_group_fields(p, charge)
        cfg = config_of(p)
        check_config(cfg, charge)
        self._check_model(cfg, account.uin)
        if group is not None:
            self._refuse_if_updating(group["Services"])
        if group is None:
            fields = {k: p[k] for k in ("Tags", "CreateSource", "DeployType", "GatewayConfig", "GatewayLogConfig",
                                         "CallbackUrl", "ResourceSupplyAttribute") if k in p}  # fmt: skip
            auth = p.get("AuthorizationEnable", False)
            tokens = [{"Id": f"tk-{new_token()[:12]}", "Value": new_token(), "Name": "default",
                       "CreateNs": time.time_ns()}] if auth else []  # fmt: skip
            group = self.store.create_group({**fields, "Name": p["ServiceGroupName"], "AuthorizationEnable": auth,
                                             "Tokens": tokens}, account.uin, account.app_id, region)  # fmt: skip
        service = self.store.add_service(group["Id"], {
            "Config": cfg, "ChargeType": charge, "AuthorizationEnable": group["AuthorizationEnable"],
            "Status": "CREATING", "Generation": 1, "DesiredReplicas": desired_replicas(cfg),
            "Weight": 0 if group["Services"] else 100, "OldReplicas": 0,
        })  # fmt: skip
        self.gateway.ensure_started()
        self.serving.reconcile(service["ServiceId"])
        group, service = self.store.service(service["ServiceId"], account.uin)
        return {"Service": views.created_view(group, service, self._image(cfg, account.uin))}

    def modify(self, p: dict, account: Account) -> dict:
        sid = p["ServiceId"]
        group, service = self.store.service(sid, account.uin)
        if p.get("TargetProjectId"):
            raise ApiError(
                "UnsupportedOperation", "The emulator has one workspace: `TargetProjectId` must be 0."
            )
        action = p.get("ServiceAction")
        if action is not None:
            check_action(action)
            fn = self._action(action, p)
        else:
            cfg = config_of(p)
            if "ResourceGroupId" not in cfg and "ResourceGroupId" in service["Config"]:
                cfg["ResourceGroupId"] = service["Config"]["ResourceGroupId"]
            check_config(cfg, service["ChargeType"])
            self._check_model(cfg, account.uin)
            self._refuse_if_updating([service])

            def fn(s: dict) -> bool:
                # a stopped service keeps the new configuration for its RESUME
                count = "OldReplicas" if s["Status"] in ("Stopping", "Stopped") else "DesiredReplicas"
                s.update({"Config": cfg, "Generation": s["Generation"] + 1, count: desired_replicas(cfg)})
                return True

        self.store.update_service(sid, fn)
        self.gateway.ensure_started()
        self.serving.reconcile(sid)
        group, service = self.store.service(sid, account.uin)
        return {"Service": self.view(group, service)}

    def _action(self, action: str, p: dict) -> Callable[[dict], bool]:
        if action == "STOP":

            def fn(s: dict) -> bool:
                if s["Status"] in ("Stopping", "Stopped"):
                    return False
                s.update(Status="Stopping", OldReplicas=s["DesiredReplicas"])
                return True
        elif action == "RESUME":

            def fn(s: dict) -> bool:
                if s["Status"] not in ("Stopping", "Stopped"):
                    return False
                s.update(
                    Status="Waiting", Generation=s["Generation"] + 1, DesiredReplicas=s["OldReplicas"] or 1
                )
                return True
        else:
            scale = {k: p[k] for k in ("Replicas", "ScaleMode", "ScaleStrategy", "HorizontalPodAutoscaler",
                                       "CronScaleJobs") if k in p}  # fmt: skip
            check_replicas(scale)

            def fn(s: dict) -> bool:
                s["Config"].update(scale)
                want = desired_replicas(s["Config"])
                if s["Status"] in ("Stopping", "Stopped"):
                    s["OldReplicas"] = want
                else:
                    s["DesiredReplicas"] = want
                return True

        return fn

    def describe(self, p: dict, account: Account) -> dict:
        group, service = self.store.service(p["ServiceId"], account.uin)
        return {"Service": self.view(group, service)}

    def _group_view(self, group: dict) -> dict:
        return views.group_view(group, [self.view(group, s) for s in group["Services"]])

    def describe_group(self, p: dict, account: Account) -> dict:
        return {"ServiceGroup": self._group_view(self.store.group(p["ServiceGroupId"], account.uin))}

    def describe_groups(self, p: dict, account: Account) -> dict:
        limit, offset = p.get("Limit", 20), p.get("Offset", 0)
        if not 0 <= limit <= MAX_GROUPS_PAGE:
            raise invalid("Limit", f"must be within [0, {MAX_GROUPS_PAGE}]")
        if offset < 0:
            raise invalid("Offset", "must not be negative")
        order, field = p.get("Order", "DESC"), p.get("OrderField", "CreateTime")
        if order not in ("ASC", "DESC"):
            raise invalid("Order", "must be ASC or DESC")
        if field not in ("CreateTime", "UpdateTime"):
            raise invalid("OrderField", "must be CreateTime or UpdateTime")
        for i, f in enumerate(p.get("Filters", [])):
            if f.get("Name") not in GROUP_FILTERS:
                raise invalid(f"Filters.{i}.Name", f"must be one of {', '.join(GROUP_FILTERS)}")
        every = self.store.groups(account.uin)
        chosen = [g for g in every if _selected(g, p)]
        chosen.sort(
            key=lambda g: g["CreateNs" if field == "CreateTime" else "UpdateNs"], reverse=order == "DESC"
        )
        page = [self._group_view(g) for g in chosen[offset : offset + limit]]
        return {"TotalCount": len(chosen), "ServiceGroups": page, "GlobalTotalCount": len(every)}

    def delete(self, p: dict, account: Account) -> dict:
        _, service = self.store.service(p["ServiceId"], account.uin)
        if service["Status"] not in ("Stopped", "Abnormal"):
            raise ApiError("ResourceInUse", f"The service is {service['Status'] or 'CREATING'}: stop it first (ModifyModelService with ServiceAction STOP).")  # fmt: skip
        self.store.delete_service(p["ServiceId"])
        self.serving.reconcile(p["ServiceId"])
        return {}

    def delete_group(self, p: dict, account: Account) -> dict:
        group = self.store.delete_group(p["ServiceGroupId"], account.uin)
        for s in group["Services"]:
            self.serving.reconcile(s["ServiceId"])
        return {}

    def weights(self, p: dict, account: Account) -> dict:
        gid = p["ServiceGroupId"]
        group = self.store.group(gid, account.uin)
        own = {s["ServiceId"] for s in group["Services"]}
        for i, w in enumerate(p["Weights"]):
            if w["ServiceId"] not in own:
                raise invalid(f"Weights.{i}.ServiceId", f"names no version of the group {gid}")
            if not 0 <= w["Weight"] <= 100:
                raise invalid(f"Weights.{i}.Weight", "must be within [0, 100]")
        new = {w["ServiceId"]: w["Weight"] for w in p["Weights"]}

        def fn(g: dict) -> bool:
            for s in g["Services"]:
                s["Weight"] = new.get(s["ServiceId"], s["Weight"])
            g["WeightUpdateStatus"] = "UPDATING"
            return True

        self.store.update_group(gid, fn)
        timer = threading.Timer(WEIGHT_SETTLE, self.store.update_group, (gid, _settled))
        timer.daemon = True
        timer.start()
        return {"ServiceGroup": None}

    def call_info(self, p: dict, account: Account) -> dict:
        group = self.store.group(p["ServiceGroupId"], account.uin)
        return views.call_info(group, self.gateway.ensure_started())

    def events(self, p: dict, account: Account) -> dict:
        return describe_events(self.store, p, account.uin)


def _stopped(service: dict) -> bool:
    service["Status"] = "Stopped"
    return True


def _settled(group: dict) -> bool:
    group["WeightUpdateStatus"] = "UPDATED"
    return True


def _selected(group: dict, p: dict) -> bool:
    """Filters AND-ed, each matching one of its values exactly (Negative: none); TagFilters AND-ed."""
    for f in p.get("Filters", []):
        have = GROUP_FILTERS[f["Name"]](group)
        hit = any(v in have for v in f.get("Values", [])) if f.get("Values") else True
        if hit == bool(f.get("Negative")):
            return False
    tags = {(t["TagKey"], t["TagValue"]) for t in group.get("Tags", [])}
    for tf in p.get("TagFilters", []):
        keyed = {v for k, v in tags if k == tf.get("TagKey")}
        if not keyed or (tf.get("TagValues") and not keyed & set(tf["TagValues"])):
            return False
    return True
