from services.gateway.models import Base
from services.gateway.settings import Settings
from shared.migrations import run_migrations

run_migrations(Settings().database_url, [Base.metadata])
