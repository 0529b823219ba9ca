"""zkinfer from Python: prove that an ONNX model produced an output on an input.

    import numpy as np, zkinfer
    proof = zkinfer.prove("model.onnx", np.array([[0.5, -1.0, 2.0]]))
    print(proof.output)                      # the proved output (numpy)
    zkinfer.verify(proof, model="model.onnx")   # raises VerificationError if rejected

Keys (proving and verifying key) are built on first use and cached, as with the
CLI (`$ZKINFER_KEYS`, else the user cache folder); `preprocess` builds or loads
them explicitly. Proving releases the GIL, so threads can prove concurrently,
and Ctrl-C interrupts a proof in progress.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import _zkinfer
from ._zkinfer import ZkinferError, __version__

__all__ = [
    "Keys",
    "Proof",
    "Verified",
    "VerificationError",
    "ZkinferError",
    "preprocess",
    "prove",
    "verify",
    "devices",
    "export_torch",
    "__version__",
]

Keys = _zkinfer.Keys

ModelLike = Union[str, "os.PathLike[str]", bytes]
InputLike = Union[np.ndarray, Sequence[Any], Mapping[str, Any], float, int]


class VerificationError(ZkinferError):
    """A proof was rejected. ``check`` names the failed check (``decode``,
    ``input``, ``lookup``, ``operator``, ``opening``, ``vk``, ...), ``reason``
    says why, in the CLI's words."""

    def __init__(self, check: str, reason: str):
        super().__init__(f"proof rejected ({check}): {reason}")
        self.check = check
        self.reason = reason


