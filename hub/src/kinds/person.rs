//! Persons: projected for the table's person, foreigner and returnee
//! columns (`agg_person`, `agg_return`; `region` is the person's origin).

use crate::db::ToSql;
use lianfang_proto::pb;

use super::Projected;

impl Projected for pb::Person {
    const TABLE: &'static str = "person";
    const SCHEMA_SQL: &'static str = "
CREATE TABLE IF NOT EXISTS person (
    compound    TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    stamp       INTEGER NOT NULL,
    origin      TEXT    NOT NULL,
    deleted     INTEGER NOT NULL,
    nationality TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    return_date TEXT    NOT NULL,
    registered  INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    PRIMARY KEY (compound, id)
) STRICT, WITHOUT ROWID;";
    const UPSERT_SQL: &'static str = "
INSERT INTO person (compound, id, stamp, origin, deleted, nationality, region, return_date, registered, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (compound, id) DO UPDATE SET
    stamp = excluded.stamp, origin = excluded.origin, deleted = excluded.deleted,
    nationality = excluded.nationality, region = excluded.region,
    return_date = excluded.return_date, registered = excluded.registered, body = excluded.body
WHERE (excluded.stamp, excluded.origin) >= (person.stamp, person.origin)";

    fn columns<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>) {
        values.extend([
            &self.nationality as &dyn ToSql,
            &self.origin,
            &self.return_date,
            &self.registered,
        ]);
    }
}
