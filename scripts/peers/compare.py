"""Runs `cnn train` and the same recipes in Keras (and PyTorch) side by side, alternating, and
prints samples/s, epoch seconds, test accuracy and peak memory with the ratios; then, for every
model, inference (`cnn time-predict` against Keras's predict_on_batch and PyTorch's model(x)) at
batch 1 and 32 with each process's peak memory.

Called by scripts/compare-peers, which makes the virtual environment; see that script for usage.
Every run is a separate process; its peak resident memory is its maximum resident set size as
GNU time reports it (`run_child` says why not os.wait4), the same measure for every framework.
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
DEFAULT_EPOCHS = {"mlp": 5, "convnet": 10, "deep-convnet": 2, "mobilenet": 2, "mobilenetv2": 2}
# The MobileNets are timed on synthetic data instead of --data: random RGB bytes and random labels,
# the same IDX files for every side (written once per run, seeded): training images, test images, classes.
SYNTHETIC_SIZES = (1024, 64, 10)
# `--models real-size`: the workloads of issue 17.
REAL_SIZE = "deep-convnet,mobilenet-96,mobilenet-96-a0.5,mobilenet-128,mobilenet-128-a0.5,mobilenetv2-96"
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIME = "/usr/bin/time"  # GNU time (scripts/bootstrap installs it): each run's own peak memory


def workload(name):
    """A --models entry as (zoo name, input shape, alpha): "mobilenet-128-a0.5" is MobileNet with
    alpha 0.5 on 128×128×3 images; "mobilenetv2" alone is 96×96×3, alpha 1; the Fashion-MNIST
    models take 28×28×1 and no suffix."""
    parts = name.split("-")
    zoo = parts[0]
    if zoo in ("mlp", "convnet") or name == "deep-convnet":
        return name, (28, 28, 1), 1.0
    if zoo not in ("mobilenet", "mobilenetv2"):
        raise ValueError(name)
    size, alpha = 96, 1.0
    for part in parts[1:]:
        if part.isdigit() and 32 <= int(part) <= 512:
            size = int(part)
        elif part.startswith("a") and part[1:].replace(".", "", 1).isdigit() and 0 < float(part[1:]) <= 4:
            alpha = float(part[1:])
        else:
            raise ValueError(name)
    return zoo, (size, size, 3), alpha


def is_synthetic(name):
    return workload(name)[0].startswith("mobilenet")


def write_synthetic(model, directory, seed):
    """Writes the four MNIST-named IDX files of `model`'s synthetic data set into `directory`."""
    import numpy as np
    _, shape, _ = workload(model)
    n_train, n_test, classes = SYNTHETIC_SIZES
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
    """Runs a command under GNU time; returns (exit code, peak RSS in MB, stderr tail).

    Not this process's own wait4: Linux carries a process's peak RSS across fork and exec, so a
    child forked from this Python (about 200 MB once numpy is in) reports at least that much. GNU
    time is small, and what it reports is its child's own peak."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file, err_file = os.path.join(tmp, "rss"), os.path.join(tmp, "stderr")
        with open(err_file, "wb") as err:
            code = subprocess.call([TIME, "-f", "%M", "-o", rss_file] + command, env=env,
                                   stdout=subprocess.DEVNULL, stderr=err)
        tail = open(err_file, "rb").read().decode(errors="replace").strip().splitlines()[-5:]
        lines = open(rss_file).read().split()
        rss_kb = float(lines[-1]) if lines and lines[-1].isdigit() else float("nan")
    return code, rss_kb / 1024.0, "\n".join(tail)


def environment(kind):
    env = dict(os.environ)
    if kind == "unset":
        for name in OPENBLAS_VARIABLES:
            env.pop(name, None)
    return env


def alpha_flags(model):
    zoo, _, alpha = workload(model)
    return ["--alpha", str(alpha)] if zoo.startswith("mobilenet") else []


def run_nn(model, epochs, data, seed, env_kind, cnn):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "history.json")
        code, rss, err = run_child([cnn, "train", "--model", workload(model)[0], "--epochs", str(epochs), "--seed", str(seed),
                                    "--data", data, "--history-json", out] + alpha_flags(model), environment(env_kind))
        if code != 0:
            raise RuntimeError(f"cnn train --model {model} failed ({code}):\n{err}")
        h = json.load(open(out))
    return {"samples_per_second": h["train_samples_per_second"], "test_accuracy": h["test"]["accuracy"],
            "epoch_seconds": [e["seconds"] for e in h["epochs"]], "peak_rss_mb": rss,
            "kernel": f"OpenBLAS {h.get('blas_kernel', '?')}, {h.get('threads', '?')} threads"}


def run_peer(framework, model, epochs, data, seed, env_kind, python):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        code, rss, err = run_child([python, os.path.join(HERE, "train_peer.py"), "--framework", framework,
                                    "--model", workload(model)[0], "--epochs", str(epochs), "--data", data, "--json", out,
                                    "--seed", str(seed)] + alpha_flags(model), environment(env_kind))
        if code != 0:
            raise RuntimeError(f"{framework} {model} failed ({code}):\n{err}")
        r = json.load(open(out))
    return {"samples_per_second": r["samples_per_second"], "test_accuracy": r["test_accuracy"],
            "epoch_seconds": r["epoch_seconds"], "peak_rss_mb": rss, "kernel": r["version"] + " (own kernels, not OpenBLAS)"}


def run_predict(framework, model, batch, seconds, env_kind, cnn, python):
    """Inference at one batch size in its own process: samples/s and the process's peak memory."""
    zoo, shape, _ = workload(model)
    shape_flag = ["--input-shape", "x".join(map(str, shape))]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "predict.json")
        if framework == "nn":
            command = [cnn, "time-predict", "--model", zoo, "--batch-size", str(batch), "--seconds", str(seconds), "--json", out]
        else:
            command = [python, os.path.join(HERE, "train_peer.py"), "--framework", framework, "--model", zoo,
                       "--predict-batch", str(batch), "--seconds", str(seconds), "--json", out]
        code, rss, err = run_child(command + shape_flag + alpha_flags(model), environment(env_kind))
        if code != 0:
            raise RuntimeError(f"{framework} predict {model} batch {batch} failed ({code}):\n{err}")
        r = json.load(open(out))
    kernel = f"OpenBLAS {r.get('blas_kernel', '?')}, {r.get('threads', '?')} threads" if framework == "nn" else r["version"]
    return {"samples_per_second": r["samples_per_second"], "median_ms": 1000 * r["median_seconds"], "peak_rss_mb": rss,
            "kernel": kernel}


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
    p.add_argument("--epochs", type=int, default=0, help="epochs for every model (default: mlp 5, convnet 10, deep-convnet 2, MobileNets 2)")
    p.add_argument("--modes", default="train,predict", help="train, predict or both")
    p.add_argument("--predict-batches", default="1,32")
    p.add_argument("--predict-seconds", type=float, default=5.0)
    p.add_argument("--envs", default="unset,set")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", required=True)
    p.add_argument("--cnn", required=True)
    p.add_argument("--python", required=True)
    p.add_argument("--json")
    a = p.parse_args()
    models = a.models.replace("real-size", REAL_SIZE).split(",")
    frameworks, envs, modes = a.frameworks.split(","), a.envs.split(","), a.modes.split(",")
    for m in models:
        try:
            workload(m)
        except ValueError:
            sys.exit(f"compare-peers: --models: unknown model '{m}' (mlp, convnet, deep-convnet, or mobilenet/mobilenetv2 "
                     f"with an optional -SIZE and -aALPHA, e.g. mobilenet-128-a0.5; 'real-size' is {REAL_SIZE})")
    if not modes or any(m not in ("train", "predict") for m in modes):
        sys.exit(f"compare-peers: --modes: '{a.modes}' is not train, predict or train,predict")
    try:
        predict_batches = [int(b) for b in a.predict_batches.split(",")]
    except ValueError:
        predict_batches = []
    if not predict_batches or any(not 1 <= b <= 4096 for b in predict_batches):
        sys.exit(f"compare-peers: --predict-batches: '{a.predict_batches}' is not a list of batch sizes in 1...4096")
    if not 0 < a.predict_seconds <= 600:
        sys.exit("compare-peers: --predict-seconds must be in (0, 600]")
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
        if is_synthetic(model) and "train" in modes:
            _, shape, alpha = workload(model)
            n_train, n_test, classes = SYNTHETIC_SIZES
            print(f"synthetic      {model}: alpha {alpha}, {n_train} random {'x'.join(map(str, shape))} images, {classes} random labels "
                  f"(test: {n_test}), the same IDX files for every side; accuracy is chance; samples/s "
                  f"without the first epoch (a warm-up) when there are several")
    if "predict" in modes:
        print(f"predict        random images, batch {', '.join(map(str, predict_batches))}: samples/s = batch / median call over "
              f"{a.predict_seconds:g} s after 2 warm-up calls; one process per run (its peak memory); "
              f"nn: cnn time-predict, keras: predict_on_batch, torch: model(x) in inference_mode")
    sys.stdout.flush()
    runs = []
    synthetic_dir = tempfile.TemporaryDirectory(prefix="compare-peers-")
    for model in models if "train" in modes else []:
        epochs = a.epochs or DEFAULT_EPOCHS[workload(model)[0]]
        data = a.data
        if is_synthetic(model):
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
                    if is_synthetic(model) and len(result["epoch_seconds"]) > 1:
                        # The first epoch is a warm-up on every side (Keras traces and compiles its
                        # graph there, ~1 minute for MobileNetV2): samples/s counts the later ones.
                        later = result["epoch_seconds"][1:]
                        result["samples_per_second"] = SYNTHETIC_SIZES[0] * len(later) / sum(later)
                    result.update(framework=framework, model=model, env=env_kind, epochs=epochs, seed=seed, mode="train")
                    runs.append(result)
                    print(f"  {model:13} env {env_kind:5} {framework:6} seed {seed} {result['samples_per_second']:9.0f} samples/s  "
                          f"test acc {result['test_accuracy']:.4f}  peak {result['peak_rss_mb']:6.0f} MB  [{result['kernel']}]")
                    sys.stdout.flush()

    for model in models if "predict" in modes else []:
        for env_kind in envs:
            for batch in predict_batches:
                for r in range(a.repeat):
                    order = frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]
                    for framework in order:
                        result = run_predict(framework, model, batch, a.predict_seconds, env_kind, a.cnn, a.python)
                        result.update(framework=framework, model=model, env=env_kind, mode=f"predict b{batch}")
                        runs.append(result)
                        print(f"  {model:18} env {env_kind:5} {framework:6} predict batch {batch:3} "
                              f"{result['samples_per_second']:9.1f} samples/s  median {result['median_ms']:8.2f} ms  "
                              f"peak {result['peak_rss_mb']:6.0f} MB  [{result['kernel']}]")
                        sys.stdout.flush()

    def mean(xs):
        return sum(xs) / len(xs)
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["env"], r["mode"], r["framework"]), []).append(r)
    if "train" in modes:
        print()
        print(f"{'training':18} {'env':5} {'framework':9} {'epochs':>6} {'runs':>4} {'samples/s':>10} {'epoch s (mean)':>14} "
              f"{'test acc':>8} {'peak MB':>8}")
        for (model, env_kind, mode, framework), rs in groups.items():
            if mode != "train":
                continue
            print(f"{model:18} {env_kind:5} {framework:9} {rs[0]['epochs']:6} {len(rs):4} "
                  f"{mean([x['samples_per_second'] for x in rs]):10.0f} {mean([mean(x['epoch_seconds']) for x in rs]):14.2f} "
                  f"{mean([x['test_accuracy'] for x in rs]):8.4f} {max(x['peak_rss_mb'] for x in rs):8.0f}")
    if "predict" in modes:
        print()
        print(f"{'inference':18} {'env':5} {'framework':9} {'batch':>6} {'runs':>4} {'samples/s':>10} {'ms per call':>14} "
              f"{'':8} {'peak MB':>8}")
        for (model, env_kind, mode, framework), rs in groups.items():
            if mode == "train":
                continue
            print(f"{model:18} {env_kind:5} {framework:9} {mode.split('b')[-1]:>6} {len(rs):4} "
                  f"{mean([x['samples_per_second'] for x in rs]):10.1f} {mean([x['median_ms'] for x in rs]):14.2f} "
                  f"{'':8} {max(x['peak_rss_mb'] for x in rs):8.0f}")
    if "nn" in frameworks and len(frameworks) > 1:
        print()
        print("ratios (nn / peer, same model, mode and env, means over the runs; accuracy difference in percentage "
              "points; peak memory as nn's share of the peer's)")
        all_modes = (["train"] if "train" in modes else []) + ([f"predict b{b}" for b in predict_batches] if "predict" in modes else [])
        for model in models:
            for mode in all_modes:
                for env_kind in envs:
                    nn = groups.get((model, env_kind, mode, "nn"))
                    for peer in frameworks:
                        other = groups.get((model, env_kind, mode, peer))
                        if peer == "nn" or not nn or not other:
                            continue
                        speed = mean([x["samples_per_second"] for x in nn]) / mean([x["samples_per_second"] for x in other])
                        rss = max(x["peak_rss_mb"] for x in nn) / max(x["peak_rss_mb"] for x in other)
                        acc = ""
                        if mode == "train" and not is_synthetic(model):  # random labels: accuracy is chance
                            diff = 100 * (mean([x["test_accuracy"] for x in nn]) - mean([x["test_accuracy"] for x in other]))
                            acc = f"accuracy {diff:+.2f} pp  "
                        print(f"  {model:18} {mode:11} env {env_kind:5} nn/{peer:6} speed {speed:5.2f}x  {acc}"
                              f"peak memory {100 * rss:4.0f}%")
    if a.json:
        keys = ("framework", "model", "mode", "env", "samples_per_second", "test_accuracy", "peak_rss_mb", "epochs", "seed",
                "epoch_seconds", "median_ms", "kernel")
        document = {"machine": machine_lines(), "runs": [{k: r[k] for k in keys if k in r} for r in runs]}
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(document, f, indent=1)
        os.replace(tmp, a.json)
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
