from services.enrollment.models import Base
from services.enrollment.settings import Settings
from shared.migrations import run_migrations
from shared.tables import platform_metadata

run_migrations(Settings().database_url, [Base.metadata, platform_metadata])
