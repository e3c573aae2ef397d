from labelbay.api.routing import Router

router = Router(tags=["annotations"])
