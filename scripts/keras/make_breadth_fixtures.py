"""Writes what Keras computes for the breadth layers and activations (issue 19), for the Swift test
Tests/NNTests/KerasBreadthLayersTests.swift:

    .peers/venv/bin/python scripts/keras/make_breadth_fixtures.py Tests/NNTests/Fixtures/keras_breadth

One JSON file, breadth.json: a list of cases, each
    {"name", "layer": {"class_name", "config"} as keras.saving.serialize_keras_object writes it,
     "input_shape" (with the batch), "input", "weights" (flat lists, the layer's order),
     "output_shape", "output", "upstream", "input_gradient"}
where input_gradient is d(sum(output * upstream))/d(input) from tf.GradientTape in inference
mode. Inputs, weights and upstream gradients are multiples of 1/16 (exact in float32 and short in
JSON); outputs are written with 9 significant digits (float32 exactly).
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


def grid(shape, low=-2.0, high=2.0):
    """Distinct-ish multiples of 1/16 in [low, high): exact in float32."""
    v = rng.integers(int(low * 16), int(high * 16), size=shape) / 16.0
    return v.astype(np.float32)


def activation_input(shape):
    """Values −6.25 + k/2 (odd multiples of 1/4, so none at the kinks 0 and ±3), shuffled."""
    n = int(np.prod(shape))
    v = -6.25 + 0.5 * np.arange(n)
    return rng.permutation(v).reshape(shape).astype(np.float32)


def case(name, layer, x, weights=None):
    layer.build(x.shape)
    if weights is not None:
        layer.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=False)
        up = grid(y.shape, -1, 1)
        objective = tf.reduce_sum(y * up)
    dx = tape.gradient(objective, xt).numpy()
    y = y.numpy()
    entry = keras.saving.serialize_keras_object(layer)
    return {
        "name": name,
        "layer": {"class_name": entry["class_name"], "config": entry["config"]},
        "input_shape": list(x.shape),
        "input": [float(v) for v in x.ravel()],
        "weights": [[float(v) for v in w.ravel()] for w in layer.get_weights()],
        "output_shape": list(y.shape),
        "output": [float("%.9g" % v) for v in y.ravel()],
        "upstream": [float(v) for v in up.ravel()],
        "input_gradient": [float("%.9g" % v) for v in dx.ravel()],
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/NNTests/Fixtures/keras_breadth"
    img = grid((1, 5, 4, 2))
    small = grid((1, 3, 3, 2))
    cases = [
        case("avgpool_2_valid", layers.AveragePooling2D(2), img),
        case("avgpool_3_s2_same", layers.AveragePooling2D(3, strides=2, padding="same"), img),
        case("avgpool_2x3_s1x2_same", layers.AveragePooling2D((2, 3), strides=(1, 2), padding="same"), img),
        case("globalmax", layers.GlobalMaxPooling2D(), img),
        case("globalmax_keepdims", layers.GlobalMaxPooling2D(keepdims=True), img),
        case("upsample_nearest_2x3", layers.UpSampling2D((2, 3)), small),
        case("upsample_bilinear_2", layers.UpSampling2D(2, interpolation="bilinear"), small),
        case("upsample_bilinear_3x2", layers.UpSampling2D((3, 2), interpolation="bilinear"), small),
        case("cropping", layers.Cropping2D(((1, 0), (0, 2))), img),
        case("spatial_dropout_inference", layers.SpatialDropout2D(0.5, seed=3), small),
        case("permute_213", layers.Permute((2, 1, 3)), img),
        case("permute_312", layers.Permute((3, 1, 2)), img),
        case("leaky_relu_default", layers.LeakyReLU(), grid((2, 6))),
        case("leaky_relu_0.1", layers.LeakyReLU(negative_slope=0.1), grid((2, 6))),
        case("prelu_shared_12", layers.PReLU(shared_axes=[1, 2]), img, [grid((1, 1, 2), 0, 1)]),
        case("prelu_full", layers.PReLU(), grid((2, 3, 2)), [grid((3, 2), -1, 1)]),
        case("elu_layer_default", layers.ELU(), grid((2, 6), -3, 2)),
        case("elu_layer_0.5", layers.ELU(alpha=0.5), grid((2, 6), -3, 2)),
    ]
    for name in ["elu", "selu", "gelu", "silu", "swish", "hard_sigmoid", "hard_silu", "hard_swish", "softplus", "linear"]:
        cases.append(case("activation_" + name, layers.Activation(name), activation_input((2, 13))))
    cases += [
        case("dense_gelu", layers.Dense(3, activation="gelu"), grid((2, 4)), [grid((4, 3), -1, 1), grid((3,), -1, 1)]),
        case("dense_hard_swish", layers.Dense(3, activation="hard_swish"), grid((2, 4), -4, 4),
             [grid((4, 3), -1, 1), grid((3,), -1, 1)]),
        case("conv_silu_same", layers.Conv2D(2, 3, padding="same", activation="silu"), small,
             [grid((3, 3, 2, 2), -1, 1), grid((2,), -1, 1)]),
        case("conv_gelu_pointwise", layers.Conv2D(3, 1, activation="gelu"), small,
             [grid((1, 1, 2, 3), -1, 1), grid((3,), -1, 1)]),
        case("depthwise_selu", layers.DepthwiseConv2D(2, activation="selu"), small,
             [grid((2, 2, 2, 1), -1, 1), grid((2,), -1, 1)]),
    ]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "breadth.json"), "w") as f:
        json.dump({"keras_version": keras.__version__, "tensorflow_version": tf.__version__, "cases": cases},
                  f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", len(cases), "cases to", os.path.join(out, "breadth.json"))


if __name__ == "__main__":
    main()
