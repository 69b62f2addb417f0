"""Thumbnails of images, made on demand from checked content and kept in a cache.

Pillow is imported the first time a thumbnail is made, never at start (idle memory). The
content is copied out of the blob store through `open_verified`, so damaged content is never
decoded. Decoding is bounded: only common formats, at most `MAX_BYTES` of file and
`MAX_PIXELS` pixels (fewer for formats that cannot be decoded at a reduced scale), and
Pillow's decompression-bomb warning is an error. A refused image gets the generic icon, with
the reason remembered beside the cache so it is not decoded again.

The cache is `<data dir>/cache/thumbnails/<ab>/<sha256>-<px>.<jpg|png>`: named by the
content's hash, so new content gets new thumbnails and nothing needs invalidating; the node
may delete the whole folder at any time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from hameau.errors import N_
from hameau.node.blobs import BlobDamaged, BlobStore

SIZES = {"small": 96, "large": 1280}  # a row of the list; the file's page
MAX_BYTES = 64 << 20
MAX_PIXELS = 100_000_000  # a JPEG is decoded at 1/2 to 1/8 scale, so this costs little
MAX_FULL_DECODE_PIXELS = 16_000_000  # other formats are decoded whole: about 100 MB at most
FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "BMP"]
# Why an image got no thumbnail, as the file's page says it.
REFUSALS = {
    "too large": N_("Too large to preview: download it to see it."),
    "unreadable": N_("This image cannot be shown here: download it to see it."),
    "damaged": N_("Its stored content is damaged: restore an earlier version."),
}


def cache_folder(data_dir: Path) -> Path:
    return data_dir / "cache" / "thumbnails"


def prune(store: BlobStore, folder: Path) -> int:
    """Forget the thumbnails (and refusal notes) of content no longer stored: deleted for
    good, or quarantined as damaged. The weekly scrub calls it. Returns how many went."""
    removed = 0
    for path in folder.glob("??/*"):
        digest = path.name[:64]
        if len(digest) == 64 and path.suffix != ".part" and not store.exists(digest):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class Refused(Exception):
    """This content gets no thumbnail; ``reason`` is a key of `REFUSALS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _pillow() -> Any:
    """Pillow's Image module, with its bomb limit set (imported on first use only)."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return Image


class Thumbnails:
    def __init__(self, store: BlobStore, folder: Path) -> None:
        self.store, self.folder = store, folder

    def _base(self, digest: str) -> Path:
        if len(digest) != 64 or not all(char in "0123456789abcdef" for char in digest):
            raise ValueError(f"not a content hash: {digest!r}")
        return self.folder / digest[:2] / digest

    def refusal(self, digest: str) -> str | None:
        """The reason this content got no thumbnail, if it was tried already."""
        try:
            return self._base(digest).with_suffix(".refused").read_text().strip() or None
        except FileNotFoundError:
            return None

    def cached(self, digest: str, size: str) -> Path | None:
        base = self._base(digest)
        for suffix in (".jpg", ".png"):
            found = base.with_name(f"{base.name}-{SIZES[size]}{suffix}")
            if found.is_file():
                return found
        return None

    def get(self, digest: str, size: str) -> Path:
        """The thumbnail's file, made now if needed; raises `Refused`. Blocking: call it in
        a worker thread, one at a time (decoding a photo takes memory)."""
        found = self.cached(digest, size)
        if found is not None:
            return found
        reason = self.refusal(digest)
        if reason is not None:
            raise Refused(reason)
        try:
            return self._make(digest, size)
        except Refused as refused:
            if refused.reason != "damaged":  # restored content must get its thumbnail
                self._remember(digest, refused.reason)
            raise

    def read(self, digest: str, size: str, make: bool = True) -> tuple[bytes, str] | None:
        """The thumbnail's bytes and media type (see `get`); without ``make``, None if it is
        not made yet. The cache may be emptied at any moment, even between the two steps."""
        for _ in range(2):
            path = self.get(digest, size) if make else self.cached(digest, size)
            if path is None:
                return None
            with contextlib.suppress(FileNotFoundError):
                return path.read_bytes(), "image/png" if path.suffix == ".png" else "image/jpeg"
        raise Refused("unreadable")

    def _remember(self, digest: str, reason: str) -> None:
        marker = self._base(digest).with_suffix(".refused")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(reason + "\n")

    def _copy(self, digest: str, into: Any) -> None:
        """The content, checked against its hash as it is copied (damaged: refused)."""
        try:
            reader = self.store.open_verified(digest)
        except BlobDamaged:
            raise Refused("damaged") from None
        try:
            if reader.size > MAX_BYTES:
                raise Refused("too large")
            shutil.copyfileobj(reader, into, 1 << 20)
        except BlobDamaged:
            raise Refused("damaged") from None
        finally:
            reader.close()
        into.flush()
        into.seek(0)

    def _make(self, digest: str, size: str) -> Path:
        """Both sizes from one decoding (the file's page asks for the large one next)."""
        base = self._base(digest)
        base.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=base.parent) as copy:
            self._copy(digest, copy)
            large = _decode(copy, SIZES["large"])
        made = {name: self._save(large if name == "large" else _shrink(large, pixels), base, pixels)
                for name, pixels in SIZES.items()}  # fmt: skip
        return made[size]

    def _save(self, image: Any, base: Path, pixels: int) -> Path:
        suffix, options = (
            (".png", {"optimize": True})
            if image.mode in ("RGBA", "LA", "P")
            else (".jpg", {"quality": 82, "optimize": True, "progressive": True})
        )
        target = base.with_name(f"{base.name}-{pixels}{suffix}")
        descriptor, temp = tempfile.mkstemp(dir=base.parent, suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as out:
                image.save(out, "PNG" if suffix == ".png" else "JPEG", **options)
            os.replace(temp, target)  # readers see a whole thumbnail or none
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        return target


def _shrink(image: Any, pixels: int) -> Any:
    smaller = image.copy()
    smaller.thumbnail((pixels, pixels))
    return smaller


def _decode(source: Any, pixels: int) -> Any:
    """The image in ``source`` made to fit ``pixels`` a side, within the bounds above."""
    image_module = _pillow()
    from PIL import ImageOps, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", image_module.DecompressionBombWarning)
        try:
            image = image_module.open(source, formats=FORMATS)
            width, height = image.size
            if width * height > (MAX_PIXELS if image.format == "JPEG" else MAX_FULL_DECODE_PIXELS):
                raise Refused("too large")
            image.draft("RGB", (pixels, pixels))  # JPEG: decoded at a reduced scale
            image.thumbnail((pixels, pixels))
            image = ImageOps.exif_transpose(image)  # phones store photos on their side
            if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            if image.mode == "P" and "transparency" not in image.info:
                image = image.convert("RGB")
            return image
        except (image_module.DecompressionBombError, image_module.DecompressionBombWarning):
            raise Refused("too large") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise Refused("unreadable") from None
