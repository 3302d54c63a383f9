"""The Keras side of scripts/check-keras-interop: Keras writes model files the engine must read,
and reads the files the engine writes. Run with the venv's interpreter (.peers/venv/bin/python).

    interop.py make-data SRC_IDX_DIR OUT_DIR [--size 96] [--channels 3] [--train N] [--test M]
    interop.py train MODEL DATA_DIR OUT_PREFIX [--epochs E] [--seed S]
    interop.py evaluate MODEL_FILE DATA_DIR OUT_JSON
    interop.py resave IN.keras OUT.keras
    interop.py compare-weights A.keras B.keras [--optimizer]
    interop.py compare-figures FIGURES_JSON CNN_OUTPUT [--probabilities P.json] [--label TEXT]
    interop.py check-graph DIR

MODEL is mlp, convnet, deep-convnet (the engine's zoo recipes, as scripts/peers/train_peer.py
builds them), mobilenet025 (keras.applications.MobileNet, alpha 0.25) or residual (a small
Functional graph: a residual block with Add, a side branch joined by Concatenate). check-graph loads
the graph the engine built and saved (graph.keras, graph.h5 and graph.ours.json, written by the Swift
test KerasFunctionalTests.testWriteInteropFiles) and compares Keras's predictions and evaluation
with the engine's. The figures JSON holds
`model.evaluate` on the whole test set (batch 32) and `model.predict` of its first 16 images.
"""
import argparse
import io
import json
import os
import struct
import sys
import zipfile

# Before TensorFlow is imported: no log noise, and no oneDNN kernels, whose results vary with
# the machine's instruction set (the engine is compared with plain float32 arithmetic).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from train_peer import find, keras_model, read_idx  # noqa: E402  the peer comparison's IDX reader and models

PREDICT_COUNT = 16
# Batch size and per-epoch learning-rate factor of each recipe (Sources/NNZoo/Zoo.swift;
# mobilenet has convnet's recipe there).
RECIPES = {"mlp": (32, 1.0), "convnet": (32, 1.0), "deep-convnet": (64, 0.8), "mobilenet025": (32, 1.0),
           "residual": (32, 1.0)}


# ---- data -------------------------------------------------------------------------------

