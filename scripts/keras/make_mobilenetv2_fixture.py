"""Writes the structure of Keras's MobileNetV2 for the Swift tests (MobileNetV2Tests).

    .peers/venv/bin/python scripts/keras/make_mobilenetv2_fixture.py Tests/NNTests/Fixtures/mobilenetv2/structure.json

For each configuration: the model's name, its total and trainable parameter counts, and every
layer in model order (the InputLayer excluded) with its name, class, per-sample output shape,
parameter count and the names of the layers it reads ("input_layer" for the model input).
No weights: keras.applications.MobileNetV2(weights=None).
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras

CONFIGS = [
    dict(input_shape=[224, 224, 3], alpha=1.0, include_top=True, pooling=None, classes=1000),
    dict(input_shape=[96, 96, 3], alpha=0.35, include_top=True, pooling=None, classes=10),
    # Odd and even sides (correct_pad), alpha > 1 (the last conv's 1280·alpha rule), no top.
    dict(input_shape=[75, 62, 3], alpha=1.3, include_top=False, pooling="avg", classes=1000),
]


def describe(config):
    keras.backend.clear_session()  # so the automatic names (global_average_pooling2d) start afresh
    model = keras.applications.MobileNetV2(weights=None, **config)
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = layer._inbound_nodes[0]
        inbound = [t._keras_history.operation.name for t in node.input_tensors]
        inbound = ["input_layer" if isinstance(model.get_layer(n), keras.layers.InputLayer) else n for n in inbound]
        layers.append(dict(name=layer.name, type=type(layer).__name__,
                           output_shape=list(layer.output.shape[1:]),
                           params=int(layer.count_params()), inbound=inbound))
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    return dict(config=config, name=model.name, total_params=int(model.count_params()),
                trainable_params=trainable, keras_version=keras.__version__, layers=layers)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/NNTests/Fixtures/mobilenetv2/structure.json"
    data = [describe(c) for c in CONFIGS]
    with open(out, "w") as f:
        json.dump(data, f, indent=None, separators=(",", ":"))
        f.write("\n")
    for d in data:
        print(d["name"], d["total_params"], d["trainable_params"], len(d["layers"]), "layers")


if __name__ == "__main__":
    main()
