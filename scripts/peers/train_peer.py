"""Trains one of the zoo's recipes (mlp, convnet, deep-convnet, mobilenetv2) in Keras or PyTorch,
the way `cnn train --model NAME` does, and writes what it measured as JSON.

mobilenetv2 is keras.applications.MobileNetV2(weights=None, alpha 1) on the data's image shape
(compare.py gives it synthetic 96×96×3 IDX files) and torchvision's mobilenet_v2 with Keras's
BatchNormalization settings (epsilon 1e-3, momentum 0.999); both train with Adam(1e-3), batch 32.

The recipes mirror Sources/NN/Model/Zoo.swift: same layers, Glorot-uniform kernels and zero
biases, Adam(1e-3), the same batch size, shuffled every epoch, softmax cross-entropy, L2 1e-4
on every kernel of deep-convnet and its learning rate times 0.8 after every epoch. The data are
the same IDX files scaled to [0, 1]. Samples/s counts training steps only (the epoch's wall time
without validation), as `cnn train` does; the test accuracy is measured once at the end.

Called by scripts/compare-peers; usage:
    train_peer.py --framework keras|torch --model NAME --epochs N --data DIR --json OUT
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array, as the engine's IDXFile reads it."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    for name in (stem + "-ubyte.gz", stem + "-ubyte", stem + ".idx.gz"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise SystemExit(f"{directory}: no {stem}-ubyte(.gz)")


def load(directory):
    x_train = read_idx(find(directory, "train-images-idx3"))
    y_train = read_idx(find(directory, "train-labels-idx1"))
    x_test = read_idx(find(directory, "t10k-images-idx3"))
    y_test = read_idx(find(directory, "t10k-labels-idx1"))
    # NHWC; rank-3 IDX images get their one channel axis, rank-4 ones (H, W, C) have it already.
    scale = lambda x: (x.astype(np.float32) / 255.0)[..., None] if x.ndim == 3 else x.astype(np.float32) / 255.0
    return scale(x_train), y_train.astype(np.int64), scale(x_test), y_test.astype(np.int64)


RECIPES = {
    "mlp": dict(batch=32, decay=1.0),
    "convnet": dict(batch=32, decay=1.0),
    "deep-convnet": dict(batch=64, decay=0.8),
    "mobilenetv2": dict(batch=32, decay=1.0),
}


def train_keras(model_name, epochs, data, seed, threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras
    from keras import layers, regularizers

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = data
    if model_name == "mobilenetv2":
        model = keras.applications.MobileNetV2(weights=None, input_shape=x_train.shape[1:], alpha=1.0,
                                               classes=int(max(y_train.max(), y_test.max())) + 1)
    elif model_name == "mlp":
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                                  layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    elif model_name == "convnet":
        model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                                  layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                                  layers.Dense(10, activation="softmax")])
    else:
        l2 = regularizers.l2(1e-4)
        conv = lambda f: layers.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=l2)
        model = keras.Sequential([keras.Input((28, 28, 1)),
                                  conv(32), layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Dropout(0.25),
                                  conv(64), layers.BatchNormalization(), conv(64), layers.BatchNormalization(),
                                  layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
                                  layers.Dense(256, activation="relu", kernel_regularizer=l2),
                                  layers.BatchNormalization(), layers.Dropout(0.5),
                                  layers.Dense(10, activation="softmax")])
    recipe = RECIPES[model_name]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Timer(keras.callbacks.Callback):
        """Epoch wall time up to the last training batch (Keras validates after it)."""
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(1e-3 * recipe["decay"] ** epoch)
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    timer = Timer()
    model.fit(x_train, y_train, batch_size=recipe["batch"], epochs=epochs, shuffle=True, callbacks=[timer], verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    return timer.seconds, float(accuracy), f"tensorflow {tf.__version__}, keras {keras.__version__}"


def train_torch(model_name, epochs, data, seed, threads):
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    x_train, y_train, x_test, y_test = data
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    xt, yt, xv, yv = to_nchw(x_train), torch.from_numpy(y_train), to_nchw(x_test), torch.from_numpy(y_test)
    if model_name == "mobilenetv2":
        import torchvision
        model = torchvision.models.mobilenet_v2(weights=None, num_classes=int(max(y_train.max(), y_test.max())) + 1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):  # Keras's MobileNetV2: epsilon 1e-3, momentum 0.999
                m.eps, m.momentum = 1e-3, 0.001
    elif model_name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    elif model_name == "convnet":
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                              nn.Linear(13 * 13 * 32, 10))
    else:
        # Keras's BatchNormalization defaults: momentum 0.99 (PyTorch counts 1 − momentum), eps 1e-3.
        bn2, bn1 = (lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)), (lambda c: nn.BatchNorm1d(c, eps=1e-3, momentum=0.01))
        model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), bn2(32), nn.MaxPool2d(2), nn.Dropout(0.25),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), bn2(64),
                              nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), bn2(64), nn.MaxPool2d(2), nn.Dropout(0.25),
                              nn.Flatten(), nn.Linear(7 * 7 * 64, 256), nn.ReLU(), bn1(256), nn.Dropout(0.5),
                              nn.Linear(256, 10))
    # Keras's initialisation: Glorot-uniform kernels, zero biases.
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    recipe = RECIPES[model_name]
    kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    l2 = 1e-4 if model_name == "deep-convnet" else 0.0
    # Keras's Adam epsilon is 1e-7 (PyTorch's default is 1e-8).
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    batch, n = recipe["batch"], len(yt)
    seconds = []
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * recipe["decay"] ** epoch
        model.train()
        order = torch.randperm(n)
        start = time.perf_counter()
        for i in range(0, n, batch):
            index = order[i:i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[index]), yt[index])
            if l2:
                loss = loss + l2 * sum((k * k).sum() for k in kernels)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(yv), 256):
            correct += (model(xv[i:i + 256]).argmax(1) == yv[i:i + 256]).sum().item()
    return seconds, correct / len(yv), f"torch {torch.__version__}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=["keras", "torch"], required=True)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (default: the framework's choice)")
    a = p.parse_args()
    if a.epochs < 1:
        raise SystemExit("--epochs must be at least 1")
    data = load(a.data)
    train = train_keras if a.framework == "keras" else train_torch
    seconds, accuracy, version = train(a.model, a.epochs, data, a.seed, a.threads)
    n = len(data[1])
    result = {"framework": a.framework, "model": a.model, "version": version, "epochs": a.epochs,
              "epoch_seconds": seconds, "samples_per_second": n * len(seconds) / sum(seconds),
              "test_accuracy": accuracy}
    tmp = a.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, a.json)


if __name__ == "__main__":
    sys.exit(main())
