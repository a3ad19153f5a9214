"""Replies of the online-service actions rendered from stored groups and services and their live replicas:
Service (with ServiceInfo, WorkloadStatus and PodInfos), ServiceGroup, AuthToken, call info and events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.timefmt import rfc3339_nano, tione_list_time
from .repo_actions import zulu

if TYPE_CHECKING:
    from .serving import Pod

# ServiceInfo fields the configuration may leave unset: null, as the service shows them; InstanceAlias and
# the read-only totals are not modelled.
UNSET_INFO = dict.fromkeys((
    "Resources", "InstanceType", "InstanceAlias", "LogConfig", "HorizontalPodAutoscaler", "ResourceTotal",
    "HybridBillingPrepaidReplicas", "OldHybridBillingPrepaidReplicas", "ModelHotUpdateEnable", "CronScaleJobs",
    "ScaleStrategy", "ScheduledAction", "PodList", "Pods", "ServiceLimit", "ModelTurboEnable", "VolumeMount",
    "Command", "ServiceEIP", "ServicePort", "TerminationGracePeriodSeconds", "PreStopCommand", "GrpcEnable",
    "HealthProbe", "RollingUpdate", "VolumeMounts", "SchedulingStrategy", "InferTemplateId",
))  # fmt: skip
BUSINESS = {"": "CREATING", "CREATING": "CREATING", "Waiting": "CREATING", "Abnormal": "CREATE_FAILED"}
NOT_RUNNING = ("Stopped", "Stopping")


def _business(service: dict) -> tuple[str, str]:
    """(BusinessStatus, CreateFailedReason): BILLING and CREATE_SUCCEED once the service has served."""
    if service.get("EverNormal"):
        return ("BILLING" if service["Status"] not in NOT_RUNNING else "CREATE_SUCCEED"), "CREATE_SUCCEED"
    business = BUSINESS.get(service["Status"], "CREATING")
    return business, service.get("Reason", "") if business == "CREATE_FAILED" else ""


def pod_info(pod: Pod, service: dict) -> dict:
    phase = {"starting": "Pending", "ready": "Running", "failed": "Running"}[pod.state]
    state = {"starting": "waiting", "ready": "running", "failed": "waiting"}[pod.state]
    reason = {"starting": "ContainerCreating", "ready": "", "failed": "CrashLoopBackOff"}[pod.state]
    return {
        "Name": pod.name, "Uid": pod.name, "ChargeType": service["ChargeType"], "Phase": phase,
        "IP": "127.0.0.1", "CreateTime": zulu(pod.created_ns), "Status": "Running" if pod.state == "ready" else phase,
        "StartScheduleTime": tione_list_time(pod.created_ns), "Message": pod.reason, "NodeIP": "127.0.0.1",
        "NodeId": "emulator", "ResourceGroupId": service["Config"].get("ResourceGroupId", ""), "ResourceGroupName": "",
        "Containers": None, "CrossTenantENIInfo": None, "ResourceInfo": None,
        "ContainerInfos": [{"Name": "tiinfer", "ContainerId": pod.name, "Image": "tiinfer", "Status": {
            "RestartCount": 0, "State": state, "Ready": pod.state == "ready", "Reason": reason, "Message": pod.reason}}],
    }  # fmt: skip


def _workload(service: dict) -> dict:
    base = {"Replicas": 0, "UpdatedReplicas": 0, "ReadyReplicas": 0, "AvailableReplicas": 0,
            "UnavailableReplicas": 0, "Status": "Pending", "Reason": ""}  # fmt: skip
    work = {**base, **service.get("Workload", {})}
    ready = work["AvailableReplicas"] >= service["DesiredReplicas"]
    work["Conditions"] = [{"Type": "Available", "Status": "True" if ready else "False",
                           "Reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                           "Message": work["Reason"], "LastTransitionTime": "", "LastUpdateTime": ""}]  # fmt: skip
    return work


def service_info(service: dict, image: dict, pods: list[Pod]) -> dict:
    cfg = service["Config"]
    stopped = service["Status"] in NOT_RUNNING
    model = cfg.get("ModelInfo")
    return {
        **UNSET_INFO, **cfg, "Replicas": 0 if stopped else service["DesiredReplicas"], "ImageInfo": cfg.get("ImageInfo", image),
        "Env": cfg.get("Env", []), "ModelInfo": model, "LogEnable": cfg.get("LogEnable", False),
        "AuthorizationEnable": service["AuthorizationEnable"], "ScaleMode": cfg.get("ScaleMode", "MANUAL"),
        "Status": _workload(service), "Weight": 0 if stopped else service["Weight"],
        "OldReplicas": service.get("OldReplicas", 0), "InstancePerReplicas": cfg.get("InstancePerReplicas", 1),
        "PodInfos": [pod_info(p, service) for p in pods], "NodeCount": 1 if pods else 0,
        "InferCodeInfo": {"CosPathInfo": model.get("CosPathInfo")} if model and model.get("CosPathInfo") else None,
    }  # fmt: skip


def service_view(group: dict, service: dict, image: dict, pods: list[Pod]) -> dict:
    """The Service object of one version."""
    business, failed = _business(service)
    status = service["Status"]
    latest = str(max([int(s["Version"]) for s in group["Services"]], default=0))
    return {
        "ServiceGroupId": group["Id"], "ServiceId": service["ServiceId"], "ServiceGroupName": group["Name"],
        "ServiceDescription": service["Config"].get("ServiceDescription", ""),
        "ServiceInfo": service_info(service, image, pods), "ClusterId": "emulator", "Region": group["Region"],
        "Namespace": f"infer-{group['Uin']}", "ChargeType": service["ChargeType"],
        "ResourceGroupId": service["Config"].get("ResourceGroupId", ""), "ResourceGroupName": "",
        "Tags": group.get("Tags", []), "IngressName": "", "CreatedBy": group["Uin"],
        "CreateTime": zulu(service["CreateNs"]), "UpdateTime": zulu(service["UpdateNs"]), "Uin": group["Uin"],
        "SubUin": group["Uin"], "AppId": group["AppId"], "BusinessStatus": business, "CreateFailedReason": failed,
        "Status": status, "BillingInfo": "", "Weight": service["Weight"], "CreateSource": group.get("CreateSource", "DEFAULT"),
        "Version": service["Version"], "LatestVersion": latest, "ResourceGroupSWType": "NORMAL",
        "ArchiveStatus": "", "DeployType": group.get("DeployType", "STANDARD"),
        "InstancePerReplicas": str(service["Config"].get("InstancePerReplicas", 1)), "MonitorSource": "",
        "SubUinName": group["Uin"], "ProjectId": "0", "Changer": group["Uin"], "ChangerName": group["Uin"],
        "ScheduledAction": service["Config"].get("ScheduledAction"), "ServiceLimit": service["Config"].get("ServiceLimit"),
        "SchedulingPolicy": None, "ExternalResourceGroups": [], "ResourceSupplyAttribute": group.get("ResourceSupplyAttribute"),
    }  # fmt: skip


def created_view(group: dict, service: dict, image: dict) -> dict:
    """The Service a Create answers with: the IDs set, Status "" and BusinessStatus CREATING."""
    view = service_view(group, {**service, "Status": "", "EverNormal": False, "Workload": {}}, image, [])
    view["ServiceInfo"]["Status"] = None
    return {**view, "Status": "", "BusinessStatus": "CREATING", "CreateFailedReason": ""}


def auth_tokens(group: dict) -> list[dict]:
    return [{"Base": {"Value": t["Value"], "Name": t["Name"], "Description": "", "CreateTime": zulu(t["CreateNs"]),
                      "Status": "Enabled", "Id": t["Id"]}, "Limits": []} for t in group.get("Tokens", [])]  # fmt: skip


def group_view(group: dict, services: list[dict]) -> dict:
    """The ServiceGroup object; ``services`` are its rendered Service objects."""
    running = [s for s in services if s["Status"] == "Normal"]
    statuses = {s["Status"] for s in services}
    status = "Normal" if running else (next(iter(statuses)) if len(statuses) == 1 else "Abnormal" if "Abnormal" in statuses else "Waiting")  # fmt: skip
    return {
        "ServiceGroupId": group["Id"], "ServiceGroupName": group["Name"], "CreatedBy": group["Uin"],
        "CreateTime": zulu(group["CreateNs"]), "UpdateTime": zulu(group["UpdateNs"]), "Uin": group["Uin"],
        "ServiceCount": len(services), "RunningServiceCount": len(running), "Services": services,
        "Status": status if services else "Stopped", "Tags": group.get("Tags", []),
        "LatestVersion": str(max([int(s["Version"]) for s in services], default=0)),
        "BusinessStatus": "BILLING" if running else "CREATING", "BillingInfo": "",
        "CreateSource": group.get("CreateSource", "DEFAULT"), "WeightUpdateStatus": group["WeightUpdateStatus"],
        "ReplicasCount": sum(s["ServiceInfo"]["Status"]["ReadyReplicas"] for s in services if s["ServiceInfo"]["Status"]),
        "AvailableReplicasCount": sum(s["ServiceInfo"]["Replicas"] for s in services), "SubUin": group["Uin"],
        "AppId": group["AppId"], "AuthorizationEnable": group["AuthorizationEnable"],
        "AuthTokens": auth_tokens(group), "MonitorSource": "", "SubUinName": group["Uin"],
        "GatewayLogConfig": group.get("GatewayLogConfig"), "GatewayConfig": group.get("GatewayConfig"),
        "Changer": group["Uin"], "ChangerName": group["Uin"], "SmartRouter": None,
    }  # fmt: skip


def call_info(group: dict, endpoint: str) -> dict:
    """DescribeModelServiceCallInfo: the gateway's address (``POST <InternetEndpoint>/<group Id>/v1/models/m:predict``,
    the same as ``<OuterHttpAddr>/v1/models/m:predict``) and, with authorization on, the token."""
    tokens = auth_tokens(group)
    on = group["AuthorizationEnable"]
    token = tokens[0]["Base"]["Value"] if on and tokens else ""
    outer = f"{endpoint}/{group['Id']}"
    return {
        "ServiceCallInfoV2": {"ServiceGroupId": group["Id"], "InternetEndpoint": endpoint, "AuthorizationEnable": on,
                              "AuthToken": token, "AuthTokens": tokens if on else [], "EnableLimit": False,
                              "GrpcHost": "", "GatewayConfig": group.get("GatewayConfig")},
        "ServiceCallInfo": {"ServiceGroupId": group["Id"], "InnerHttpAddr": outer, "InnerHttpsAddr": "",
                            "OuterHttpAddr": outer, "OuterHttpsAddr": "", "AppKey": "", "AppSecret": "",
                            "AuthorizationEnable": on},
        "IntranetCallInfo": {"IngressPrivateLinkInfo": None, "PrivateLinkInfos": [], "DefaultInnerCallInfos": [],
                             "PrivateLinkInfosV2": [], "ServiceEIPInfo": []},
    }  # fmt: skip


def event_view(event: dict) -> dict:
    """An Event; times RFC 3339 in UTC."""
    return {
        "Id": event["Id"], "Message": f"{event['Reason']}: {event['Message']}", "Type": event["Type"],
        "FirstTimestamp": rfc3339_nano(event["FirstNs"]), "LastTimestamp": rfc3339_nano(event["LastNs"]),
        "Count": event["Count"], "ResourceKind": event["ResourceKind"], "ResourceName": event["ResourceName"],
    }  # fmt: skip
