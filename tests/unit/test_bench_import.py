"""The import bench's pure parts: its CSV chunks are what the import route reads, whole and in order."""

from bench.imports import _csv_chunks, _node_types
from devstack.population import generate
from services.enrollment.imports import ImportKind, read_rows


def test_chunks_split_the_rows_and_each_reads_back_without_rejections() -> None:
    rows = list(generate(250, seed=7))
    chunks = _csv_chunks(rows, 100)
    assert len(chunks) == 3
    read_back = []
    for chunk in chunks:
        parsed, rejected = read_rows(ImportKind.PERSONS, chunk.decode(), json_lines=False)
        assert rejected == []
        read_back.extend(parsed)
    assert [r.fields["id_number"] for r in read_back] == [r["id_number"] for r in rows]
    assert [len(read_rows(ImportKind.PERSONS, c.decode(), json_lines=False)[0]) for c in chunks] == [100, 100, 50]


def test_node_types_walk_the_whole_plan_and_name_indexes() -> None:
    plan = {
        "Node Type": "HashAggregate",
        "Plans": [
            {"Node Type": "Bitmap Index Scan", "Index Name": "ix_persons_hukou_prefix"},
            {"Node Type": "Hash Join", "Plans": [{"Node Type": "Seq Scan"}]},
        ],
    }
    assert _node_types(plan) == [
        "HashAggregate",
        "Bitmap Index Scan on ix_persons_hukou_prefix",
        "Hash Join",
        "Seq Scan",
    ]
