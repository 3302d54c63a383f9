"""Trains one of the zoo's recipes (mlp, convnet, deep-convnet, mobilenet, mobilenetv2) in Keras or
PyTorch, the way `cnn train --model NAME` does, and writes what it measured as JSON; with
--predict-batch it times inference instead, as `cnn time-predict` does.

mobilenet and mobilenetv2 are keras.applications.MobileNet / MobileNetV2(weights=None, --alpha) on
the data's image shape (compare.py gives them synthetic colour IDX files), and in PyTorch
torchvision's mobilenet_v2(width_mult=alpha) and the MobileNet v1 below (torchvision has none),
with Keras's BatchNormalization settings (MobileNet: epsilon 1e-3, momentum 0.99; MobileNetV2:
epsilon 1e-3, momentum 0.999); both train with Adam(1e-3), batch 32.

Inference (--predict-batch B): the model in inference mode on one batch of B random images, called
repeatedly after two warm-up calls, for --seconds; samples/s is B over the median call. Keras runs
`predict_on_batch` (its compiled predict step without the data pipeline, the fastest of its
predict APIs on one batch), PyTorch `model(x)` under `torch.inference_mode()` after `model.eval()`.

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
    "mobilenet": dict(batch=32, decay=1.0),
    "mobilenetv2": dict(batch=32, decay=1.0),
}


def keras_model(model_name, input_shape, classes, alpha):
    """The Keras model of a recipe, uncompiled."""
    import keras
    from keras import layers, regularizers

    if model_name == "mobilenetv2":
        return keras.applications.MobileNetV2(weights=None, input_shape=input_shape, alpha=alpha, classes=classes)
    if model_name == "mobilenet":
        return keras.applications.MobileNet(weights=None, input_shape=input_shape, alpha=alpha, classes=classes)
    if model_name == "mlp":
        return keras.Sequential([keras.Input(input_shape), layers.Flatten(),
                                 layers.Dense(128, activation="relu"), layers.Dense(classes, activation="softmax")])
    if model_name == "convnet":
        return keras.Sequential([keras.Input(input_shape), layers.Conv2D(32, 3, activation="relu"),
                                 layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5),
                                 layers.Dense(classes, activation="softmax")])
    l2 = regularizers.l2(1e-4)
    conv = lambda f: layers.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=l2)
    return keras.Sequential([keras.Input(input_shape),
                             conv(32), layers.BatchNormalization(), layers.MaxPooling2D(2), layers.Dropout(0.25),
                             conv(64), layers.BatchNormalization(), conv(64), layers.BatchNormalization(),
                             layers.MaxPooling2D(2), layers.Dropout(0.25), layers.Flatten(),
                             layers.Dense(256, activation="relu", kernel_regularizer=l2),
                             layers.BatchNormalization(), layers.Dropout(0.5),
                             layers.Dense(classes, activation="softmax")])


def torch_mobilenet_v1(alpha, classes):
    """Keras's MobileNet v1 in PyTorch: a 3×3 stride-2 conv, 13 depthwise-separable blocks
    (depthwise 3×3 → BN → ReLU6 → pointwise 1×1 → BN → ReLU6), global average pooling, dropout
    1e-3 and the classifier (Keras's 1×1 conv_preds on the pooled vector is a Linear)."""
    from torch import nn

    bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
    width = lambda f: int(f * alpha)
    layers_ = [nn.Conv2d(3, width(32), 3, stride=2, padding=1, bias=False), bn(width(32)), nn.ReLU6()]
    channels = width(32)
    for filters, stride in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]:
        layers_ += [nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False), bn(channels),
                    nn.ReLU6(), nn.Conv2d(channels, width(filters), 1, bias=False), bn(width(filters)), nn.ReLU6()]
        channels = width(filters)
    return nn.Sequential(*layers_, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(1e-3), nn.Linear(channels, classes))


