"""Region prefixes are written into coverage statements (a generic plan cannot use `LIKE $1`), digits only."""

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from services.enrollment.models import Person
from services.enrollment.repository import _page_size, _under


def test_the_prefix_and_the_page_size_are_part_of_the_statement_text() -> None:
    query = select(Person.person_no).where(_under(Person.hukou_region_code, "350582101003")).limit(_page_size(100))
    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    sql = str(query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))
    assert "LIKE '350582101003%'" in sql
    assert "LIMIT 100" in sql


@pytest.mark.parametrize("prefix", ["3505%", "350_82", "3505'--", ""])
def test_anything_but_digits_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="not a region prefix"):
        _under(Person.hukou_region_code, prefix)
