from __future__ import annotations

from typing import Any

from labelbay import __version__
from labelbay.api.deps import CurrentUser
from labelbay.api.routing import Router

router = Router(prefix="/server", tags=["server"])

# The CVAT API version Labelbay speaks; cvat-sdk 2.80 checks it (spec 2.2).
CVAT_API_VERSION = "2.80.0"


@router.get("/about")
def about() -> dict[str, Any]:
    return {
        "name": "Labelbay",
        "description": f"Labelbay {__version__}: a computer-vision annotation server that "
        "speaks CVAT's REST API",
        "version": CVAT_API_VERSION,
        "logo_url": "",
        "subtitle": "Annotate images and video; export datasets",
    }


@router.get("/annotation/formats")
def annotation_formats(_user: CurrentUser) -> dict[str, Any]:
    from labelbay.datasets import registry

    return registry.listing()
