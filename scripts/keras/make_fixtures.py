"""Writes small model files that Keras itself wrote, for the Swift tests of NNKeras.

    .peers/venv/bin/python scripts/keras/make_fixtures.py OUTDIR   (e.g. Tests/NNTests/Fixtures/keras)

For each model (seq_all, seq_flat, residual — a Functional graph — and mobilenet if small enough) it
writes (residual has no .weights.h5)
    NAME.keras          model.save: the Keras 3 zip (config.json, metadata.json, model.weights.h5)
    NAME.h5             legacy model.save("NAME.h5"): whole model, config in attributes, optimizer state
    NAME.weights.h5     legacy weights-only HDF5, the format keras.applications publishes
    NAME.expected.json  inputs, predictions, evaluate figures, layers, parameter counts, every weight
Every model is seeded, trained for 2 Adam steps (so BatchNormalization's moving statistics and
Adam's moments are not their initial values), and then measured. Floats in the JSON are the
float32 values converted to Python floats, which is exact, so a reader may parse them as Double
or Float and get the float32 back bit for bit.
"""
import json
import os
import sys
import tempfile

# Before TensorFlow is imported: no log noise, and no oneDNN kernels, whose results vary with
# the machine's instruction set; the plain Eigen kernels keep the fixtures reproducible.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import h5py
import numpy as np
import tensorflow as tf
import keras
from keras import layers, regularizers
from keras.src.legacy.saving import legacy_h5_format

MOBILENET_MAX_BYTES = 250_000  # per file; the whole directory should stay well under 400 KB


def seq_all():
    """Every layer kind the engine has, with non-default settings where it has them."""
    return keras.Sequential([
        keras.Input((6, 6, 3)),
        layers.Conv2D(4, 3, strides=1, padding="same", activation="relu",
                      kernel_regularizer=regularizers.l2(1e-4)),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
        layers.ReLU(max_value=6.0),
        layers.ZeroPadding2D(((1, 0), (0, 1))),  # asymmetric: top 1, bottom 0, left 0, right 1
        layers.Activation("sigmoid"),
        layers.Dropout(0.25),
        layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax"),
    ], name="seq_all")


def seq_flat():
    """The layers that reshape, rescale or sit alone: Rescaling, Flatten, Reshape, Softmax, ..."""
    return keras.Sequential([
        keras.Input((6, 6, 1)),
        layers.Rescaling(1 / 255),  # so the inputs are raw 0..255 pixel values
        layers.Conv2D(2, 3, padding="valid", use_bias=False),
        layers.MaxPooling2D(pool_size=3, strides=(1, 1), padding="same"),
        layers.Flatten(),
        layers.Dense(8, activation="relu"),
        layers.Reshape((2, 2, 2)),
        layers.Activation("tanh"),
        layers.GlobalAveragePooling2D(keepdims=True),
        layers.Flatten(),
        layers.Dense(3),
        layers.Softmax(),
    ], name="seq_flat")


def residual():
    """A small Functional graph: a residual block (Add with the skip), a second branch from the
    input joined by Concatenate, and a softmax head. The side branch is made first, so Keras's
    layer order (by depth from the output) differs from the order the layers were created in."""
    image = keras.Input((8, 8, 3), name="image")
    side = layers.Conv2D(2, 1, name="side_conv")(image)
    h = layers.Conv2D(4, 3, padding="same", name="conv_a")(image)
    h = layers.BatchNormalization(name="bn_a")(h)
    h = layers.ReLU(name="relu_a")(h)
    r = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(h)
    s = layers.Add(name="add")([r, h])
    c = layers.Concatenate(name="concat")([s, side])
    g = layers.GlobalAveragePooling2D(name="gap")(c)
    y = layers.Dense(3, activation="softmax", name="predictions")(g)
    return keras.Model(image, y, name="residual")


def mobilenet():
    return keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=4)


