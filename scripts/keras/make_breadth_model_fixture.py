"""Writes Tests/NNTests/Fixtures/keras/breadth.{keras,h5,expected.json}: a small Functional model
Keras 3 builds and trains with the breadth layers (LeakyReLU, SeparableConv2D, AveragePooling2D,
Conv2DTranspose, UpSampling2D, GlobalMaxPooling2D) and elu/swish activations, with its inputs as
bytes (so a test can write them as IDX files for `cnn evaluate --model-file`), labels, Keras's
predictions and `model.evaluate` figures.

    .peers/venv/bin/python scripts/keras/make_breadth_model_fixture.py Tests/NNTests/Fixtures/keras
"""
import json
import os
import sys

import numpy as np
import keras
from keras import layers


def breadth():
    image = keras.Input((12, 12, 3), name="image")
    h = layers.Conv2D(6, 3, padding="same", activation="elu", name="conv_elu")(image)
    h = layers.LeakyReLU(negative_slope=0.2, name="leaky")(h)
    h = layers.SeparableConv2D(8, 3, padding="same", activation="swish", name="separable")(h)
    h = layers.AveragePooling2D(2, name="average")(h)
    h = layers.Conv2DTranspose(6, 3, strides=2, padding="same", activation="elu", name="transposed")(h)
    h = layers.UpSampling2D(2, interpolation="bilinear", name="upsample")(h)
    h = layers.Conv2D(8, 3, strides=2, padding="same", activation="swish", name="conv_swish")(h)
    g = layers.GlobalMaxPooling2D(name="global_max")(h)
    y = layers.Dense(3, activation="softmax", name="predictions")(g)
    return keras.Model(image, y, name="breadth")


def floats(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    outdir = sys.argv[1]
    keras.utils.set_random_seed(1)
    model = breadth()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(40, 12, 12, 3)).astype(np.uint8)
    labels = rng.integers(0, 3, size=40).astype(np.int64)
    x = pixels.astype(np.float32) / np.float32(255)
    model.fit(x[:32], labels[:32], batch_size=8, epochs=2, shuffle=False, verbose=0)
    test_pixels, test_labels, test_x = pixels[32:], labels[32:], x[32:]
    model.save(os.path.join(outdir, "breadth.keras"))
    model.save(os.path.join(outdir, "breadth.h5"))
    predictions = model.predict(test_x, batch_size=8, verbose=0)
    loss, accuracy = model.evaluate(test_x, test_labels, batch_size=8, verbose=0)
    expected = {"keras_version": keras.__version__, "pixels": test_pixels.reshape(-1).tolist(), "shape": [8, 12, 12, 3],
                "labels": test_labels.tolist(), "predictions": floats(predictions),
                "evaluate": {"loss": float(loss), "accuracy": float(accuracy)},
                "layers": [type(l).__name__ for l in model.layers]}
    with open(os.path.join(outdir, "breadth.expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print("breadth:", model.count_params(), "parameters; loss", loss, "accuracy", accuracy)


if __name__ == "__main__":
    main()
