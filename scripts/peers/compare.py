"""Runs `cnn train` and the same recipes in Keras (and PyTorch) side by side, alternating, and
prints samples/s, epoch seconds, test accuracy and peak memory with the ratios.

Called by scripts/compare-peers, which makes the virtual environment; see that script for usage.
Every run is a separate process; its peak resident memory is the kernel's ru_maxrss for that
child (os.wait4), the same measure for every framework.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_EPOCHS = {"mlp": 5, "convnet": 10, "deep-convnet": 2, "mobilenetv2": 2}
# Models timed on synthetic data instead of --data: random RGB bytes and random labels, the same
# IDX files for every side (written once per run, seeded). (input shape, training images, test images, classes)
SYNTHETIC = {"mobilenetv2": ((96, 96, 3), 1024, 64, 10)}
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def write_synthetic(model, directory, seed):
    """Writes the four MNIST-named IDX files of `model`'s synthetic data set into `directory`."""
    import numpy as np
    shape, n_train, n_test, classes = SYNTHETIC[model]
    rng = np.random.default_rng(seed)

    def idx(name, array):
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        with open(os.path.join(directory, name), "wb") as f:
            f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())

    idx("train-images-idx3-ubyte", rng.integers(0, 256, (n_train,) + shape, dtype=np.uint8))
    idx("train-labels-idx1-ubyte", rng.integers(0, classes, n_train, dtype=np.uint8))
    idx("t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test,) + shape, dtype=np.uint8))
    idx("t10k-labels-idx1-ubyte", rng.integers(0, classes, n_test, dtype=np.uint8))


def run_child(command, env):
    """Runs a command; returns (exit code, peak RSS in MB, stderr tail)."""
    with tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-5:]
    code = os.waitstatus_to_exitcode(status)
    return code, usage.ru_maxrss / 1024.0, "\n".join(tail)


def environment(kind):
    env = dict(os.environ)
    if kind == "unset":
        for name in OPENBLAS_VARIABLES:
            env.pop(name, None)
    return env


def run_nn(model, epochs, data, seed, env_kind, cnn):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "history.json")
        code, rss, err = run_child([cnn, "train", "--model", model, "--epochs", str(epochs), "--seed", str(seed),
                                    "--data", data, "--history-json", out], environment(env_kind))
        if code != 0:
            raise RuntimeError(f"cnn train --model {model} failed ({code}):\n{err}")
        h = json.load(open(out))
    return {"samples_per_second": h["train_samples_per_second"], "test_accuracy": h["test"]["accuracy"],
            "epoch_seconds": [e["seconds"] for e in h["epochs"]], "peak_rss_mb": rss,
            "kernel": f"OpenBLAS {h.get('blas_kernel', '?')}, {h.get('threads', '?')} threads"}


def run_peer(framework, model, epochs, data, seed, env_kind, python):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        code, rss, err = run_child([python, os.path.join(HERE, "train_peer.py"), "--framework", framework, "--model", model,
                                    "--epochs", str(epochs), "--data", data, "--json", out, "--seed", str(seed)],
                                   environment(env_kind))
        if code != 0:
            raise RuntimeError(f"{framework} {model} failed ({code}):\n{err}")
        r = json.load(open(out))
    return {"samples_per_second": r["samples_per_second"], "test_accuracy": r["test_accuracy"],
            "epoch_seconds": r["epoch_seconds"], "peak_rss_mb": rss, "kernel": r["version"] + " (own kernels, not OpenBLAS)"}