def _model_path(model: ModelLike) -> Path:
    """A path for the model: the path itself, or ONNX bytes written once to a
    file named by their content (so the key cache recognises them)."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        import hashlib

        data = bytes(model)
        digest = hashlib.sha256(data).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / "zkinfer-python-models"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"model-{digest}.onnx"
        if not path.exists():
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            os.replace(partial, path)
        return path
    path = Path(os.fspath(model))
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model file")
    return path


def preprocess(
    model: ModelLike,
    *,
    scale: int = 7,
    weights: str = "committed",
    keys: Optional[Union[str, "os.PathLike[str]"]] = None,
    rebuild: bool = False,
) -> Keys:
    """Imports ``model`` (a path or ONNX bytes) and returns its keys, loaded
    from the key cache or built and cached.

    ``scale``: fixed-point scale (values are multiples of 2^-scale).
    ``weights``: ``"committed"`` (the proof binds to a commitment to the
    weights; binding, not hiding), ``"hidden"`` (a hiding commitment and
    zero-knowledge proofs: the verifier learns nothing about the weights
    beyond the statement; see docs/zero-knowledge.md for the ops it covers)
    or ``"public"`` (the verifier reads them from the verifying key). ``keys``: a folder to keep the keys in instead of
    the cache. ``rebuild``: build even if cached keys exist.
    """
    return _zkinfer.preprocess(
        _model_path(model),
        scale=scale,
        weights=weights,
        keys=None if keys is None else Path(os.fspath(keys)),
        rebuild=rebuild,
    )


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _input_lists(keys: Keys, input: InputLike) -> List[List[float]]:
    """One flat list per model input, checked against the model's shapes."""
    shapes = keys.input_shapes
    names = keys.input_names
    if isinstance(input, Mapping):
        missing = [n for n in names if n not in input]
        extra = [k for k in input if k not in names]
        if missing or extra:
            raise ValueError(
                f"input dict has keys {sorted(input)}, the model's inputs are {names}"
            )
        arrays = [input[n] for n in names]
    elif len(shapes) == 1:
        arrays = [input]
    elif isinstance(input, (list, tuple)) and len(input) == len(shapes):
        arrays = list(input)
    else:
        raise ValueError(
            f"the model has {len(shapes)} inputs {names}: give a dict by name or a list "
            f"of {len(shapes)} arrays"
        )
    lists = []
    for name, shape, value in zip(names, shapes, arrays):
        array = np.asarray(value, dtype=np.float64)
        expected = int(np.prod(shape)) if len(shape) else 1
        same_shape = tuple(array.shape) == tuple(shape)
        # A flat list of the right length is accepted too (as in input.json).
        flat_ok = array.ndim == 1 and array.size == expected
        if not (same_shape or flat_ok):
            raise ValueError(
                f"input {name!r} has shape {_shape_text(array.shape)}, the model expects "
                f"{_shape_text(shape)} ({expected} values)"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError(f"input {name!r} holds NaN or infinite values")
        lists.append(array.ravel().tolist())
    return lists


def _split_outputs(values: Sequence[float], shapes: Sequence[Sequence[int]]):
    flat = np.asarray(values, dtype=np.float32)
    arrays, at = [], 0
    for shape in shapes:
        n = int(np.prod(shape)) if len(shape) else 1
        arrays.append(flat[at : at + n].reshape(shape))
        at += n
    return arrays[0] if len(arrays) == 1 else arrays


@dataclass(frozen=True)
class Proof:
    """A proof of one inference. ``output`` is the proved output (a numpy
    array, or a list of arrays for several outputs) in real units;
    ``float_output`` tract's f32 reference and ``max_abs_error`` their gap
    (quantization); ``timings`` the prover's phases in seconds."""

    data: bytes
    output: Any
    float_output: Any = None
    max_abs_error: Optional[float] = None
    device: Optional[str] = None
    prove_s: Optional[float] = None
    timings: Dict[str, float] = field(default_factory=dict)
    vk_fingerprint: Optional[str] = None

    @property
    def size(self) -> int:
        """The proof's size in bytes."""
        return len(self.data)

    def to_bytes(self) -> bytes:
        """The proof file's bytes (what ``zkinfer verify --proof`` reads)."""
        return self.data

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the proof file."""
        Path(os.fspath(path)).write_bytes(self.data)

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Proof":
        """Reads a proof file (its output is filled in by ``verify``)."""
        return cls(data=Path(os.fspath(path)).read_bytes(), output=None)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Proof":
        return cls(data=bytes(data), output=None)

    def __repr__(self) -> str:
        return f"Proof({self.size} bytes, device={self.device!r}, prove_s={self.prove_s})"


def prove(
    model: ModelLike,
    input: InputLike,
    *,
    keys: Optional[Union[Keys, str, "os.PathLike[str]"]] = None,
    device: str = "auto",
    scale: int = 7,
    weights: str = "committed",
    private_input: bool = False,
) -> Proof:
    """Runs ``model`` on ``input`` and proves it.

    ``input``: a numpy array or nested list for a one-input model (its shape,
    or a flat list of the right length), a list of arrays or a dict by input
    name for several. Values are in real units; integer inputs take integers.
    ``keys``: a ``Keys`` from ``preprocess`` (then ``scale``/``weights`` are
    the keys'), or a key folder; default: the key cache. ``device``: ``auto``,
    ``cpu``, ``cuda[:N]``, ``metal``, ``wgpu``, ... as with the CLI.
    ``private_input``: keep the input out of the proof (keys with
    ``weights="hidden"``); the proof then shows that some input in range
    gives the output, and ``verify`` returns an empty ``input``.
    Raises ``ValueError`` for an input of the wrong shape or out of range.
    """
    if not isinstance(keys, Keys):
        keys = preprocess(model, scale=scale, weights=weights, keys=keys)
    lists = _input_lists(keys, input)
    result = _zkinfer.prove(keys, lists, device=device, private_input=private_input)
    shapes = keys.output_shapes
    return Proof(
        data=bytes(result.proof_bytes()),
        output=_split_outputs(result.output, shapes),
        float_output=_split_outputs(result.float_output, shapes),
        max_abs_error=result.max_abs_error,
        device=result.device,
        prove_s=result.prove_s,
        timings={name: seconds for name, seconds in result.timings},
        vk_fingerprint=keys.vk_fingerprint,
    )


@dataclass(frozen=True)
class Verified:
    """An accepted proof: the public input and output it proves (numpy, real
    units), the verifying key's fingerprint and the time taken."""

    input: np.ndarray
    output: Any
    vk_fingerprint: str
    verify_s: float


def verify(
    proof: Union[Proof, bytes, str, "os.PathLike[str]"],
    model: Optional[ModelLike] = None,
    *,
    vk: Optional[Union[str, "os.PathLike[str]"]] = None,
    keys: Optional[Union[Keys, str, "os.PathLike[str]"]] = None,
    input: Optional[InputLike] = None,
) -> Verified:
    """Verifies ``proof`` (a ``Proof``, its bytes, or a proof file) against
    ``model`` (its keys with the proof's own settings, from the cache) or a
    verifying key file ``vk`` (a ``Keys`` as ``keys`` gives its ``vk_path``).
    With ``input``, also checks that the proof is for that input.

    Returns ``Verified``; raises ``VerificationError`` naming the failed check.
    """
    if isinstance(proof, Proof):
        data = proof.data
    elif isinstance(proof, (bytes, bytearray, memoryview)):
        data = bytes(proof)
    else:
        data = Path(os.fspath(proof)).read_bytes()
    key_dir = None
    if isinstance(keys, Keys):
        if vk is None and model is None:
            vk = keys.vk_path
        else:
            key_dir = keys.dir
    elif keys is not None:
        key_dir = Path(os.fspath(keys))
    if (vk is None) == (model is None):
        raise ValueError("give the model or vk= (not both) to verify against")
    input_lists = None
    if input is not None:
        if isinstance(keys, Keys):
            input_lists = _input_lists(keys, input)
        elif isinstance(input, Mapping):
            raise ValueError("a dict input needs keys= (a Keys) to know the inputs' order")
        else:
            try:
                # One input: an array or a nested list of one shape.
                input_lists = [np.asarray(input, dtype=np.float64).ravel().tolist()]
            except ValueError:
                # Several inputs of different shapes, in the model's order.
                input_lists = [np.asarray(a, dtype=np.float64).ravel().tolist() for a in input]
    verdict = _zkinfer.verify(
        data,
        model=None if model is None else _model_path(model),
        vk=None if vk is None else Path(os.fspath(vk)),
        keys=key_dir,
        inputs=input_lists,
    )
    if not verdict.accepted:
        raise VerificationError(verdict.check, verdict.reason)
    return Verified(
        input=np.asarray(verdict.input, dtype=np.float32),
        output=_split_outputs(verdict.output, verdict.output_shapes),
        vk_fingerprint=verdict.vk_fingerprint,
        verify_s=verdict.verify_s,
    )


def devices() -> List[Dict[str, Any]]:
    """The backends this build has (cpu, icicle, wgpu), whether each can run
    here, its devices, or why not (as ``zkinfer devices --json``)."""
    return json.loads(_zkinfer.devices_json())


def export_torch(module: Any, example_input: Any, path: Union[str, "os.PathLike[str]"]) -> Path:
    """Exports a torch ``module`` to ONNX at ``path`` with ``example_input``
    (a tensor, or a tuple of tensors for several inputs), in eval mode, with
    the opset zkinfer imports. Needs ``pip install torch onnx``."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("export_torch needs torch: pip install torch onnx") from e
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    module.eval()
    path = Path(os.fspath(path))
    with torch.no_grad():
        try:
            # The TorchScript exporter: plain ONNX ops, fixed shapes.
            torch.onnx.export(module, args, str(path), opset_version=17, dynamo=False)
        except TypeError:  # torch < 2.5 has no `dynamo` argument
            torch.onnx.export(module, args, str(path), opset_version=17)
    return path
