//! Isolations: projected for the table's isolation and release columns
//! (`agg_isolation`).

use crate::db::ToSql;
use lianfang_proto::pb;

use super::Projected;

impl Projected for pb::Isolation {
    const TABLE: &'static str = "isolation";
    const SCHEMA_SQL: &'static str = "
CREATE TABLE IF NOT EXISTS isolation (
    compound TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    start    TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    body     BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;";
    const UPSERT_SQL: &'static str = "
INSERT INTO isolation (compound, id, stamp, origin, deleted, kind, start, release, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    kind = excluded.kind, start = excluded.start, release = excluded.release, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (isolation.stamp, isolation.origin)";

    // The log counts home isolations begun by the date and not ended before
    // it: released after it, or (without a release) begun less than an
    // isolation period before it (`TableConfig::isolation_end`). An unreadable
    // release falls to the second test, as the fold does.
    const LOG_ROWS_SQL: &'static str = "kind = 1 AND start <= ?1 AND (release > ?1 OR start > ?2)";

    fn columns<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>) {
        values.extend([&self.kind as &dyn ToSql, &self.start, &self.release]);
    }
}
