from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import psycopg
import pytest

from mlmcrm.db import libpq_url
from mlmcrm.services.platform import pgcopy


@pytest.fixture()
def cursor(database_url):
    with psycopg.connect(libpq_url(database_url)) as connection:
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE copied (n bigint, label text, amount numeric(18, 6),"
                " fine numeric(30, 12), small int, tiny smallint, flag boolean,"
                " moment timestamptz)"
            )
            yield cur
        connection.rollback()


def test_binary_copy_round_trips_nulls_texts_and_exact_numerics(cursor):
    values = np.array([0, 1, -1, 123_456_789, -5_000_000, 999_999_999_999_999, 125], np.int64)
    rows = values.size
    columns = [
        pgcopy.int8(np.arange(rows)),
        pgcopy.words(np.array([0, 1, 2, 0, 1, 2, 0]), ["x", "héllo", ""]),
        pgcopy.numeric(values, 6, nulls=np.arange(rows) == 6),
        pgcopy.numeric(values, 12),
        pgcopy.int4(np.full(rows, 7)),
        pgcopy.int2(3),
        pgcopy.boolean(np.arange(rows) % 2 == 0),
        pgcopy.timestamptz(np.full(rows, 1_767_225_600_000_000)),
    ]
    names = ["n", "label", "amount", "fine", "small", "tiny", "flag", "moment"]
    pgcopy.write(cursor, "copied", names, columns, rows)
    got = cursor.execute(
        "SELECT n, label, amount, fine, small, tiny, flag, moment::text FROM copied ORDER BY n"
    ).fetchall()
    assert [row[2] for row in got] == [
        Decimal("0"),
        Decimal("0.000001"),
        Decimal("-0.000001"),
        Decimal("123.456789"),
        Decimal("-5"),
        Decimal("999999999.999999"),
        None,
    ]
    assert got[3][3] == Decimal("0.000123456789")
    assert [row[1] for row in got] == ["x", "héllo", "", "x", "héllo", "", "x"]
    assert got[0][4:] == (7, 3, True, "2026-01-01 00:00:00+00")


def test_numerics_beyond_int64_stay_exact(cursor):
    huge = np.array([10**20 + 1, -(10**19) - 7], dtype=object)
    pgcopy.write(
        cursor, "copied", ["n", "fine"], [pgcopy.int8(np.arange(2)), pgcopy.numeric(huge, 12)], 2
    )
    got = cursor.execute("SELECT fine FROM copied ORDER BY n").fetchall()
    assert [row[0] for row in got] == [
        Decimal("100000000.000000000001"),
        Decimal("-10000000.000000000007"),
    ]


def test_rows_of_varying_width_are_encoded_in_place(database_url):
    values = np.array([0, 1, 5, 12_345, 99_999_999_999_999, -250], dtype=np.int64)
    n = len(values)
    columns = [
        pgcopy.int8(np.arange(n)),
        pgcopy.numeric(values, 2),
        pgcopy.numeric(values, 6),
        pgcopy.timestamptz(np.full(n, 946_684_800_000_000)),
        pgcopy.text(
            pgcopy.word(np.arange(n) % 2, pgcopy.Vocabulary.of(["ä", "bc"])),
            pgcopy.const("-"),
            pgcopy.number(np.abs(values) % 1000),
            nulls=values == 1,
        ),
        pgcopy.int4(values % 7, nulls=values == 5),
        pgcopy.int8(0, nulls=np.ones(n, dtype=bool)),
        pgcopy.text(pgcopy.const(pgcopy.jsonb(b'{"a": [1]}'))),
        pgcopy.text(
            pgcopy.word(
                np.arange(n) % 3,
                pgcopy.Vocabulary.of(
                    [
                        pgcopy.text_array([]),
                        pgcopy.text_array(["x"]),
                        pgcopy.text_array(["vip", "ß"]),
                    ]
                ),
            )
        ),
    ]
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "CREATE TEMP TABLE t (id bigint, a numeric(16,2), b numeric(20,6), ts timestamptz,"
            " s text, i int, nothing bigint, doc jsonb, tags text[])"
        )
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.HEADER + pgcopy.encode_rows(columns, n) + pgcopy.TRAILER)
        rows = conn.execute(
            "SELECT a, b, ts, s, i, nothing, doc, tags FROM t ORDER BY id"
        ).fetchall()
    assert [r[0] for r in rows] == [Decimal(v) / 100 for v in values.tolist()]
    assert [r[1] for r in rows] == [Decimal(v) / 1_000_000 for v in values.tolist()]
    assert rows[0][2] == datetime(2000, 1, 1, tzinfo=UTC)
    assert [r[3] for r in rows] == ["ä-0", None, "ä-5", "bc-345", "ä-999", "bc-250"]
    assert [r[4] for r in rows] == [0, 1, None, 4, 99_999_999_999_999 % 7, -250 % 7]
    assert {r[5] for r in rows} == {None} and {str(r[6]) for r in rows} == {"{'a': [1]}"}
    assert [r[7] for r in rows] == [[], ["x"], ["vip", "ß"]] * 2


def test_read_int64_returns_the_columns_as_one_array(cursor):
    cursor.execute(
        "INSERT INTO copied (n, moment) SELECT g, '2000-01-01Z' FROM generate_series(1, 5) g"
    )
    got = pgcopy.read_int64(
        cursor, "SELECT n, n * -2, moment FROM copied WHERE n > %s ORDER BY n", (2,), 3
    )
    assert got.tolist() == [[3, -6, 0], [4, -8, 0], [5, -10, 0]]
    empty = pgcopy.read_int64(cursor, "SELECT n FROM copied WHERE n > 99", None, 1)
    assert empty.shape == (0, 1)
    with pytest.raises(ValueError, match="NULLs"):
        pgcopy.read_int64(cursor, "SELECT small::bigint FROM copied", None, 1)


def test_bigint_arrays_round_trip_including_empty_ones(database_url):
    with psycopg.connect(libpq_url(database_url)) as connection, connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE arrays (n bigint, a bigint[], b bigint[])")
        matrix = np.array([[1, -2, 2**62], [0, 0, 0], [-(2**63), 7, 9]], dtype=np.int64)
        columns = [
            pgcopy.int8(np.arange(3)),
            pgcopy.int8_array(matrix),
            pgcopy.int8_array(np.zeros((3, 0), dtype=np.int64)),
        ]
        pgcopy.write(cur, "arrays", ["n", "a", "b"], columns, 3)
        got = cur.execute("SELECT a, b FROM arrays ORDER BY n").fetchall()
        connection.rollback()
    assert got == [([1, -2, 2**62], []), ([0, 0, 0], []), ([-(2**63), 7, 9], [])]
