"""Train a digit classifier data-parallel, DDP style, as one worker of a TI-ONE training task.

TI-ONE starts this script once per worker with the environment a DDP framework reads: ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``. Each worker trains on its shard of the data; the
others send their weights to rank 0 over TCP, which averages them (one round of federated
averaging per epoch), evaluates the model and writes ``model.pkl``, ``metrics.json`` and the serving
code ``model_service.py`` (next to this script) to the output directory, which the platform uploads to
the task's ``Output``: imported into TI-ONE's model repository, that folder is served as is.

``MODEL_TAG`` (any text) is recorded in ``metrics.json``, which the service returns with each prediction.
``BREAK_MODEL_SERVICE=true`` writes a ``model_service.py`` that fails to load instead (to show a rollback).

    python train_ddp.py [--epochs 5] [--data-dir DIR] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import socket
import struct
import sys
import time
from pathlib import Path

CONNECT_FOR = 120.0  # seconds a worker keeps trying to reach rank 0
SERVING_CODE = Path(__file__).resolve().parent / "model_service.py"
BROKEN_SERVING_CODE = """\
import tiinfer


class DigitClassifier(tiinfer.Model):
    def load(self):
        raise RuntimeError("deliberately broken model_service.py (BREAK_MODEL_SERVICE=true)")
"""


def send(sock: socket.socket, value: object) -> None:
    data = pickle.dumps(value)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def receive(sock: socket.socket) -> object:
    def exactly(size: int) -> bytes:
        chunks = b""
        while len(chunks) < size:
            chunk = sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            chunks += chunk
        return chunks

    (size,) = struct.unpack("!Q", exactly(8))
    return pickle.loads(exactly(size))  # noqa: S301 - peers are this task's own workers


def load(data_dir: str | None):  # noqa: ANN201
    """The prepared dataset (``digits.npz`` from the DAG's first task), else scikit-learn's copy."""
    import numpy as np

    path = Path(data_dir or "") / "digits.npz"
    if data_dir and path.exists():
        with np.load(path) as data:
            return data["X"], data["y"]
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def connect_to_master(address: str, port: int) -> socket.socket:
    deadline = time.monotonic() + CONNECT_FOR
    while True:
        try:
            return socket.create_connection((address, port), timeout=60)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def write_serving_code(output: Path) -> None:
    """``model_service.py`` next to the model, so the output folder is a servable model version."""
    if os.environ.get("BREAK_MODEL_SERVICE", "").strip().lower() in ("1", "true", "yes"):
        (output / "model_service.py").write_text(BROKEN_SERVING_CODE)
        print("BREAK_MODEL_SERVICE: wrote a model_service.py that fails to load", flush=True)
    else:
        shutil.copyfile(SERVING_CODE, output / "model_service.py")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "5")))
    parser.add_argument("--data-dir", default=os.environ.get("TIONE_DATA_DIR", "/opt/ml/input/data"))
    parser.add_argument("--output-dir", default=os.environ.get("TIONE_OUTPUT_DIR", "/opt/ml/output"))
    options = parser.parse_args()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    address, port = os.environ.get("MASTER_ADDR", "127.0.0.1"), int(os.environ.get("MASTER_PORT", "29500"))
    print(f"worker {rank}/{world} starting (master {address}:{port})", flush=True)

    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    features, labels = load(options.data_dir)
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=0)
    x_shard, y_shard = x_train[rank::world], y_train[rank::world]
    classes = np.unique(labels)
    model = SGDClassifier(loss="log_loss", random_state=rank)

    server = peers = None
    if world > 1 and rank == 0:
        server = socket.create_server(("0.0.0.0", port))
        peers = [server.accept()[0] for _ in range(world - 1)]
    link = connect_to_master(address, port) if world > 1 and rank > 0 else None

    for epoch in range(1, options.epochs + 1):
        model.partial_fit(x_shard, y_shard, classes=classes)
        if link is not None:  # a worker: send my weights, take the average
            send(link, (model.coef_, model.intercept_))
            model.coef_, model.intercept_ = receive(link)  # type: ignore[misc]
        elif peers:  # rank 0: average everybody's weights, send the average back
            weights = [(model.coef_, model.intercept_)] + [receive(peer) for peer in peers]  # type: ignore[misc]
            model.coef_ = np.mean([w[0] for w in weights], axis=0)
            model.intercept_ = np.mean([w[1] for w in weights], axis=0)
            for peer in peers:
                send(peer, (model.coef_, model.intercept_))
        print(f"worker {rank} epoch {epoch}: shard accuracy {model.score(x_shard, y_shard):.3f}", flush=True)

    if rank == 0:
        accuracy = float(model.score(x_test, y_test))
        output = Path(options.output_dir)
        output.mkdir(parents=True, exist_ok=True)
        (output / "model.pkl").write_bytes(pickle.dumps(model))
        metrics = {
            "accuracy": accuracy,
            "epochs": options.epochs,
            "workers": world,
            "test_size": len(y_test),
            "train_size": len(y_train),
            "tag": os.environ.get("MODEL_TAG", ""),
        }
        (output / "metrics.json").write_text(json.dumps(metrics))
        write_serving_code(output)
        print(f"test accuracy {accuracy:.4f}; model written to {output / 'model.pkl'}", flush=True)
    for sock in [link, server, *(peers or [])]:
        if sock is not None:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
