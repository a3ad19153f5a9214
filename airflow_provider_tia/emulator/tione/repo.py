"""The TI-ONE model repository: models (``m-<digits>``) and their versions (``mv-<label>-<digits>``), owned
by accounts; thread-safe, no HTTP.

A model is kept with its versions as one record; with a ``state_dir`` each is saved as
``tione/models/<model Id>.json`` (atomic replace) and reloaded on restart. A version's files live in the
emulator's model store, a folder per version (``files_dir``), filled by the importer.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import ApiError
from ..core.files import atomic_write

if TYPE_CHECKING:
    import builtins
    import os
    from collections.abc import Callable

RUNNING, SUCCESS, FAILED = "STATUS_RUNNING", "STATUS_SUCCESS", "STATUS_FAILED"


def _digits() -> str:
    return str(secrets.randbelow(9 * 10**18) + 10**18)


def _copy(obj: dict) -> dict:
    return json.loads(json.dumps(obj))


def next_label(versions: builtins.list[dict]) -> str:
    """``v<max+1>`` over the labels of the form ``v<n>`` (``v1`` for none), as Tencent's own client computes."""
    numbers = [int(v["Label"][1:]) for v in versions if v["Label"][:1] == "v" and v["Label"][1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


class ModelRepo:
    """Every model of the emulator; a caller sees only its account's (``Uin``)."""

    def __init__(self, state_dir: str | os.PathLike | None, files_root: Path) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._models: dict[str, dict] = {}
        self.files_root = files_root
        self.dir = Path(state_dir) / "tione" / "models" if state_dir else None
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            for path in sorted(self.dir.glob("m-*.json")):
                try:
                    model = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
                self._models[model["Id"]] = model

    def _save(self, model: dict) -> None:
        if self.dir is not None:
            atomic_write(self.dir / f"{model['Id']}.json", json.dumps(model, ensure_ascii=False))

    def files_dir(self, version_id: str) -> Path:
        """Where a version's files are kept."""
        return self.files_root / "tione-models" / version_id

    # ---- models and versions -----------------------------------------------------------------
    def add_version(self, p: dict, uin: str) -> tuple[dict, dict]:
        """(model, version) for checked CreateTrainingModel parameters: a new model for MODEL, a new version
        of ``TrainingModelId`` for VERSION, the existing version ``TrainingModelVersion`` (re-imported) for
        EXIST. The version starts STATUS_RUNNING; ``source`` (a CosPathInfo) must already be set in ``p``."""
        with self._lock:
            now = time.time_ns()
            if p["ImportMethod"] == "MODEL":
                model_id = f"m-{_digits()}"
                model = {"Id": model_id, "Name": p["TrainingModelName"], "Uin": uin, "CreateNs": now,
                         "Versions": []}  # fmt: skip
            else:
                model = self._require_model(p["TrainingModelId"], uin, "ResourceNotFound", "TrainingModelId")
            versions = model["Versions"]
            label = p.get("TrainingModelVersion") or next_label(versions)
            same = [v for v in versions if v["Label"] == label]
            if p["ImportMethod"] == "EXIST":
                if not same:
                    raise ApiError(
                        "ResourceNotFound",
                        f"The parameter `TrainingModelVersion` names no version {label!r}.",
                    )
                version = same[0]
                if version["Status"] == RUNNING:
                    raise ApiError("ResourceInUse", f"The version {label!r} is still being imported.")
                version.update(Status=RUNNING, Progress=0, ErrorMsg="", Spec={**version["Spec"], **p})
            else:
                if same:
                    raise ApiError("InvalidParameterValue", f"The parameter `TrainingModelVersion` {label!r} already exists in this model.")  # fmt: skip
                version = {
                    "Id": f"mv-{label}-{_digits()}", "Label": label, "Spec": p, "Status": RUNNING, "Progress": 0,
                    "ErrorMsg": "", "CreateNs": now, "UpdateNs": now,
                }  # fmt: skip
                versions.append(version)
            self._models[model["Id"]] = model
            self._save(model)
            self._changed.notify_all()
            return _copy(model), _copy(version)

    def _require_model(self, model_id: str, uin: str, code: str, field: str = "TrainingModelId") -> dict:
        model = self._models.get(model_id)
        if model is None or model["Uin"] != uin:
            raise ApiError(code, f"The parameter `{field}`: no model {model_id[:64]!r}.")
        return model

    def model(self, model_id: str, uin: str) -> dict:
        """A copy of the model with its versions; ResourceNotFound.NoModel."""
        with self._lock:
            return _copy(self._require_model(model_id, uin, "ResourceNotFound.NoModel"))

    def models(self, uin: str) -> builtins.list[dict]:
        """Copies of the account's models with their versions, oldest first."""
        with self._lock:
            mine = [m for m in self._models.values() if m["Uin"] == uin]
            return [_copy(m) for m in sorted(mine, key=lambda m: m["CreateNs"])]

    def _find(self, version_id: str) -> tuple[dict, dict] | None:
        for model in self._models.values():
            for version in model["Versions"]:
                if version["Id"] == version_id:
                    return model, version
        return None

    def version(self, version_id: str, uin: str | None) -> tuple[dict, dict] | None:
        """Copies of (model, version), or None (also for another account's)."""
        with self._lock:
            found = self._find(version_id)
            if found is None or (uin is not None and found[0]["Uin"] != uin):
                return None
            return _copy(found[0]), _copy(found[1])

    def require_version(
        self, version_id: str, uin: str, field: str = "TrainingModelVersionId"
    ) -> tuple[dict, dict]:
        """(model, version), or ResourceNotFound naming ``field``."""
        found = self.version(version_id, uin)
        if found is None:
            raise ApiError(
                "ResourceNotFound", f"The parameter `{field}`: no model version {version_id[:80]!r}."
            )
        return found

    def update_version(self, version_id: str, fn: Callable[[dict], bool]) -> bool:
        """Apply ``fn(version)`` (True: it changed something) and save; False when the version is gone."""
        with self._lock:
            found = self._find(version_id)
            if found is None or not fn(found[1]):
                return False
            found[1]["UpdateNs"] = time.time_ns()
            self._save(found[0])
            self._changed.notify_all()
            return True

    def running(self) -> builtins.list[tuple[dict, dict]]:
        """(model, version) of every import still running (resumed after a restart)."""
        with self._lock:
            return [
                (_copy(m), _copy(v))
                for m in self._models.values()
                for v in m["Versions"]
                if v["Status"] == RUNNING
            ]

    def delete_version(self, version_id: str, uin: str) -> dict:
        """Remove a version and its files; the removed version."""
        with self._lock:
            model, version = self.require_version(version_id, uin)
            rec = self._models[model["Id"]]
            rec["Versions"] = [v for v in rec["Versions"] if v["Id"] != version_id]
            self._save(rec)
            self._changed.notify_all()
        shutil.rmtree(self.files_dir(version_id), ignore_errors=True)
        return version

    def delete_model(self, model_id: str, uin: str, version_type: str | None) -> builtins.list[dict]:
        """Remove a model's versions (of ``version_type`` only, when given) and, once none is left, the model;
        the removed versions."""
        with self._lock:
            rec = self._require_model(model_id, uin, "ResourceNotFound.NoModel")
            gone = [
                v
                for v in rec["Versions"]
                if version_type is None or v["Spec"].get("ModelVersionType", "NORMAL") == version_type
            ]
            rec["Versions"] = [v for v in rec["Versions"] if v not in gone]
            if rec["Versions"]:
                self._save(rec)
            else:
                self._models.pop(model_id)
                if self.dir is not None:
                    (self.dir / f"{model_id}.json").unlink(missing_ok=True)
            self._changed.notify_all()
        for version in gone:
            shutil.rmtree(self.files_dir(version["Id"]), ignore_errors=True)
        return gone

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` (evaluated under the lock) is true or ``timeout`` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)
