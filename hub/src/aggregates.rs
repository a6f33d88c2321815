//! Per-compound aggregates of the merged records, so the daily table is read
//! from a few thousand small rows instead of every person the street holds.
//!
//! **Architecture Invariant:** each `agg_*` table equals a `GROUP BY` of the
//! live (not deleted) rows of its record table. SQLite triggers keep it so in
//! the same transaction as every insert, update or delete of a record row,
//! whoever makes it (a push, a bundle, a repair), so the aggregates can never
//! drift from the records they summarise. The groups keep the raw column
//! values; what a value means for the table (key region, "today", isolation
//! period) is decided at read time by [`TableBuilder`], under the
//! configuration of the moment, exactly as for a single record.

use lianfang_proto::pb;
use lianfang_proto::table::{DailyCounts, IsolationFacts, PersonFacts, TableBuilder};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior};

use crate::store::{Result, text};

/// Version of the aggregate tables' shape; a database whose `setting` lacks
/// this version has them rebuilt from the record tables when opened for
/// writing.
const VERSION: &str = "1";

/// The aggregate tables and the triggers that maintain them.
const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS agg_household (
    compound TEXT    NOT NULL,
    housing  INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (compound, housing)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_person (
    compound    TEXT    NOT NULL,
    nationality TEXT    NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (compound, nationality)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_return (
    compound    TEXT    NOT NULL,
    region      TEXT    NOT NULL,
    return_date TEXT    NOT NULL,
    registered  INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (compound, region, return_date, registered)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_isolation (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    start    TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (compound, kind, start, release)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS household_agg_insert AFTER INSERT ON household
WHEN NEW.deleted = 0 BEGIN
    INSERT INTO agg_household (compound, housing, n) VALUES (NEW.compound, NEW.housing, 1)
    ON CONFLICT (compound, housing) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS household_agg_update AFTER UPDATE ON household
WHEN OLD.deleted <> NEW.deleted OR OLD.housing <> NEW.housing BEGIN
    UPDATE agg_household SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND housing = OLD.housing;
    INSERT INTO agg_household (compound, housing, n)
    SELECT NEW.compound, NEW.housing, 1 WHERE NEW.deleted = 0
    ON CONFLICT (compound, housing) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS household_agg_delete AFTER DELETE ON household
WHEN OLD.deleted = 0 BEGIN
    UPDATE agg_household SET n = n - 1 WHERE compound = OLD.compound AND housing = OLD.housing;
END;

CREATE TRIGGER IF NOT EXISTS person_agg_insert AFTER INSERT ON person
WHEN NEW.deleted = 0 BEGIN
    INSERT INTO agg_person (compound, nationality, n) VALUES (NEW.compound, NEW.nationality, 1)
    ON CONFLICT (compound, nationality) DO UPDATE SET n = n + 1;
    INSERT INTO agg_return (compound, region, return_date, registered, n)
    SELECT NEW.compound, NEW.region, NEW.return_date, NEW.registered, 1
    WHERE NEW.return_date <> ''
    ON CONFLICT (compound, region, return_date, registered) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS person_agg_update AFTER UPDATE ON person
WHEN OLD.deleted <> NEW.deleted OR OLD.nationality <> NEW.nationality
  OR OLD.region <> NEW.region OR OLD.return_date <> NEW.return_date
  OR OLD.registered <> NEW.registered BEGIN
    UPDATE agg_person SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND nationality = OLD.nationality;
    UPDATE agg_return SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND region = OLD.region
      AND return_date = OLD.return_date AND registered = OLD.registered;
    INSERT INTO agg_person (compound, nationality, n)
    SELECT NEW.compound, NEW.nationality, 1 WHERE NEW.deleted = 0
    ON CONFLICT (compound, nationality) DO UPDATE SET n = n + 1;
    INSERT INTO agg_return (compound, region, return_date, registered, n)
    SELECT NEW.compound, NEW.region, NEW.return_date, NEW.registered, 1
    WHERE NEW.deleted = 0 AND NEW.return_date <> ''
    ON CONFLICT (compound, region, return_date, registered) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS person_agg_delete AFTER DELETE ON person
WHEN OLD.deleted = 0 BEGIN
    UPDATE agg_person SET n = n - 1
    WHERE compound = OLD.compound AND nationality = OLD.nationality;
    UPDATE agg_return SET n = n - 1
    WHERE compound = OLD.compound AND region = OLD.region
      AND return_date = OLD.return_date AND registered = OLD.registered;
END;

CREATE TRIGGER IF NOT EXISTS isolation_agg_insert AFTER INSERT ON isolation
WHEN NEW.deleted = 0 BEGIN
    INSERT INTO agg_isolation (compound, kind, start, release, n)
    VALUES (NEW.compound, NEW.kind, NEW.start, NEW.release, 1)
    ON CONFLICT (compound, kind, start, release) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS isolation_agg_update AFTER UPDATE ON isolation
WHEN OLD.deleted <> NEW.deleted OR OLD.kind <> NEW.kind
  OR OLD.start <> NEW.start OR OLD.release <> NEW.release BEGIN
    UPDATE agg_isolation SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND kind = OLD.kind
      AND start = OLD.start AND release = OLD.release;
    INSERT INTO agg_isolation (compound, kind, start, release, n)
    SELECT NEW.compound, NEW.kind, NEW.start, NEW.release, 1 WHERE NEW.deleted = 0
    ON CONFLICT (compound, kind, start, release) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS isolation_agg_delete AFTER DELETE ON isolation
WHEN OLD.deleted = 0 BEGIN
    UPDATE agg_isolation SET n = n - 1
    WHERE compound = OLD.compound AND kind = OLD.kind
      AND start = OLD.start AND release = OLD.release;
END;
";

/// Recomputes every aggregate from the record tables.
const REBUILD_SQL: &str = "
DELETE FROM agg_household;
INSERT INTO agg_household (compound, housing, n)
    SELECT compound, housing, COUNT(*) FROM household WHERE deleted = 0 GROUP BY 1, 2;
DELETE FROM agg_person;
INSERT INTO agg_person (compound, nationality, n)
    SELECT compound, nationality, COUNT(*) FROM person WHERE deleted = 0 GROUP BY 1, 2;
DELETE FROM agg_return;
INSERT INTO agg_return (compound, region, return_date, registered, n)
    SELECT compound, region, return_date, registered, COUNT(*) FROM person
    WHERE deleted = 0 AND return_date <> '' GROUP BY 1, 2, 3, 4;
DELETE FROM agg_isolation;
INSERT INTO agg_isolation (compound, kind, start, release, n)
    SELECT compound, kind, start, release, COUNT(*) FROM isolation
    WHERE deleted = 0 GROUP BY 1, 2, 3, 4;
";

/// Creates the aggregate tables and triggers, and fills them from the
/// record tables when this database has not had them before (a database
/// made by an earlier version). Idempotent.
///
/// # Errors
/// SQLite errors.
pub fn ensure(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(SCHEMA_SQL)?;
    if present(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !present(&tx)? {
        tx.execute_batch(REBUILD_SQL)?;
        tx.execute(
            "INSERT INTO setting (key, value) VALUES ('aggregates', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Whether this database has up-to-date aggregates (a read-only opener of
/// an older database falls back to scanning the records).
///
/// # Errors
/// SQLite errors.
pub fn present(conn: &Connection) -> Result<bool> {
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM setting WHERE key = 'aggregates'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(version.as_deref() == Some(VERSION))
}

/// Adds every compound's aggregates into `rows` (indexed by `slot`), under
/// `builder`'s date and configuration.
///
/// # Errors
/// SQLite errors.
pub fn add_counts(
    conn: &Connection,
    builder: &TableBuilder<'_>,
    rows: &mut [DailyCounts],
    slot: impl Fn(&str) -> Option<usize>,
) -> Result<()> {
    let count = |row: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<u64> {
        Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
    };
    let mut stmt = conn.prepare_cached("SELECT compound, housing, n FROM agg_household")?;
    let mut q = stmt.query([])?;
    while let Some(row) = q.next()? {
        if let Some(i) = slot(text(row, 0)?) {
            let housing =
                pb::Housing::try_from(row.get::<_, i32>(1)?).unwrap_or(pb::Housing::Unspecified);
            builder.add_households(&mut rows[i], housing, count(row, 2)?);
        }
    }
    let mut stmt = conn.prepare_cached("SELECT compound, nationality, n FROM agg_person")?;
    let mut q = stmt.query([])?;
    while let Some(row) = q.next()? {
        if let Some(i) = slot(text(row, 0)?) {
            builder.add_residents(&mut rows[i], text(row, 1)?, count(row, 2)?);
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT compound, region, return_date, registered, n FROM agg_return WHERE n > 0",
    )?;
    let mut q = stmt.query([])?;
    while let Some(row) = q.next()? {
        if let Some(i) = slot(text(row, 0)?) {
            builder.add_returnees(
                &mut rows[i],
                PersonFacts {
                    nationality: "",
                    origin: text(row, 1)?,
                    return_date: text(row, 2)?,
                    registered: row.get::<_, i64>(3)? != 0,
                },
                count(row, 4)?,
            );
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT compound, kind, start, release, n FROM agg_isolation WHERE n > 0",
    )?;
    let mut q = stmt.query([])?;
    while let Some(row) = q.next()? {
        let facts = IsolationFacts::from_stored(row.get(1)?, text(row, 2)?, text(row, 3)?);
        if let (Some(i), Some(facts)) = (slot(text(row, 0)?), facts) {
            builder.add_isolations(&mut rows[i], facts, count(row, 4)?);
        }
    }
    Ok(())
}