def torch_model(model_name, input_shape, classes, alpha):
    """The PyTorch model of a recipe, with Keras's initialisation (Glorot-uniform, zero biases)."""
    from torch import nn

    if model_name == "mobilenetv2":
        import torchvision
        model = torchvision.models.mobilenet_v2(weights=None, num_classes=classes, width_mult=alpha)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):  # Keras's MobileNetV2: epsilon 1e-3, momentum 0.999
                m.eps, m.momentum = 1e-3, 0.001
    elif model_name == "mobilenet":
        model = torch_mobilenet_v1(alpha, classes)
    elif model_name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 128), nn.ReLU(), nn.Linear(128, classes))
    elif model_name == "convnet":
        h, w, c = input_shape
        model = nn.Sequential(nn.Conv2d(c, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                              nn.Linear((h - 2) // 2 * ((w - 2) // 2) * 32, classes))
    else:
        h, w, c = input_shape
        # Keras's BatchNormalization defaults: momentum 0.99 (PyTorch counts 1 − momentum), eps 1e-3.
        bn2, bn1 = (lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)), (lambda c: nn.BatchNorm1d(c, eps=1e-3, momentum=0.01))
        model = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), bn2(32), nn.MaxPool2d(2), nn.Dropout(0.25),
                              nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), bn2(64),
                              nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), bn2(64), nn.MaxPool2d(2), nn.Dropout(0.25),
                              nn.Flatten(), nn.Linear(h // 4 * (w // 4) * 64, 256), nn.ReLU(), bn1(256), nn.Dropout(0.5),
                              nn.Linear(256, classes))
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def train_keras(model_name, epochs, data, seed, threads, alpha):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import keras

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = data
    model = keras_model(model_name, x_train.shape[1:], int(max(y_train.max(), y_test.max())) + 1, alpha)
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


def train_torch(model_name, epochs, data, seed, threads, alpha):
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    x_train, y_train, x_test, y_test = data
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    xt, yt, xv, yv = to_nchw(x_train), torch.from_numpy(y_train), to_nchw(x_test), torch.from_numpy(y_test)
    model = torch_model(model_name, x_train.shape[1:], int(max(y_train.max(), y_test.max())) + 1, alpha)
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


def time_predict(framework, model_name, input_shape, classes, alpha, batch, seconds, threads):
    """(samples/s, median seconds per call, calls, version) of inference on one random batch."""
    rng = np.random.default_rng(7)
    x = rng.random((batch,) + tuple(input_shape), dtype=np.float32)
    if framework == "keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        import keras
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        model = keras_model(model_name, input_shape, classes, alpha)
        call = lambda: model.predict_on_batch(x)
        version = f"tensorflow {tf.__version__}, keras {keras.__version__}"
    else:
        import torch
        if threads:
            torch.set_num_threads(threads)
        model = torch_model(model_name, input_shape, classes, alpha).eval()
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

        def call():
            with torch.inference_mode():
                return model(xt)
        version = f"torch {torch.__version__}"
    for _ in range(2):
        call()
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    times.sort()
    median = times[len(times) // 2]
    return batch / median, median, len(times), version


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=["keras", "torch"], required=True)
    p.add_argument("--model", choices=sorted(RECIPES), required=True)
    p.add_argument("--epochs", type=int)
    p.add_argument("--data")
    p.add_argument("--json", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (default: the framework's choice)")
    p.add_argument("--alpha", type=float, default=1.0, help="MobileNet's width multiplier")
    p.add_argument("--predict-batch", type=int, default=0, help="time inference at this batch size instead of training")
    p.add_argument("--input-shape", default="", help="HxWxC for --predict-batch (default: 28x28x1)")
    p.add_argument("--classes", type=int, default=10, help="classes for --predict-batch")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of timed calls for --predict-batch")
    a = p.parse_args()
    if a.predict_batch:
        if a.predict_batch < 1 or a.seconds <= 0:
            raise SystemExit("--predict-batch and --seconds must be positive")
        shape = tuple(int(d) for d in (a.input_shape or "28x28x1").split("x"))
        sps, median, calls, version = time_predict(a.framework, a.model, shape, a.classes, a.alpha, a.predict_batch,
                                                   a.seconds, a.threads)
        result = {"framework": a.framework, "model": a.model, "version": version, "batch_size": a.predict_batch,
                  "samples_per_second": sps, "median_seconds": median, "calls": calls}
        write_json(result, a.json)
        return
    if a.epochs is None or a.data is None or a.epochs < 1:
        raise SystemExit("training needs --data and --epochs of at least 1")
    data = load(a.data)
    train = train_keras if a.framework == "keras" else train_torch
    seconds, accuracy, version = train(a.model, a.epochs, data, a.seed, a.threads, a.alpha)
    n = len(data[1])
    result = {"framework": a.framework, "model": a.model, "version": version, "epochs": a.epochs,
              "epoch_seconds": seconds, "samples_per_second": n * len(seconds) / sum(seconds),
              "test_accuracy": accuracy}
    write_json(result, a.json)


def write_json(result, path):
    """Written whole or not at all (a temporary file renamed over the target)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
