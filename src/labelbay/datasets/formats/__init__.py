"""Every format module, imported so that each registers itself (see datasets.registry)."""

from labelbay.datasets.formats import (
    coco,  # noqa: F401
    cvat,  # noqa: F401
    datumaro,  # noqa: F401
    imagenet,  # noqa: F401
    labelme,  # noqa: F401
    mot,  # noqa: F401
    segmentation,  # noqa: F401
    voc,  # noqa: F401
    yolo,  # noqa: F401
    yolo_ultralytics,  # noqa: F401
)
