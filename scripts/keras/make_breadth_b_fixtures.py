"""Keras's own outputs and gradients for Conv2DTranspose, SeparableConv2D and LayerNormalization,
for the Swift tests (Tests/NNTests/TransposedConvolutionTests.swift).

    .peers/venv/bin/python scripts/keras/make_breadth_b_fixtures.py OUTDIR
        (e.g. Tests/NNTests/Fixtures/keras_breadth_b)

Writes OUTDIR/cases.json: for each case the layer's Keras config (get_config), the input shape,
input x, every weight (Keras's order and shapes), the output y and, for some cases, the gradients
of L = sum(y * r) with respect to x and every weight. Inputs, weights and r are multiples of 1/8 or
1/16 (exact in JSON); outputs and gradients are float32 values written as the shortest decimal
that reads back as the same float32.

    .peers/venv/bin/python scripts/keras/make_breadth_b_fixtures.py --check DIR

checks the other direction: DIR holds tiny_unet.keras, tiny_unet.h5 and tiny_unet.ours.json, which
`NN_KERAS_INTEROP_DIR=DIR swift test --filter KerasBreadthLayerTests` writes (a graph with all three
layers, saved by the engine); Keras must load both files and predict what the engine predicted.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow as tf
import keras
from keras import layers

rng = np.random.default_rng(19)


def quantized(shape, scale=8, low=-8, high=9):
    return (rng.integers(low, high, size=shape) / scale).astype(np.float32)


def f32(a):
    return [float(str(np.float32(v))) for v in np.asarray(a, dtype=np.float32).ravel()]


def case(name, layer, input_shape, gradients=False):
    x = quantized((1,) + tuple(input_shape)) if len(input_shape) == 3 else quantized((2,) + tuple(input_shape))
    layer.build((None,) + tuple(input_shape))
    weights = [quantized(w.shape, scale=16) for w in layer.weights]
    if isinstance(layer, layers.LayerNormalization):
        # gamma near 1, beta small: a realistic scale.
        weights = [1 + w / 2 if v.name == "gamma" else w for w, v in zip(weights, layer.weights)]
    layer.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        r = tf.constant(quantized(tuple(y.shape)))
        loss = tf.reduce_sum(y * r)
    out = {"name": name, "class_name": type(layer).__name__, "config": layer.get_config(),
           "input_shape": list(input_shape), "x_shape": list(x.shape), "x": f32(x),
           "weights": [{"name": v.name, "shape": list(v.shape), "values": f32(w)} for v, w in zip(layer.weights, weights)],
           "y_shape": list(y.shape), "y": f32(y)}
    if gradients:
        grads = tape.gradient(loss, [xt] + list(layer.trainable_variables))
        out["r"] = f32(r)
        out["dx"] = f32(grads[0])
        out["dweights"] = [f32(g) for g in grads[1:]]
    return out


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    T = layers.Conv2DTranspose
    cases = [
        case("t_k3_s1_valid", T(2, 3), (3, 3, 2), gradients=True),
        case("t_k3_s2_same", T(2, 3, strides=2, padding="same"), (3, 3, 2), gradients=True),
        case("t_k3_s2_valid", T(2, 3, strides=2), (3, 3, 2)),
        case("t_k3_s2_same_op0", T(2, 3, strides=2, padding="same", output_padding=0), (3, 3, 2)),
        case("t_k3_s2_valid_op1", T(2, 3, strides=2, output_padding=1), (3, 3, 2), gradients=True),
        case("t_k23_s21_same_op10", T(3, (2, 3), strides=(2, 1), padding="same", output_padding=(1, 0)), (3, 2, 2)),
        case("t_k4_s2_same", T(2, 4, strides=2, padding="same"), (2, 3, 1)),
        case("t_k2_s2_valid", T(2, 2, strides=2), (2, 2, 3)),
        case("t_k1_s3_valid", T(2, 1, strides=3), (2, 2, 2)),
        case("t_k3_s1_same_sigmoid_nobias", T(2, 3, padding="same", activation="sigmoid", use_bias=False), (3, 3, 2), gradients=True),
        case("sep_k3_s1_same", layers.SeparableConv2D(3, 3, padding="same"), (4, 4, 2), gradients=True),
        case("sep_k3_s2_valid_m2", layers.SeparableConv2D(2, 3, strides=2, depth_multiplier=2), (5, 5, 2)),
        case("sep_k23_s1_same_relu", layers.SeparableConv2D(2, (2, 3), strides=1, padding="same", activation="relu",
                                                             use_bias=False), (3, 4, 3)),
        case("ln_default", layers.LayerNormalization(), (3, 4), gradients=True),
        case("ln_no_center", layers.LayerNormalization(center=False, epsilon=1e-5), (5,), gradients=True),
        case("ln_no_scale", layers.LayerNormalization(scale=False), (2, 2, 3)),
    ]
    summary = {"keras_version": keras.__version__, "tensorflow_version": tf.__version__, "cases": cases}
    path = os.path.join(outdir, "cases.json")
    with open(path, "w") as f:
        json.dump(summary, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")


def check(directory):
    ours = json.load(open(os.path.join(directory, "tiny_unet.ours.json")))
    x = np.array(ours["x"], dtype=np.float32).reshape(ours["x_shape"])
    expected = np.array(ours["predictions"], dtype=np.float32)
    for ext in ["keras", "h5"]:
        model = keras.models.load_model(os.path.join(directory, f"tiny_unet.{ext}"))
        difference = float(np.abs(model.predict(x, verbose=0).ravel() - expected).max())
        print(f"tiny_unet.{ext}: {[type(l).__name__ for l in model.layers]}, max |Keras - ours| = {difference:.3g}")
        if difference > 1e-5:
            sys.exit(f"tiny_unet.{ext}: Keras's predictions differ from ours by {difference}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "Tests/NNTests/Fixtures/keras_breadth_b")
