"""Type stubs of the extension module `zkinfer._zkinfer` (use the `zkinfer` API)."""

from os import PathLike
from pathlib import Path
from typing import List, Optional, Tuple, Union

_Path = Union[str, PathLike[str]]

__version__: str

class ZkinferError(Exception):
    """An error of zkinfer (import, keys, proving), with the CLI's message."""

class Keys:
    """A model imported and its keys loaded from (or built into) the key cache."""

    @property
    def dir(self) -> Path: ...
    @property
    def vk_path(self) -> Path: ...
    @property
    def model_name(self) -> str: ...
    @property
    def weights(self) -> str: ...
    @property
    def scale(self) -> int: ...
    @property
    def vk_fingerprint(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def input_shapes(self) -> List[List[int]]: ...
    @property
    def input_names(self) -> List[str]: ...
    @property
    def integer_inputs(self) -> List[bool]: ...
    @property
    def output_shapes(self) -> List[List[int]]: ...

class ProveResult:
    output: List[float]
    float_output: List[float]
    max_abs_error: float
    device: str
    prove_s: float
    timings: List[Tuple[str, float]]
    def proof_bytes(self) -> bytes: ...

class Verdict:
    accepted: bool
    check: Optional[str]
    reason: Optional[str]
    input: List[float]
    output: List[float]
    output_shapes: List[List[int]]
    vk_fingerprint: Optional[str]
    verify_s: float

def preprocess(
    model: _Path,
    *,
    scale: Optional[int] = None,
    weights: Optional[str] = None,
    keys: Optional[_Path] = None,
    rebuild: bool = False,
) -> Keys: ...
def prove(
    keys: Keys, inputs: List[List[float]], *, device: str = "auto", private_input: bool = False
) -> ProveResult: ...
def verify(
    proof_bytes: bytes,
    *,
    model: Optional[_Path] = None,
    vk: Optional[_Path] = None,
    keys: Optional[_Path] = None,
    inputs: Optional[List[List[float]]] = None,
) -> Verdict: ...
def devices_json() -> str: ...
