"""Serve the digit classifier that ``train_ddp.py`` writes, the way TI-ONE's inference images do.

The training script copies this file next to ``model.pkl`` and ``metrics.json`` in its output, so the
model version imported from that output is served as is: the image runs ``tiinfer`` in the model's
directory (``TI_MODEL_DIR``), which imports this module by name, builds its ``tiinfer.Model`` subclass
with that directory and calls ``load()`` once; every request then goes through ``preprocess``,
``predict`` and ``postprocess``. The values passed between them stay plain lists, because tiinfer may
run the three steps in separate processes (``TI_PREPROCESS_NUMS``, ``TI_POSTPROCESS_NUMS``).

Request: ``{"instances": [[64 pixel values 0-16], ...]}`` (8x8 digits, as scikit-learn's ``load_digits``).
Reply: ``{"predictions": [digit, ...], "model": {"accuracy", "tag", ...}}``: ``model`` is the model's own
``metrics.json``, so a caller can tell which training run it is talking to.
"""

from __future__ import annotations

import json
import os
import pickle

import tiinfer

PIXELS = 64
MAX_INSTANCES = 10_000


class DigitClassifier(tiinfer.Model):
    """The pickled scikit-learn classifier of the model's directory."""

    def load(self) -> bool:
        directory = self.model_dir or os.environ.get("TI_MODEL_DIR", "/data/model")
        with open(os.path.join(directory, "model.pkl"), "rb") as fh:
            self.model = pickle.load(fh)  # noqa: S301 - the model this directory was trained into
        with open(os.path.join(directory, "metrics.json")) as fh:
            self.about = json.load(fh)
        return True

    def preprocess(self, request: dict) -> list:
        """The instances, checked: a list of rows of 64 numbers."""
        instances = request.get("instances") if isinstance(request, dict) else None
        if not isinstance(instances, list) or not 0 < len(instances) <= MAX_INSTANCES:
            raise ValueError(
                f'expected {{"instances": [[{PIXELS} numbers], ...]}} (1 to {MAX_INSTANCES} rows)'
            )
        rows = [[float(value) for value in row] for row in instances]
        if any(len(row) != PIXELS for row in rows):
            raise ValueError(f"every instance has {PIXELS} pixel values")
        return rows

    def predict(self, rows: list) -> list:
        return [int(label) for label in self.model.predict(rows)]

    def postprocess(self, labels: list) -> dict:
        return {"predictions": labels, "model": self.about}
