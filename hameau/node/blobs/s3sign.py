"""The two S3 calls obstore does not offer: listing and aborting multipart uploads a killed
write left behind (`S3BlobStore.clear_temp`), signed with AWS Signature Version 4."""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx

_EMPTY = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(
    method: str, url: str, query: dict[str, str], keys: tuple[str, str], region: str
) -> dict[str, str]:
    """The headers of an empty-bodied request signed with ``keys`` (access key, secret)."""
    access, secret = keys
    parts = urlsplit(url)
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    canonical_query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
        for name, value in sorted(query.items())
    )
    headers = {"host": parts.netloc, "x-amz-content-sha256": _EMPTY, "x-amz-date": stamp}
    names = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            canonical_query,
            "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
            names,
            _EMPTY,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={names},"
        f" Signature={signature}"
    )
    return headers


def _call(
    method: str, url: str, query: dict[str, str], keys: tuple[str, str], region: str
) -> httpx.Response:
    headers = signed_headers(method, url, query, keys, region)
    answer = httpx.request(method, url, params=query, headers=headers, timeout=30)
    answer.raise_for_status()
    return answer


def multipart_uploads(
    bucket_url: str, prefix: str, keys: tuple[str, str], region: str
) -> list[tuple[str, str, datetime]]:
    """The unfinished multipart uploads under ``prefix``: (key, upload id, started)."""
    found = []
    query = {"uploads": "", "prefix": prefix}
    while True:
        answer = _call("GET", bucket_url, query, keys, region)
        root = ET.fromstring(answer.content)  # noqa: S314  (the node's own configured store)
        for upload in root.iter(f"{_NS}Upload"):
            started = upload.findtext(f"{_NS}Initiated") or ""
            when = datetime.fromisoformat(started.replace("Z", "+00:00"))
            found.append(
                (upload.findtext(f"{_NS}Key") or "", upload.findtext(f"{_NS}UploadId") or "", when)
            )
        if root.findtext(f"{_NS}IsTruncated") != "true":
            return found
        query = {
            "uploads": "",
            "prefix": prefix,
            "key-marker": root.findtext(f"{_NS}NextKeyMarker") or "",
            "upload-id-marker": root.findtext(f"{_NS}NextUploadIdMarker") or "",
        }


def abort_upload(
    bucket_url: str, key: str, upload_id: str, keys: tuple[str, str], region: str
) -> None:
    _call(
        "DELETE", f"{bucket_url}/{quote(key, safe='/-_.~')}", {"uploadId": upload_id}, keys, region
    )
