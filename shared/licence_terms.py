"""Use restrictions that travel with a weight licence (shown in GET /v1/engines, every candidate and result).

Some licences that allow commercial use still restrict *how* the model and its outputs are used: the
OpenRAIL family (CreativeML OpenRAIL-M for Stable Diffusion 1.x, CreativeML Open RAIL++-M for SDXL)
binds every user to its Attachment A. FaceCast shows a link and a short summary; the licence text
itself is what binds. A licence is recognised from its id or text as recorded on import.
"""
from __future__ import annotations

_OPENRAIL_SUMMARY = (
    "Commercial use allowed. You may not use the model or its outputs: to break any law; to exploit or harm "
    "minors; to generate or spread verifiably false information meant to harm others; to generate or spread "
    "personal identifiable information that could harm a person; to defame, disparage or harass people; for fully "
    "automated decisions that adversely affect a person's legal rights; to discriminate against people or groups "
    "(social behaviour, personal or legally protected characteristics); to exploit vulnerabilities of a group; "
    "for medical advice or interpreting medical results; for law enforcement, justice or immigration decisions. "
    "Anyone you pass the model or its derivatives to must be bound by the same restrictions.")

USE_RESTRICTIONS: dict[str, dict] = {
    "openrail++": {"licence": "CreativeML Open RAIL++-M",
                   "link": "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
                   "summary": _OPENRAIL_SUMMARY},
    "openrail-m": {"licence": "CreativeML OpenRAIL-M",
                   "link": "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
                   "summary": _OPENRAIL_SUMMARY},
    "apache-2.0": {"licence": "Apache-2.0", "link": "https://www.apache.org/licenses/LICENSE-2.0",
                   "summary": "Commercial use allowed; no use restrictions beyond the licence's notice terms."},
}


def use_restrictions(licence: str) -> dict | None:
    """{licence, link, summary} for a licence id or text that names a known family, else None.
    Open RAIL++ is matched before OpenRAIL-M (its text contains "openrail" too)."""
    text = licence.casefold().replace(" ", "").replace("_", "-")
    if "openrail++" in text or "rail++" in text:
        return dict(USE_RESTRICTIONS["openrail++"])
    if "openrail" in text:
        return dict(USE_RESTRICTIONS["openrail-m"])
    if "apache-2.0" in text or "apache2.0" in text or "apachelicense2.0" in text:
        return dict(USE_RESTRICTIONS["apache-2.0"])
    return None