def write_idx(path, array):
    """An uncompressed unsigned-byte IDX file: magic 0x0000_08_<rank>, big-endian dimensions."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.tobytes())


def resize(images, size, channels):
    """[N, 28, 28] uint8 → [N, size, size] (channels 1) or [N, size, size, channels] uint8."""
    import tensorflow as tf
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i in range(0, len(images), 1000):  # chunks: 60,000 images at 96×96 in float32 are 2 GB
        chunk = tf.image.resize(images[i:i + 1000, :, :, None].astype(np.float32), (size, size),
                                method="bilinear").numpy()[..., 0]
        out[i:i + 1000] = np.clip(np.rint(chunk), 0, 255).astype(np.uint8)
    # Gray repeated into every channel, so MobileNet's 3-channel stem has an RGB-shaped input.
    return out if channels == 1 else np.repeat(out[..., None], channels, axis=-1)


def make_data(a):
    os.makedirs(a.out_dir, exist_ok=True)
    for split, stem, count in (("train", "train", a.train), ("test", "t10k", a.test)):
        images = read_idx(find(a.src, stem + "-images-idx3"))
        labels = read_idx(find(a.src, stem + "-labels-idx1"))
        n = len(images) if count is None else min(count, len(images))  # the first n: no sampling to repeat
        images = images[:n] if a.size == images.shape[1] and a.channels == 1 else resize(images[:n], a.size, a.channels)
        # MNIST names even for rank 4: the engine looks for these four names in --data.
        write_idx(os.path.join(a.out_dir, stem + "-images-idx3-ubyte"), images)
        write_idx(os.path.join(a.out_dir, stem + "-labels-idx1-ubyte"), labels[:n])
        print(f"{split}: {list(images.shape)} images")


def load_split(directory, stem):
    """Images scaled exactly as the engine does (uint8 / 255 in float32), NHWC, and int labels."""
    images = read_idx(find(directory, stem + "-images-idx3"))
    if images.ndim == 3:
        images = images[..., None]
    labels = read_idx(find(directory, stem + "-labels-idx1")).astype(np.int64)
    return images.astype(np.float32) / np.float32(255), labels


# ---- models -----------------------------------------------------------------------------

def build(name, input_shape, classes):
    """The engine's zoo models in Keras, layer for layer: the peer comparison's own builder
    (scripts/peers/train_peer.py), plus the graphs only interop needs."""
    import keras
    from keras import layers
    if name in ("mlp", "convnet", "deep-convnet"):
        return keras_model(name, input_shape, classes, 1.0)
    if name == "mobilenet025":
        # A functional Model (not Sequential): input_layer → conv1_pad/conv1/... → reshape_2 → predictions.
        return keras_model("mobilenet", input_shape, classes, 0.25)
    if name == "residual":
        # A Functional graph (the fixture's shape, sized for Fashion-MNIST): the side branch is made
        # first, so Keras's layer order (by depth from the output) is not the order of creation.
        image = keras.Input(input_shape, name="image")
        side = layers.Conv2D(4, 1, strides=2, name="side_conv")(image)
        h = layers.Conv2D(8, 3, strides=2, padding="same", name="conv_a")(image)
        h = layers.BatchNormalization(name="bn_a")(h)
        h = layers.ReLU(name="relu_a")(h)
        r = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(h)
        joined = layers.Concatenate(name="concat")([layers.Add(name="add")([r, h]), side])
        pooled = layers.MaxPooling2D(2, name="pool")(joined)
        head = layers.Dense(classes, activation="softmax", name="predictions")(layers.Flatten(name="flat")(pooled))
        return keras.Model(image, head, name="residual")
    raise SystemExit(f"unknown model '{name}'; choose one of {', '.join(RECIPES)}")


def compile_model(model):
    import keras
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def figures(model, data_dir, out_json, extra):
    """Writes model.evaluate on the test set and model.predict of its first images as JSON."""
    import keras
    x, y = load_split(data_dir, "t10k")
    loss, accuracy = model.evaluate(x, y, batch_size=32, verbose=0)
    regularization = float(sum(float(l) for l in model.losses)) if model.losses else 0.0
    predictions = model.predict(x[:PREDICT_COUNT], batch_size=32, verbose=0)
    result = dict(extra, keras_version=keras.__version__, test_count=int(len(y)),
                  # loss includes the kernels' L2 penalty (Keras's and the engine's evaluate both add it).
                  loss=float(loss), accuracy=float(accuracy), regularization_loss=regularization,
                  predict_indices=list(range(min(PREDICT_COUNT, len(y)))),
                  predictions=predictions.astype(np.float64).tolist())  # float32 → float: exact
    with open(out_json, "w") as f:
        json.dump(result, f)
        f.write("\n")
    print(f"{out_json}: test loss {loss:.4f}, test accuracy {accuracy:.4f}")


def train(a):
    import keras
    keras.utils.set_random_seed(a.seed)
    x, y = load_split(a.data_dir, "train")
    classes = int(max(y.max(), read_idx(find(a.data_dir, "t10k-labels-idx1")).max())) + 1
    model = build(a.model, x.shape[1:], classes)
    compile_model(model)
    batch, decay = RECIPES[a.model]
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 * decay ** epoch)
    model.fit(x, y, batch_size=batch, epochs=a.epochs, shuffle=True, callbacks=[schedule], verbose=0)
    model.save(a.out_prefix + ".keras")
    model.save(a.out_prefix + ".h5")  # the legacy whole-model HDF5 format
    figures(model, a.data_dir, a.out_prefix + ".expected.json",
            dict(model=a.model, epochs=a.epochs, seed=a.seed, train_count=int(len(y))))


def evaluate(a):
    import keras
    # compile=False, then the same loss and metric as training: what is measured must not depend
    # on the compile_config the engine wrote (or left out).
    model = keras.models.load_model(a.model_file, compile=False)
    compile_model(model)
    figures(model, a.data_dir, a.out_json, dict(model_file=a.model_file))


def resave(a):
    import keras
    model = keras.models.load_model(a.input)  # compiled: the optimizer's state is loaded and saved too
    model.save(a.output)
    print(f"{a.input} → {a.output}")


def check_graph(a):
    """Keras loads the graph the engine built and saved: predictions within 1e-5 of the engine's,
    the evaluate loss within 1e-4 and accuracy equal; the optimizer's step count carried over."""
    import keras
    ours = json.load(open(os.path.join(a.dir, "graph.ours.json")))
    x = np.asarray(ours["inputs"], dtype=np.float32).reshape([-1] + ours["input_shape"])
    y = np.asarray(ours["labels"])
    expected = np.asarray(ours["predictions"], dtype=np.float32)
    failed = False
    for ext in ("keras", "h5"):
        label = f"cnn->keras graph.{ext}"
        try:
            model = keras.models.load_model(os.path.join(a.dir, "graph." + ext))
        except Exception as e:  # noqa: BLE001  one table row, whatever Keras raised
            print(f"{label:34} FAIL  Keras could not load it: {e}")
            failed = True
            continue
        p = model.predict(x, batch_size=4, verbose=0)
        loss, accuracy = model.evaluate(x, y, batch_size=4, verbose=0)
        worst = float(np.abs(p - expected).max()) if p.shape == expected.shape else float("inf")
        d_loss, d_acc = abs(loss - ours["evaluate"]["loss"]), abs(accuracy - ours["evaluate"]["accuracy"])
        ok = worst <= PROBABILITY_TOLERANCE and d_loss <= 1e-4 and d_acc <= 1e-6 and int(model.optimizer.iterations.numpy()) == 3
        print(f"{label:34} {ours['evaluate']['loss']:8.4f} {loss:8.4f} {d_loss:8.1e}  {ours['evaluate']['accuracy']:7.4f} "
              f"{accuracy:7.4f} {d_acc:8.1e}  {worst:9.1e}  {'PASS' if ok else 'FAIL'}")
        failed = failed or not ok
    if failed:
        raise SystemExit(1)


