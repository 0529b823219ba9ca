"""The Python package end to end: every shipped model proves from numpy and
verifies; rejections name their check; bad inputs raise ValueError naming the
expected shape; a scikit-learn MLP proves and matches its own prediction;
threads prove concurrently; Ctrl-C interrupts a proof."""

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import zkinfer

MODELS = Path(__file__).resolve().parents[2] / "models"
SHIPPED = [
    "addsubmul0",
    "addsubmul1",
    "authorization",
    "perceptron",
    "ffn_tanh",
    "article_classification",
    "lenet5",
    "cifar_cnn",
]


def model_and_input(name):
    folder = MODELS / name
    data = json.loads((folder / "input.json").read_text())["input_data"]
    return folder / "network.onnx", data


def as_array(keys, data):
    """input.json's first list as a numpy array of the model's input shape."""
    values = data[0] if isinstance(data[0], list) else data
    return np.asarray(values, dtype=np.float32).reshape(keys.input_shapes[0])


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_prove_from_numpy_and_verify(name):
    model, data = model_and_input(name)
    keys = zkinfer.preprocess(model)
    x = as_array(keys, data)
    proof = zkinfer.prove(model, x, keys=keys)
    assert proof.size == len(proof.to_bytes()) > 0
    assert proof.output.shape == tuple(keys.output_shapes[0])
    # The proved output is the quantized model's: within the documented
    # bound of tract's f32 output (README, tests/onnx_import.rs).
    assert np.max(np.abs(proof.output - proof.float_output)) <= 0.25
    assert "prove" in proof.timings and proof.timings["prove"] > 0
    verified = zkinfer.verify(proof, model, input=x)
    np.testing.assert_array_equal(verified.output, proof.output)
    assert verified.vk_fingerprint == keys.vk_fingerprint
    # The verifying key file alone, and the proof file on disk.
    zkinfer.verify(proof.to_bytes(), vk=keys.vk_path)


