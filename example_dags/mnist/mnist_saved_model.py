"""Train a small digit classifier (scikit-learn's bundled 8x8 digits) as one replica of a TI-A job.

TI-A starts this script once per replica with TF_CONFIG describing the cluster and the replica's own
role. The master trains on the full training set, prints one metrics line per epoch and saves the
model; workers train on their shard and report; parameter servers just report and exit.

    python mnist_saved_model.py [--epochs 8] [--model-dir DIR] [--data CSV]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path


def role() -> tuple[str, int, dict]:
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    return task.get("type", "master"), int(task.get("index", 0)), config.get("cluster") or {}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--model-dir", default=os.environ.get("TIA_OUTPUT_DIR") or "model")
    parser.add_argument("--data", help="CSV of 64 pixel columns then the label (default: the bundled digits)")
    parser.add_argument("--fail", action="store_true", help="exit with an error (to try failure handling)")
    options = parser.parse_args()

    kind, index, cluster = role()
    sizes = {name: len(addresses) for name, addresses in cluster.items()}
    print(f"replica {kind}-{index} starting; cluster {sizes or 'single'}", flush=True)
    if options.fail:
        print(f"replica {kind}-{index}: failing on purpose (--fail)", file=sys.stderr, flush=True)
        return 3
    if kind == "ps":
        print(f"parameter server {index} ready", flush=True)
        return 0

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    if options.data:
        table = np.loadtxt(options.data, delimiter=",")
        features, labels = table[:, :-1], table[:, -1].astype(int)
        print(f"{kind}-{index} read {len(labels)} samples from {options.data}", flush=True)
    else:
        digits = load_digits()
        features, labels = digits.data, digits.target
    x_train, x_test, y_train, y_test = train_test_split(
        features / 16.0, labels, test_size=0.25, random_state=0
    )
    if kind == "worker":  # each worker trains on its own shard
        shards = max(1, sizes.get("worker", 1))
        x_train, y_train = x_train[index::shards], y_train[index::shards]
    classes = np.arange(10)
    model = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=index)
    rng = np.random.default_rng(index)
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=classes)
        loss = -np.mean(np.log(model.predict_proba(x_train)[np.arange(len(y_train)), y_train] + 1e-12))
        accuracy = model.score(x_test, y_test)
        print(
            f"{kind}-{index} epoch {epoch}/{options.epochs} loss={loss:.4f} accuracy={accuracy:.4f}",
            flush=True,
        )

    if kind == "master":
        out = Path(options.model_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "digits_sgd.pkl"
        with path.open("wb") as handle:
            pickle.dump(model, handle)
        print(
            f"saved model to {path.resolve()} (test accuracy {model.score(x_test, y_test):.4f})", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
