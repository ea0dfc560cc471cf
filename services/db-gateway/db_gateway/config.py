from pydantic import Field, SecretStr

from servicekit.settings import InternalTokenSettings, ServiceSettings


class Settings(ServiceSettings, InternalTokenSettings):
    service_name: str = "db-gateway"
    database_url: SecretStr = Field(
        description="postgresql+asyncpg://user:password@host:5432/dbname"
    )
    # as many connections as a caller's pool holds (servicekit.http: 16), and no
    # overflow: connections opened and closed under bursts cost more than waiting
    db_pool_size: int = Field(default=16, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout: float = Field(default=3.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
