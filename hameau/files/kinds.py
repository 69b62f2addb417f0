"""What kind a file is (its icon), and what of it a page may show in place.

The kind comes from the name's extension, then from the declared content type: both are
the uploader's word, so nothing here trusts them to run safely. Images are shown only as
thumbnails re-encoded by the node (or, for SVG, as an image under a sandboxing CSP, never as
a page), a PDF only in the browser's own viewer after its first bytes say it is one, and
text escaped (Markdown through the notes' safe renderer: no raw HTML, no script links).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hameau.files.thumbnails import REFUSALS, Thumbnails, cache_folder
from hameau.node.blobs import BlobDamaged, BlobStore

# Text larger than this is not previewed (the whole content is read and checked first).
TEXT_PREVIEW_BYTES = 256 << 10
# Images Pillow may thumbnail: the common photo and web formats, nothing exotic.
RASTER = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
          ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp"}  # fmt: skip
MARKDOWN = (".md", ".markdown")
TEXT = (".txt", ".text", ".csv", ".log", ".json", ".xml", ".ini", ".toml", ".yaml", ".yml",
        ".org", ".rst", ".ics", ".vcf", ".py", ".sh", ".html", ".css", ".js")  # fmt: skip
AUDIO = (".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a")
VIDEO = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".ogv")
ARCHIVE = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")


@dataclass(frozen=True)
class Kind:
    icon: str  # the symbol's name in the sprite (_file_icons.html): #i-<icon>
    preview: str | None = None  # "image", "svg", "pdf", "text", "markdown" or None


FOLDER = Kind("folder")


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def kind_of(entry: Any) -> Kind:
    """The kind of a file entry (or a folder), by its name, then its declared type."""
    if entry.is_dir:
        return FOLDER
    suffix, declared = _suffix(entry.name), (entry.content_type or "").lower()
    if suffix in RASTER or (not suffix and declared in RASTER.values()):
        return Kind("image", "image")
    if suffix == ".svg" or declared == "image/svg+xml":
        return Kind("image", "svg")
    if suffix == ".pdf" or declared == "application/pdf":
        return Kind("pdf", "pdf")
    if suffix in MARKDOWN or declared == "text/markdown":
        return Kind("text", "markdown")
    if suffix in TEXT or declared.startswith("text/") or declared == "application/json":
        return Kind("text", "text")
    if suffix in AUDIO or declared.startswith("audio/"):
        return Kind("audio")
    if suffix in VIDEO or declared.startswith("video/"):
        return Kind("video")
    if suffix in ARCHIVE:
        return Kind("archive")
    return Kind("file")


@dataclass(frozen=True)
class TextPreview:
    text: str = ""  # for "text": shown escaped
    html: str = ""  # for "markdown": rendered without raw HTML, links checked
    too_large: bool = False
    binary: bool = False


def read_text(store: BlobStore, entry: Any) -> TextPreview:
    """A text or Markdown file's content for its page, read whole and checked against its
    hash first (damaged content raises `BlobDamaged`), within `TEXT_PREVIEW_BYTES`."""
    if entry.size > TEXT_PREVIEW_BYTES:
        return TextPreview(too_large=True)
    reader = store.open_verified(entry.blob)
    try:
        data = reader.read(TEXT_PREVIEW_BYTES + 1)
        while reader.tell() < reader.size:  # the last read checks the hash
            data += reader.read(TEXT_PREVIEW_BYTES)
    finally:
        reader.close()
    if len(data) > TEXT_PREVIEW_BYTES:
        return TextPreview(too_large=True)
    if b"\0" in data:
        return TextPreview(binary=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # older French text files are often in Windows' encoding
        text = data.decode("cp1252", errors="replace")
    if kind_of(entry).preview == "markdown":
        from hameau.notes.service import render  # the notes' safe Markdown, loaded when used

        return TextPreview(html=render(text))
    return TextPreview(text=text)


def preview_of(store: BlobStore, entry: Any, data_dir: Path) -> dict[str, object]:
    """What the file's page shows in place: its kind's preview, with the text read, or why
    an image got no thumbnail when that is known already."""
    kind = kind_of(entry)
    found: dict[str, object] = {"kind": kind.preview}
    if kind.preview == "image" and entry.blob:
        reason = Thumbnails(store, cache_folder(data_dir)).refusal(entry.blob)
        found["refused"] = REFUSALS.get(reason or "")
    if kind.preview in ("text", "markdown") and entry.blob:
        try:
            found["text"] = read_text(store, entry)
        except BlobDamaged:
            found["kind"] = None  # the page says it is damaged already
    return found
