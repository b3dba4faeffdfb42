"""Provenance in every result image: IPTC/XMP `DigitalSourceType = trainedAlgorithmicMedia`, the engines
and model versions used, and the job id.

PNG and JPEG get the XMP packet inserted as a chunk/segment without re-encoding the pixels (a JPEG
stays bit-identical in its image data); WebP (written lossless by the stages) is re-encoded lossless.
"""
from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from PIL import Image

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def engine_line(engine: dict) -> str:
    weights = ", ".join(
        w if isinstance(w, str) else f"{w.get('name', '?')} {w.get('version', '')} sha256:{str(w.get('sha256', ''))[:16]}"
        for w in engine.get("weights", []))
    line = f"{engine.get('stage')}: {engine.get('engine')} (licence: {engine.get('licence')}"
    if engine.get("demo"):
        line += "; demo"
    if engine.get("use_restrictions"):  # OpenRAIL weights: their use restrictions travel with every result
        line += f"; use restrictions: {engine['use_restrictions'].get('link', '')}"
    return line + (f"; weights: {weights})" if weights else ")")


def xmp_packet(job_id: str, engines: list[dict], created_at: datetime) -> bytes:
    items = "".join(f"<rdf:li>{escape(engine_line(e))}</rdf:li>" for e in engines)
    description = f"Made with FaceCast (virtual model); job {job_id}"
    xml = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:facecast="https://facecast.dev/ns/provenance/1.0/"'
        f" Iptc4xmpExt:DigitalSourceType={quoteattr(TRAINED_ALGORITHMIC_MEDIA)}"
        f' xmp:CreatorTool="FaceCast" xmp:CreateDate={quoteattr(created_at.isoformat())}'
        f" facecast:JobId={quoteattr(job_id)}>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li></rdf:Alt></dc:description>'
        f"<facecast:Engines><rdf:Seq>{items}</rdf:Seq></facecast:Engines>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return xml.encode("utf-8")


def embed(data: bytes, xmp: bytes) -> bytes:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _embed_png(data, xmp)
    if data.startswith(b"\xff\xd8"):
        return _embed_jpeg(data, xmp)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _embed_webp(data, xmp)
    raise ValueError("provenance can be embedded in PNG, JPEG and WebP only")


def _embed_png(data: bytes, xmp: bytes) -> bytes:
    """An iTXt chunk right after IHDR (signature 8 bytes + IHDR 25 bytes)."""
    chunk_data = XMP_PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + xmp  # keyword, compression 0/0, no lang/translation
    chunk = struct.pack(">I", len(chunk_data)) + b"iTXt" + chunk_data
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + chunk_data) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _embed_jpeg(data: bytes, xmp: bytes) -> bytes:
    """An APP1 XMP segment after SOI and any APP0 (JFIF) segment."""
    segment_body = XMP_JPEG_HEADER + xmp
    if len(segment_body) + 2 > 0xFFFF:
        raise ValueError("XMP packet too large for one JPEG segment")
    segment = b"\xff\xe1" + struct.pack(">H", len(segment_body) + 2) + segment_body
    position = 2
    if data[2:4] == b"\xff\xe0":
        position = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:position] + segment + data[position:]


def _embed_webp(data: bytes, xmp: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        out = io.BytesIO()
        img.save(out, "WEBP", lossless=True, xmp=xmp)
    return out.getvalue()


def read_xmp(data: bytes) -> bytes | None:
    """The XMP packet of an image, found by its markers (used by tests and `GET` checks)."""
    start = data.find(b"<?xpacket begin=")
    end = data.find(b"<?xpacket end=", start)
    if start < 0 or end < 0:
        return None
    return data[start:data.find(b"?>", end) + 2]