# ---- weights ------------------------------------------------------------------------------

def datasets(path, prefixes):
    """{path: (dtype, shape, bytes)} of every dataset under the prefixes in a .keras archive's weights."""
    import h5py
    with zipfile.ZipFile(path) as z:
        blob = z.read("model.weights.h5")
    found = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.startswith(prefixes):
                value = obj[()]
                found[name] = (str(value.dtype), tuple(np.shape(value)), np.asarray(value).tobytes())
        f.visititems(visit)
    return found


def compare_weights(a):
    prefixes = ("layers/", "optimizer/") if a.optimizer else ("layers/",)
    left, right = datasets(a.a, prefixes), datasets(a.b, prefixes)
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            raise SystemExit(f"DIFFERENT: {name} is only in {a.a if name in left else a.b}")
        (dl, sl, bl), (dr, sr, br) = left[name], right[name]
        if (dl, sl) != (dr, sr):
            raise SystemExit(f"DIFFERENT: {name}: {dl}{list(sl)} vs {dr}{list(sr)}")
        if bl != br:
            l, r = np.frombuffer(bl, dtype=dl), np.frombuffer(br, dtype=dr)
            i = int(np.flatnonzero(l != r)[0]) if l.shape == r.shape and (l != r).any() else 0
            raise SystemExit(f"DIFFERENT: {name}: element {i}: {l[i].item()!r} vs {r[i].item()!r}")
    print(f"identical: {len(left)} datasets under {', '.join(prefixes)}")


# ---- figures ------------------------------------------------------------------------------

# What "the same model" means across two float32 engines: sums in another order move the loss in
# the 4th-5th digit and may flip an image whose top two classes tie within rounding.
LOSS_TOLERANCE, ACCURACY_TOLERANCE, PROBABILITY_TOLERANCE = 0.002, 0.001, 1e-5


