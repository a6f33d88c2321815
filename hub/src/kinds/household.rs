//! Households: projected for the table's household and housing columns
//! (`agg_household`).

use crate::db::ToSql;
use lianfang_proto::pb;

use super::Projected;

impl Projected for pb::Household {
    const TABLE: &'static str = "household";
    const SCHEMA_SQL: &'static str = "
CREATE TABLE IF NOT EXISTS household (
    compound TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    stamp    INTEGER NOT NULL,
    origin   TEXT    NOT NULL,
    deleted  INTEGER NOT NULL,
    housing  INTEGER NOT NULL,
    body     BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;";
    const UPSERT_SQL: &'static str = "
INSERT INTO household (compound, id, stamp, origin, deleted, housing, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    housing = excluded.housing, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (household.stamp, household.origin)";

    fn columns<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>) {
        values.extend([&self.housing as &dyn ToSql]);
    }
}