def machine_lines():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    values = ", ".join(f"{n}={os.environ[n]}" if n in os.environ else f"{n} not set" for n in OPENBLAS_VARIABLES)
    return [f"date           {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"machine        {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
            f"environment    {values}; 'unset' runs remove both for that run only",
            f"load average   {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at start)"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="mlp,convnet,deep-convnet")
    p.add_argument("--frameworks", default="nn,keras")
    p.add_argument("--epochs", type=int, default=0, help="epochs for every model (default: mlp 5, convnet 10, deep-convnet 2, mobilenetv2 2)")
    p.add_argument("--envs", default="unset,set")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", required=True)
    p.add_argument("--cnn", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--json")
    a = p.parse_args()
    models, frameworks, envs = a.models.split(","), a.frameworks.split(","), a.envs.split(",")
    for m in models:
        if m not in DEFAULT_EPOCHS:
            sys.exit(f"compare-peers: --models: unknown model '{m}' (choose from {', '.join(DEFAULT_EPOCHS)})")
    for f in frameworks:
        if f not in ("nn", "keras", "torch"):
            sys.exit(f"compare-peers: --frameworks: unknown framework '{f}' (choose from nn, keras, torch)")
    for e in envs:
        if e not in ("unset", "set"):
            sys.exit(f"compare-peers: --envs: unknown value '{e}' (choose from unset, set)")
    if a.repeat < 1 or a.epochs < 0:
        sys.exit("compare-peers: --repeat must be at least 1 and --epochs must not be negative")

    for line in machine_lines():
        print(line)
    print("recipes        Zoo.swift's: batch 32 (deep-convnet 64), Adam 1e-3, Glorot-uniform, same IDX data; "
          "samples/s = training samples / epoch seconds without validation")
    for model in models:
        if model in SYNTHETIC:
            shape, n_train, n_test, classes = SYNTHETIC[model]
            print(f"synthetic      {model}: {n_train} random {'x'.join(map(str, shape))} images, {classes} random labels "
                  f"(test: {n_test}), the same IDX files for every side; accuracy is chance; samples/s "
                  f"without the first epoch (a warm-up) when there are several")
    sys.stdout.flush()
    runs = []
    synthetic_dir = tempfile.TemporaryDirectory(prefix="compare-peers-")
    for model in models:
        epochs = a.epochs or DEFAULT_EPOCHS[model]
        data = a.data
        if model in SYNTHETIC:
            data = os.path.join(synthetic_dir.name, model)
            os.makedirs(data, exist_ok=True)
            write_synthetic(model, data, a.seed)
        for env_kind in envs:
            for r in range(a.repeat):
                # Alternate the frameworks (and start each repeat from a different one) so a slow
                # spell on this shared machine does not land on one side only.
                order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]
                # Repeat r uses seed + r on every side, so the mean accuracy is over several seeds
                # (one seed's accuracy varies by a few tenths of a point).
                seed = a.seed + r
                for framework in order:
                    if framework == "nn":
                        result = run_nn(model, epochs, data, seed, env_kind, a.cnn)
                    else:
                        result = run_peer(framework, model, epochs, data, seed, env_kind, a.python)
                    if model in SYNTHETIC and len(result["epoch_seconds"]) > 1:
                        # The first epoch is a warm-up on every side (Keras traces and compiles its
                        # graph there, ~1 minute for MobileNetV2): samples/s counts the later ones.
                        later = result["epoch_seconds"][1:]
                        result["samples_per_second"] = SYNTHETIC[model][1] * len(later) / sum(later)
                    result.update(framework=framework, model=model, env=env_kind, epochs=epochs, seed=seed)
                    runs.append(result)
                    print(f"  {model:13} env {env_kind:5} {framework:6} seed {seed} {result['samples_per_second']:9.0f} samples/s  "
                          f"test acc {result['test_accuracy']:.4f}  peak {result['peak_rss_mb']:6.0f} MB  [{result['kernel']}]")
                    sys.stdout.flush()

    print()
    print(f"{'model':13} {'env':5} {'framework':9} {'epochs':>6} {'runs':>4} {'samples/s':>10} {'epoch s (mean)':>14} "
          f"{'test acc':>8} {'peak MB':>8}")
    def mean(xs):
        return sum(xs) / len(xs)
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["env"], r["framework"]), []).append(r)
    for (model, env_kind, framework), rs in groups.items():
        print(f"{model:13} {env_kind:5} {framework:9} {rs[0]['epochs']:6} {len(rs):4} {mean([x['samples_per_second'] for x in rs]):10.0f} "
              f"{mean([mean(x['epoch_seconds']) for x in rs]):14.2f} {mean([x['test_accuracy'] for x in rs]):8.4f} "
              f"{max(x['peak_rss_mb'] for x in rs):8.0f}")
    if "nn" in frameworks and len(frameworks) > 1:
        print()
        print("ratios (nn / peer, same model and env, means over the runs; accuracy difference in percentage points)")
        for model in models:
            for env_kind in envs:
                nn = groups.get((model, env_kind, "nn"))
                for peer in frameworks:
                    other = groups.get((model, env_kind, peer))
                    if peer == "nn" or not nn or not other:
                        continue
                    speed = mean([x["samples_per_second"] for x in nn]) / mean([x["samples_per_second"] for x in other])
                    acc = 100 * (mean([x["test_accuracy"] for x in nn]) - mean([x["test_accuracy"] for x in other]))
                    rss = max(x["peak_rss_mb"] for x in nn) / max(x["peak_rss_mb"] for x in other)
                    print(f"  {model:13} env {env_kind:5} nn/{peer:6} speed {speed:5.2f}x  accuracy {acc:+.2f} pp  "
                          f"peak memory {100 * rss:4.0f}%")
    if a.json:
        keys = ("framework", "model", "env", "samples_per_second", "test_accuracy", "peak_rss_mb", "epochs", "seed",
                "epoch_seconds", "kernel")
        document = {"machine": machine_lines(), "runs": [{k: r[k] for k in keys} for r in runs]}
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(document, f, indent=1)
        os.replace(tmp, a.json)
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
