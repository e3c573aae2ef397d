"""End-to-end tests: the real cvat-sdk / cvat-cli 2.80.0 against a running ``labelbay serve``."""