def test_tampered_proofs_and_other_inputs_are_rejected_by_name(tmp_path):
    model, data = model_and_input("authorization")
    keys = zkinfer.preprocess(model)
    x = as_array(keys, data)
    proof = zkinfer.prove(model, x, keys=keys)
    path = tmp_path / "p.proof"
    proof.save(path)
    assert zkinfer.verify(path, model).output.shape == (1, 4)

    rejected_checks = set()
    for at in (len(proof.data) // 3, len(proof.data) // 2, len(proof.data) - 200):
        bad = bytearray(proof.data)
        bad[at] ^= 0x01
        with pytest.raises(zkinfer.VerificationError) as e:
            zkinfer.verify(bytes(bad), model)
        assert e.value.check and e.value.reason
        rejected_checks.add(e.value.check)
    assert rejected_checks, "every tampered proof must be rejected"

    with pytest.raises(zkinfer.VerificationError) as e:
        zkinfer.verify(proof, model, input=x + 1.0)
    assert e.value.check == "input"
    assert "another input" in e.value.reason

    with pytest.raises(zkinfer.VerificationError) as e:
        zkinfer.verify(b"not a proof", model)
    assert e.value.check == "decode"

    # Another model's key: said so, not a sumcheck failure.
    other = zkinfer.preprocess(MODELS / "perceptron" / "network.onnx")
    with pytest.raises(zkinfer.VerificationError) as e:
        zkinfer.verify(proof, vk=other.vk_path)
    assert "verifying key" in e.value.reason


def test_bad_inputs_raise_value_error_naming_the_shape():
    model, data = model_and_input("authorization")
    keys = zkinfer.preprocess(model)
    with pytest.raises(ValueError, match=r"expects \(1, 64\)"):
        zkinfer.prove(model, np.zeros((3, 3)), keys=keys)
    with pytest.raises(ValueError, match="NaN"):
        zkinfer.prove(model, np.full((1, 64), np.nan), keys=keys)
    # Out of the range the scale can hold: the CLI's words (value and bound).
    with pytest.raises(ValueError, match="300"):
        zkinfer.prove(model, np.full((1, 64), 300.0), keys=keys)
    with pytest.raises(ValueError, match="weights"):
        zkinfer.preprocess(model, weights="secret")
    with pytest.raises(FileNotFoundError):
        zkinfer.prove("no/such/model.onnx", np.zeros(3))
    # A flat list of the right length is accepted, as in input.json.
    flat = as_array(keys, data).ravel().tolist()
    assert zkinfer.prove(model, flat, keys=keys).output.shape == (1, 4)


def test_two_inputs_by_name_and_two_outputs():
    folder = MODELS / "ops" / "two_inputs_two_outputs"
    model = folder / "network.onnx"
    data = json.loads((folder / "input.json").read_text())
    keys = zkinfer.preprocess(model)
    assert len(keys.input_shapes) == 2
    by_name = dict(zip(keys.input_names, [np.asarray(d) for d in data["input_data"]]))
    proof = zkinfer.prove(model, by_name, keys=keys)
    assert isinstance(proof.output, list) and len(proof.output) == 2
    reference = np.concatenate([np.ravel(r) for r in data["reference_output"]])
    got = np.concatenate([np.ravel(o) for o in proof.output])
    assert np.max(np.abs(got - reference)) <= 0.05
    zkinfer.verify(proof, keys=keys, input=by_name)
    with pytest.raises(ValueError, match="inputs"):
        zkinfer.prove(model, {"nope": 1.0}, keys=keys)


def test_public_weights_and_model_bytes():
    model, data = model_and_input("perceptron")
    onnx_bytes = model.read_bytes()
    keys = zkinfer.preprocess(onnx_bytes, weights="public", scale=8)
    assert keys.weights == "public" and keys.scale == 8
    proof = zkinfer.prove(onnx_bytes, as_array(keys, data), keys=keys)
    # The proof's header carries its settings: verifying needs no flags.
    zkinfer.verify(proof, onnx_bytes)


def test_hidden_weights_prove_with_zero_knowledge_and_verify():
    model, data = model_and_input("lenet5")
    keys = zkinfer.preprocess(model, weights="hidden")
    assert keys.weights == "hidden"
    x = as_array(keys, data)
    proof = zkinfer.prove(model, x, keys=keys)
    # A zero-knowledge proof file (its own magic), verified from the model
    # file (the header names the visibility) and from the vk file.
    assert proof.to_bytes()[:8] == b"ZKINFZKP"
    verified = zkinfer.verify(proof, model, input=x)
    np.testing.assert_array_equal(verified.output, proof.output)
    zkinfer.verify(proof.to_bytes(), vk=keys.vk_path)
    bad = bytearray(proof.data)
    bad[len(bad) // 2] ^= 0x01
    with pytest.raises(zkinfer.VerificationError):
        zkinfer.verify(bytes(bad), vk=keys.vk_path)
    with pytest.raises(ValueError, match="hidden"):
        zkinfer.preprocess(model, weights="secret")

    # A private input: verified without it, refused against it.
    private = zkinfer.prove(model, x, keys=keys, private_input=True)
    verified = zkinfer.verify(private, vk=keys.vk_path)
    assert verified.input.size == 0
    np.testing.assert_array_equal(verified.output, proof.output)
    with pytest.raises(zkinfer.VerificationError) as e:
        zkinfer.verify(private, vk=keys.vk_path, input=x)
    assert "private" in e.value.reason


def test_a_scikit_learn_mlp_proves_and_matches_its_prediction():
    sklearn = pytest.importorskip("sklearn.neural_network")
    skl2onnx = pytest.importorskip("skl2onnx")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 0.3]) + np.sin(3 * X[:, 0])).astype(np.float32)
    mlp = sklearn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=600, random_state=0)
    mlp.fit(X, y)
    onnx_model = skl2onnx.to_onnx(mlp, X[:1], target_opset=13)
    model = onnx_model.SerializeToString()
    for row in X[:3]:
        proof = zkinfer.prove(model, row[None, :])
        expected = mlp.predict(row[None, :])[0]
        # 2^-7 fixed point through one hidden layer (README "Accuracy"): the
        # same 0.05 bound as the shipped dense models.
        assert abs(float(proof.output.ravel()[0]) - expected) <= 0.05
        zkinfer.verify(proof, model, input=row[None, :])


def test_threads_prove_concurrently():
    model, data = model_and_input("ffn_tanh")
    keys = zkinfer.preprocess(model)
    base = as_array(keys, data)
    inputs = [base * s for s in (1.0, 0.5, -0.25, 0.75)]

    def one(x):
        return x, zkinfer.prove(model, x, keys=keys, device="cpu")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, inputs))
    for x, proof in results:
        verified = zkinfer.verify(proof, vk=keys.vk_path, input=x)
        np.testing.assert_array_equal(verified.output, proof.output)
    outputs = {proof.output.tobytes() for _, proof in results}
    assert len(outputs) == len(inputs), "each thread proved its own input"


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs SIGINT")
def test_ctrl_c_interrupts_a_proof():
    model, data = model_and_input("cifar_cnn")
    keys = zkinfer.preprocess(model)
    x = as_array(keys, data)
    full = zkinfer.prove(model, x, keys=keys).prove_s
    # A process started in the background (as by a CI script) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: install
    # the interactive default for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            zkinfer.prove(model, x, keys=keys)
        waited = time.monotonic() - started
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert waited < 0.2 + full / 2, f"interrupt took {waited:.2f} s of a {full:.2f} s proof"


def test_devices_list_the_cpu():
    backends = {d["backend"]: d for d in zkinfer.devices()}
    assert backends["cpu"]["available"]
    assert zkinfer.__version__