def compare_figures(a):
    """One table row: Keras's figures (JSON) against `cnn evaluate`'s output line and the
    probabilities `cnn predict --probabilities-json` wrote. Exit 1 if any is out of tolerance."""
    import re
    expected = json.load(open(a.figures))
    text = open(a.cnn_output).read()
    m = re.search(r"test loss: (\S+) - test accuracy: (\S+)", text)
    if not m:
        print(f"{a.label:34} FAIL  no 'test loss: X - test accuracy: Y' line in the cnn output")
        raise SystemExit(1)
    loss, accuracy = float(m.group(1)), float(m.group(2))
    d_loss, d_acc = abs(loss - expected["loss"]), abs(accuracy - expected["accuracy"])
    ok = d_loss <= LOSS_TOLERANCE and d_acc <= ACCURACY_TOLERANCE
    d_prob = "-"
    if a.probabilities:
        ours, theirs = np.array(json.load(open(a.probabilities)), dtype=np.float64), np.array(expected["predictions"])
        if ours.shape != theirs.shape:
            d_prob, ok = f"shape {list(ours.shape)}≠{list(theirs.shape)}", False
        else:
            worst = float(np.abs(ours - theirs).max())
            d_prob, ok = f"{worst:.1e}", ok and worst <= PROBABILITY_TOLERANCE
    print(f"{a.label:34} {expected['loss']:8.4f} {loss:8.4f} {d_loss:8.1e}  {expected['accuracy']:7.4f} {accuracy:7.4f} "
          f"{d_acc:8.1e}  {d_prob:>9}  {'PASS' if ok else 'FAIL'}")
    if not ok:
        raise SystemExit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("make-data", help="resized Fashion-MNIST IDX files")
    s.add_argument("src"), s.add_argument("out_dir")
    s.add_argument("--size", type=int, default=28), s.add_argument("--channels", type=int, default=1)
    s.add_argument("--train", type=int), s.add_argument("--test", type=int)
    s.set_defaults(run=make_data)
    s = sub.add_parser("train", help="train a recipe in Keras, save .keras/.h5 and its figures")
    s.add_argument("model", choices=sorted(RECIPES)), s.add_argument("data_dir"), s.add_argument("out_prefix")
    s.add_argument("--epochs", type=int, default=1), s.add_argument("--seed", type=int, default=0)
    s.set_defaults(run=train)
    s = sub.add_parser("evaluate", help="load a model file in Keras and write its figures")
    s.add_argument("model_file"), s.add_argument("data_dir"), s.add_argument("out_json")
    s.set_defaults(run=evaluate)
    s = sub.add_parser("resave", help="load a .keras file in Keras and save it again")
    s.add_argument("input"), s.add_argument("output")
    s.set_defaults(run=resave)
    s = sub.add_parser("compare-weights", help="are two .keras archives' layer weights bit-identical?")
    s.add_argument("a"), s.add_argument("b")
    s.add_argument("--optimizer", action="store_true", help="compare optimizer/ (Adam's state) too")
    s.set_defaults(run=compare_weights)
    s = sub.add_parser("compare-figures", help="Keras's figures against cnn evaluate/predict output")
    s.add_argument("figures"), s.add_argument("cnn_output")
    s.add_argument("--probabilities", help="JSON [[p, ...], ...] written by cnn predict --probabilities-json")
    s.add_argument("--label", default="")
    s.set_defaults(run=compare_figures)
    s = sub.add_parser("check-graph", help="Keras loads the engine's graph.keras/.h5 and matches graph.ours.json")
    s.add_argument("dir")
    s.set_defaults(run=check_graph)
    a = p.parse_args()
    if a.command == "make-data" and (a.size < 1 or a.channels < 1):
        p.error("--size and --channels must be positive")
    if a.command == "train" and a.epochs < 1:
        p.error("--epochs must be at least 1")
    import absl.logging
    absl.logging.set_verbosity(absl.logging.ERROR)  # the "HDF5 is a legacy format" warning is expected
    a.run(a)


if __name__ == "__main__":
    main()
