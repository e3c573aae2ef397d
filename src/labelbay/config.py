"""Settings read once from the environment (prefix ``LABELBAY_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LABELBAY_", env_file=".env", extra="ignore")

    data_dir: Path = Path("labelbay-data")
    # Empty means the embedded SQLite file inside data_dir.
    database_url: str = ""
    # Largest image accepted at ingest, in pixels (width * height).
    max_image_pixels: int = 178_956_970
    # TUS: the largest single upload and the largest chunk one PATCH may carry.
    max_upload_bytes: int = 64 * 1024**3
    max_chunk_bytes: int = 64 * 1024**2
    session_days: int = 14
    default_page_size: int = 10
    max_page_size: int = 1000
    # Finished background requests are kept this long for polling.
    request_ttl_hours: int = 24
    # Background queue: empty means Huey on a SQLite file in data_dir (embedded mode);
    # a redis:// URL means Huey on Redis, consumed by `labelbay worker` processes.
    redis_url: str = ""
    # Huey queue name (Redis key suffix; letters, digits and _ only).
    queue_name: str = "labelbay"
    # Consumer threads inside `labelbay serve`. With redis_url set the server consumes only
    # if this is set explicitly (LABELBAY_QUEUE_WORKERS); 0 never consumes in the server.
    queue_workers: int = 2
    # Upper bound of the frame/chunk cache on disk.
    cache_max_bytes: int = 10 * 1024**3
    # A frame or chunk built for a waiting request answers 503 + Retry-After past this.
    build_timeout_seconds: float = 20.0
    # Processes that encode images for the cache (media.codecpool); -1 means one per CPU,
    # 0 encodes in the requesting process's threads.
    codec_processes: int = -1

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'labelbay.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"


@lru_cache
def get_settings() -> Settings:
    return Settings()