def data(model, rng, n, classes):
    """n random inputs for the model (0..255 integers for a model that rescales, else [0, 1))."""
    shape = (n,) + tuple(model.input_shape[1:])
    if any(isinstance(l, layers.Rescaling) for l in model.layers):
        x = rng.integers(0, 256, size=shape).astype(np.float32)
    else:
        x = rng.random(shape, dtype=np.float32)
    return x, rng.integers(0, classes, size=n).astype(np.int64)


def floats(a):
    """A float32 array as nested lists of Python floats (exact)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def variables(vs):
    return [{"path": v.path, "shape": list(v.shape), "trainable": bool(v.trainable),
             "values": floats(v.numpy())} for v in vs]


def make(name, build, outdir, classes=3, size_limit=None, weights_only=True):
    keras.utils.set_random_seed(1)
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(1)
    x_train, y_train = data(model, rng, 8, classes)
    x, y = data(model, rng, 4, classes)
    # 2 steps of 4 samples; shuffle off so that the steps do not depend on TF's shuffling.
    model.fit(x_train, y_train, batch_size=4, epochs=1, shuffle=False, verbose=0)

    exts = (".keras", ".h5", ".weights.h5", ".expected.json") if weights_only else (".keras", ".h5", ".expected.json")
    paths = {ext: os.path.join(outdir, name + ext) for ext in exts}
    if size_limit is not None:
        # Measure first: MobileNet at alpha 0.25 may be too large to commit.
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.keras")
            model.save(probe)
            size = os.path.getsize(probe)
        if size > size_limit:
            print(f"{name}: skipped, its .keras file is {size} bytes (limit {size_limit}); "
                  f"{model.count_params()} parameters")
            return
    model.save(paths[".keras"])
    model.save(paths[".h5"])  # the legacy whole-model HDF5 format (the .h5 extension selects it)
    if weights_only:
        with h5py.File(paths[".weights.h5"], "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)

    predictions = model.predict(x, batch_size=len(x), verbose=0)
    loss, accuracy = model.evaluate(x, y, batch_size=len(x), verbose=0)
    # Keras adds the kernel regularizers' penalty to the evaluate loss; kept apart for the tests.
    regularization = float(sum(float(l) for l in model.losses)) if model.losses else 0.0
    expected = {
        "keras_version": keras.__version__, "tensorflow_version": tf.__version__,
        "inputs": floats(x), "labels": y.tolist(),
        "predictions": floats(predictions),
        "evaluate": {"loss": float(loss), "accuracy": float(accuracy), "batch_size": len(x),
                     "regularization_loss": regularization},
        # model.layers of a Sequential does not list its InputLayer (it is in config.json); a
        # Functional model's does, first, in Keras's order (by depth from the output).
        "layers": [{"name": l.name, "class_name": type(l).__name__} for l in model.layers],
        "input_shape": list(model.input_shape[1:]),
        "params": {"total": int(model.count_params()),
                   "trainable": int(sum(np.prod(v.shape) for v in model.trainable_weights))},
        "weights": variables(model.weights),
        "optimizer": {"iterations": int(model.optimizer.iterations.numpy()),
                      "variables": variables(model.optimizer.variables)},
    }
    with open(paths[".expected.json"], "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")
    sizes = ", ".join(f"{os.path.basename(p)} {os.path.getsize(p)} B" for p in paths.values())
    print(f"{name}: {model.count_params()} parameters; {sizes}")


def main():
    tf.get_logger().setLevel("ERROR")  # retracing notes and the "HDF5 is legacy" warning are expected
    import absl.logging
    absl.logging.set_verbosity(absl.logging.ERROR)
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    tf.config.experimental.enable_op_determinism()
    make("seq_all", seq_all, outdir)
    make("seq_flat", seq_flat, outdir)
    # No weights-only file: the whole-model .h5 serves loadKerasWeights, and the directory stays small.
    make("residual", residual, outdir, weights_only=False)
    make("mobilenet", mobilenet, outdir, classes=4, size_limit=MOBILENET_MAX_BYTES)


if __name__ == "__main__":
    main()
