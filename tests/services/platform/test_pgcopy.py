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
        pgcopy.Column("int8", np.arange(rows)),
        pgcopy.Column("text", np.array([0, 1, 2, 0, 1, 2, 0]), texts=["x", "héllo", ""]),
        pgcopy.Column("numeric", values, scale=6, null=np.arange(rows) == 6),
        pgcopy.Column("numeric", values, scale=12),
        pgcopy.Column("int4", np.full(rows, 7)),
        pgcopy.Column("int2", 3),
        pgcopy.Column("bool", np.arange(rows) % 2 == 0),
        pgcopy.Column("timestamptz", np.full(rows, 1_767_225_600_000_000)),
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
