//! Per-compound aggregates of the merged records, so the daily table is read
//! from a few thousand small rows instead of every person the street holds.
//!
//! **Architecture Invariant:** each `agg_*` table equals a `GROUP BY` of the
//! live (not deleted) rows of its record table (`agg_day`: of the kinds
//! the log counts by their days). For the registers (households, persons,
//! isolations), SQLite triggers keep it so in the same transaction as every
//! insert, update or delete of a record row, whoever makes it (a push, a
//! bundle, a repair, damage). `agg_day` is kept by the one write path of
//! records instead, as the digests are ([`crate::kinds::Upserts`] collects
//! [`DayGroups`], [`add_days`] folds them in the same transaction): a
//! trigger on `day_record` made SQLite open a statement journal for every
//! one of the million records of the day it stores. A row changed outside
//! that path (damage) is caught by the digests' scrub, which rebuilds the
//! compound's `agg_day` with its digests ([`rebuild_days`]).
//!
//! The groups keep the raw column values, except a returnee's origin: it is
//! classified when the row is written, against the `key_region` table (the
//! configured key-region names), and `agg_return` groups by that flag, so
//! the table's cost does not grow with how varied the origins are. The SQL
//! rule ([`key_sql`]) is [`TableConfig::is_key_region`] (trim Unicode white
//! space, then a byte prefix); `key_region` is rewritten and `agg_return`
//! rebuilt in the transaction that changes the configuration
//! ([`classify`]), and the reader checks that the two agree before using
//! the flag. "Today", the isolation period and everything else are decided
//! at read time by [`TableBuilder`], exactly as for a single record.

use lianfang_proto::kinds::LogBy;
use lianfang_proto::{Kind, pb};
use std::collections::BTreeSet;

use crate::db::{Connection, Dialect, OptionalExtension as _, TransactionBehavior};
use lianfang_proto::table::{DailyCounts, IsolationFacts, PersonFacts, TableBuilder, TableConfig};

use crate::store::{Result, text};

/// Version of the aggregate tables' shape; a database whose `setting` lacks
/// this version has them dropped and rebuilt from the record tables when
/// opened for writing. 1: returnees grouped by raw origin; 2: by the key
/// flag; 3: `agg_day`; 4: `agg_day` of the kinds counted by their days
/// only; 5: `agg_day` kept by the write path ([`DayGroups`]), not triggers.
const VERSION: &str = "5";

/// The characters `str::trim` removes (Unicode `White_Space`), as SQL
/// `char()` arguments; a test holds this to `char::is_whitespace`.
const WHITE_SPACE: &str = "9,10,11,12,13,32,133,160,5760,8192,8193,8194,8195,8196,8197,8198,\
8199,8200,8201,8202,8232,8233,8239,8287,12288";

/// SQL for "`origin` is in a key region" (1 or 0) against the `key_region`
/// table: [`TableConfig::is_key_region`] in SQL. Trimming removes the
/// characters of [`WHITE_SPACE`] from both ends, like `str::trim`; the
/// prefix is compared as bytes, like `str::starts_with` (SQLite: as BLOBs;
/// PostgreSQL: as the text's UTF-8 bytes).
fn key_sql(dialect: Dialect, origin: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "CASE WHEN EXISTS (SELECT 1 FROM key_region k WHERE k.name <> '' AND \
             substr(CAST(trim({origin}, char({WHITE_SPACE})) AS BLOB), 1, \
             length(CAST(k.name AS BLOB))) = CAST(k.name AS BLOB)) THEN 1 ELSE 0 END"
        ),
        Dialect::Postgres => {
            let chars: Vec<String> = WHITE_SPACE
                .split(',')
                .map(|n| format!("chr({})", n.trim()))
                .collect();
            format!(
                "CASE WHEN EXISTS (SELECT 1 FROM key_region k WHERE k.name <> '' AND \
                 substr(convert_to(btrim({origin}, {}), 'UTF8'), 1, \
                 length(convert_to(k.name, 'UTF8'))) = convert_to(k.name, 'UTF8')) \
                 THEN 1 ELSE 0 END",
                chars.join(" || ")
            )
        }
    }
}

/// Every trigger the aggregates use, by name (dropped before a rebuild of
/// an older shape).
const TRIGGERS: [&str; 12] = [
    "household_agg_insert",
    "household_agg_update",
    "household_agg_delete",
    "person_agg_insert",
    "person_agg_update",
    "person_agg_delete",
    "isolation_agg_insert",
    "isolation_agg_update",
    "isolation_agg_delete",
    "day_record_agg_insert",
    "day_record_agg_update",
    "day_record_agg_delete",
];

/// The aggregate tables.
const TABLES_SQL: &str = "
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
CREATE TABLE IF NOT EXISTS key_region (
    name TEXT NOT NULL PRIMARY KEY
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_return (
    compound    TEXT    NOT NULL,
    key         INTEGER NOT NULL,
    return_date TEXT    NOT NULL,
    registered  INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (compound, key, return_date, registered)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_isolation (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    start    TEXT    NOT NULL,
    release  TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (compound, kind, start, release)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_day (
    compound TEXT    NOT NULL,
    kind     INTEGER NOT NULL,
    day      TEXT    NOT NULL,
    day2     TEXT    NOT NULL,
    day3     TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (compound, kind, day, day2, day3)
) STRICT, WITHOUT ROWID;
";

/// SQLite's triggers that keep the registers' aggregates.
const SQLITE_TRIGGERS_SQL: &str = "
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
    INSERT INTO agg_return (compound, key, return_date, registered, n)
    SELECT NEW.compound, {key_new}, NEW.return_date, NEW.registered, 1
    WHERE NEW.return_date <> ''
    ON CONFLICT (compound, key, return_date, registered) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS person_agg_update AFTER UPDATE ON person
WHEN OLD.deleted <> NEW.deleted OR OLD.nationality <> NEW.nationality
  OR OLD.region <> NEW.region OR OLD.return_date <> NEW.return_date
  OR OLD.registered <> NEW.registered BEGIN
    UPDATE agg_person SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND nationality = OLD.nationality;
    UPDATE agg_return SET n = n - 1
    WHERE OLD.deleted = 0 AND compound = OLD.compound AND key = {key_old}
      AND return_date = OLD.return_date AND registered = OLD.registered;
    INSERT INTO agg_person (compound, nationality, n)
    SELECT NEW.compound, NEW.nationality, 1 WHERE NEW.deleted = 0
    ON CONFLICT (compound, nationality) DO UPDATE SET n = n + 1;
    INSERT INTO agg_return (compound, key, return_date, registered, n)
    SELECT NEW.compound, {key_new}, NEW.return_date, NEW.registered, 1
    WHERE NEW.deleted = 0 AND NEW.return_date <> ''
    ON CONFLICT (compound, key, return_date, registered) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS person_agg_delete AFTER DELETE ON person
WHEN OLD.deleted = 0 BEGIN
    UPDATE agg_person SET n = n - 1
    WHERE compound = OLD.compound AND nationality = OLD.nationality;
    UPDATE agg_return SET n = n - 1
    WHERE compound = OLD.compound AND key = {key_old}
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

/// PostgreSQL's triggers that keep the registers' aggregates: the same
/// rules as [`SQLITE_TRIGGERS_SQL`], one function per table.
const POSTGRES_TRIGGERS_SQL: &str = "
CREATE OR REPLACE FUNCTION household_agg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted = NEW.deleted AND OLD.housing = NEW.housing THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.deleted = 0 THEN
        UPDATE agg_household SET n = n - 1
        WHERE compound = OLD.compound AND housing = OLD.housing;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted = 0 THEN
        INSERT INTO agg_household (compound, housing, n) VALUES (NEW.compound, NEW.housing, 1)
        ON CONFLICT (compound, housing) DO UPDATE SET n = agg_household.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER household_agg AFTER INSERT OR UPDATE OR DELETE ON household
FOR EACH ROW EXECUTE FUNCTION household_agg();

CREATE OR REPLACE FUNCTION person_agg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted = NEW.deleted AND OLD.nationality = NEW.nationality
       AND OLD.region = NEW.region AND OLD.return_date = NEW.return_date
       AND OLD.registered = NEW.registered THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.deleted = 0 THEN
        UPDATE agg_person SET n = n - 1
        WHERE compound = OLD.compound AND nationality = OLD.nationality;
        UPDATE agg_return SET n = n - 1
        WHERE compound = OLD.compound AND key = {key_old}
          AND return_date = OLD.return_date AND registered = OLD.registered;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted = 0 THEN
        INSERT INTO agg_person (compound, nationality, n) VALUES (NEW.compound, NEW.nationality, 1)
        ON CONFLICT (compound, nationality) DO UPDATE SET n = agg_person.n + 1;
        IF NEW.return_date <> '' THEN
            INSERT INTO agg_return (compound, key, return_date, registered, n)
            VALUES (NEW.compound, {key_new}, NEW.return_date, NEW.registered, 1)
            ON CONFLICT (compound, key, return_date, registered)
            DO UPDATE SET n = agg_return.n + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER person_agg AFTER INSERT OR UPDATE OR DELETE ON person
FOR EACH ROW EXECUTE FUNCTION person_agg();

CREATE OR REPLACE FUNCTION isolation_agg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.deleted = NEW.deleted AND OLD.kind = NEW.kind
       AND OLD.start = NEW.start AND OLD.release = NEW.release THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.deleted = 0 THEN
        UPDATE agg_isolation SET n = n - 1
        WHERE compound = OLD.compound AND kind = OLD.kind
          AND start = OLD.start AND release = OLD.release;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted = 0 THEN
        INSERT INTO agg_isolation (compound, kind, start, release, n)
        VALUES (NEW.compound, NEW.kind, NEW.start, NEW.release, 1)
        ON CONFLICT (compound, kind, start, release) DO UPDATE SET n = agg_isolation.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER isolation_agg AFTER INSERT OR UPDATE OR DELETE ON isolation
FOR EACH ROW EXECUTE FUNCTION isolation_agg();
";

/// The aggregate tables and, with the key rule filled in, the triggers
/// that keep the registers' ones.
fn schema_sql(dialect: Dialect) -> String {
    let triggers = match dialect {
        Dialect::Sqlite => SQLITE_TRIGGERS_SQL,
        Dialect::Postgres => POSTGRES_TRIGGERS_SQL,
    };
    format!("{TABLES_SQL}{triggers}")
        .replace("{key_new}", &key_sql(dialect, "NEW.region"))
        .replace("{key_old}", &key_sql(dialect, "OLD.region"))
}

/// SQL for "`kind` is one `agg_day` groups" ([`DayGroups::groups`]): the
/// kinds of the day the log counts by their days alone ([`LogBy::Days`]);
/// the log reads the others' records, so grouping them would cost every
/// write for nothing.
fn by_days(kind: &str) -> String {
    let kinds: Vec<String> = Kind::ALL
        .into_iter()
        .filter(|k| DayGroups::groups(*k))
        .map(|k| format!("{kind} = {}", k as i64))
        .collect();
    format!("({})", kinds.join(" OR "))
}

/// [`REBUILD_SQL`] for this registry.
fn rebuild_sql() -> String {
    REBUILD_SQL.replace("{by_days}", &by_days("kind"))
}

/// Recomputes every aggregate but `agg_return` from the record tables.
const REBUILD_SQL: &str = "
DELETE FROM agg_household;
INSERT INTO agg_household (compound, housing, n)
    SELECT compound, housing, COUNT(*) FROM household WHERE deleted = 0 GROUP BY 1, 2;
DELETE FROM agg_person;
INSERT INTO agg_person (compound, nationality, n)
    SELECT compound, nationality, COUNT(*) FROM person WHERE deleted = 0 GROUP BY 1, 2;
DELETE FROM agg_isolation;
INSERT INTO agg_isolation (compound, kind, start, release, n)
    SELECT compound, kind, start, release, COUNT(*) FROM isolation
    WHERE deleted = 0 GROUP BY 1, 2, 3, 4;
DELETE FROM agg_day;
INSERT INTO agg_day (compound, kind, day, day2, day3, n)
    SELECT compound, kind, day, day2, day3, COUNT(*) FROM day_record
    WHERE deleted = 0 AND {by_days} GROUP BY 1, 2, 3, 4, 5;
";

/// Recomputes `agg_return` from the person rows under the current
/// `key_region` table.
fn rebuild_returns(conn: &Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "DELETE FROM agg_return;
         INSERT INTO agg_return (compound, key, return_date, registered, n)
             SELECT compound, {}, return_date, registered, COUNT(*) FROM person
             WHERE deleted = 0 AND return_date <> '' GROUP BY 1, 2, 3, 4;",
        key_sql(conn.dialect(), "region")
    ))?;
    Ok(())
}

/// The key-region names of `config` as `key_region` holds them (an empty
/// name never matches, so it is left out).
fn names(config: &TableConfig) -> BTreeSet<&str> {
    config
        .key_regions
        .iter()
        .map(String::as_str)
        .filter(|name| !name.is_empty())
        .collect()
}

/// The names `key_region` holds.
fn stored_names(conn: &Connection) -> Result<BTreeSet<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM key_region")?;
    let names = stmt
        .query_map((), |row| row.get(0))?
        .collect::<crate::db::Result<_>>()?;
    Ok(names)
}

/// Whether `agg_return`'s key flag was computed under `config`'s key
/// regions.
fn classified_under(conn: &Connection, config: &TableConfig) -> Result<bool> {
    let stored = stored_names(conn)?;
    Ok(stored.iter().map(String::as_str).eq(names(config)))
}

/// Makes `key_region` hold `config`'s key regions, and rebuilds
/// `agg_return` when that changed them. Call it inside the transaction
/// that stores the configuration, so the flag never disagrees with it.
///
/// # Errors
/// SQLite errors.
pub fn classify(conn: &Connection, config: &TableConfig) -> Result<()> {
    if classified_under(conn, config)? {
        return Ok(());
    }
    conn.execute("DELETE FROM key_region", ())?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO key_region (name) VALUES (?1) ON CONFLICT (name) DO NOTHING",
    )?;
    for name in names(config) {
        insert.execute([name])?;
    }
    rebuild_returns(conn)
}

/// The hub's stored table configuration (hub setting `table_config`, else
/// defaults).
pub(crate) fn stored_config(conn: &Connection) -> Result<TableConfig> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM setting WHERE key = 'table_config'",
            (),
            |row| row.get(0),
        )
        .optional()?;
    Ok(stored
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default())
}

/// Creates the aggregate tables and triggers, and fills them from the
/// record tables when this database has not had them in this shape before
/// (a database made by an earlier version: its aggregate tables and
/// triggers are dropped first). Makes `key_region` match the stored
/// configuration. Idempotent.
///
/// # Errors
/// SQLite errors.
pub fn ensure(conn: &mut Connection) -> Result<()> {
    if present(conn)? {
        conn.execute_batch(&schema_sql(conn.dialect()))?;
        let config = stored_config(conn)?;
        if !classified_under(conn, &config)? {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            classify(&tx, &stored_config(&tx)?)?;
            tx.commit()?;
        }
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !present(&tx)? {
        if tx.dialect() == Dialect::Sqlite {
            // (On PostgreSQL, a table's triggers go with it.)
            for trigger in TRIGGERS {
                tx.execute_batch(&format!("DROP TRIGGER IF EXISTS {trigger};"))?;
            }
        }
        tx.execute_batch(
            "DROP TABLE IF EXISTS agg_household; DROP TABLE IF EXISTS agg_person;
             DROP TABLE IF EXISTS agg_return; DROP TABLE IF EXISTS agg_isolation;
             DROP TABLE IF EXISTS key_region; DROP TABLE IF EXISTS agg_day;",
        )?;
        tx.execute_batch(&schema_sql(tx.dialect()))?;
        tx.execute_batch(&rebuild_sql())?;
        classify(&tx, &stored_config(&tx)?)?;
        tx.execute(
            "INSERT INTO setting (key, value) VALUES ('aggregates', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// What the versions written did to `agg_day`: a count change per group
/// (compound, kind, and the record's days), for [`add_days`].
#[derive(Debug, Default)]
pub(crate) struct DayGroups {
    changes: std::collections::BTreeMap<(String, i64, [String; 3]), i64>,
}

impl DayGroups {
    /// Whether `kind` is grouped in `agg_day` (counted by its days).
    pub(crate) fn groups(kind: Kind) -> bool {
        kind.spec().log == Some(LogBy::Days)
    }

    /// A live record of `kind` with `days` came (`+1`) or went (`-1`).
    pub(crate) fn change(&mut self, compound: &str, kind: Kind, days: [&str; 3], by: i64) {
        let key = (compound.to_owned(), kind as i64, days.map(str::to_owned));
        *self.changes.entry(key).or_default() += by;
    }
}

/// Folds `groups` into `agg_day`, in the caller's transaction.
///
/// # Errors
/// SQLite errors.
pub(crate) fn add_days(tx: &Connection, groups: &DayGroups) -> Result<()> {
    let mut add = tx.prepare_cached(
        "INSERT INTO agg_day (compound, kind, day, day2, day3, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (compound, kind, day, day2, day3) DO UPDATE SET n = agg_day.n + excluded.n",
    )?;
    for ((compound, kind, [day, day2, day3]), by) in &groups.changes {
        if *by != 0 {
            add.execute(crate::params![compound, kind, day, day2, day3, by])?;
        }
    }
    Ok(())
}

/// Recomputes `agg_day` of `compound` from its records, in the caller's
/// transaction (the scrub found rows changed outside the write path).
///
/// # Errors
/// SQLite errors.
pub(crate) fn rebuild_days(tx: &Connection, compound: &str) -> Result<()> {
    if !present(tx)? {
        return Ok(());
    }
    tx.execute("DELETE FROM agg_day WHERE compound = ?1", [compound])?;
    tx.execute(
        &format!(
            "INSERT INTO agg_day (compound, kind, day, day2, day3, n)
             SELECT compound, kind, day, day2, day3, COUNT(*) FROM day_record
             WHERE compound = ?1 AND deleted = 0 AND {} GROUP BY 1, 2, 3, 4, 5",
            by_days("kind")
        ),
        [compound],
    )?;
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
            (),
            |row| row.get(0),
        )
        .optional()?;
    Ok(version.as_deref() == Some(VERSION))
}

/// Adds every compound's aggregates into `rows` (indexed by `slot`), under
/// `builder`'s date and configuration. When `builder`'s key regions are not
/// the ones `agg_return` was classified under (a caller counting under a
/// configuration the hub does not hold), the return columns are counted by
/// scanning the person rows instead.
///
/// # Errors
/// SQLite errors.
pub fn add_counts(
    conn: &Connection,
    builder: &TableBuilder<'_>,
    rows: &mut [DailyCounts],
    slot: impl Fn(&str) -> Option<usize>,
) -> Result<()> {
    let count = |row: crate::db::Row<'_>, i: usize| -> crate::db::Result<u64> {
        Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
    };
    let mut stmt = conn.prepare_cached("SELECT compound, housing, n FROM agg_household")?;
    let mut q = stmt.query(())?;
    while let Some(row) = q.next()? {
        if let Some(i) = slot(text(row, 0)?) {
            let housing =
                pb::Housing::try_from(row.get::<_, i32>(1)?).unwrap_or(pb::Housing::Unspecified);
            builder.add_households(&mut rows[i], housing, count(row, 2)?);
        }
    }
    let mut stmt = conn.prepare_cached("SELECT compound, nationality, n FROM agg_person")?;
    let mut q = stmt.query(())?;
    while let Some(row) = q.next()? {
        if let Some(i) = slot(text(row, 0)?) {
            builder.add_residents(&mut rows[i], text(row, 1)?, count(row, 2)?);
        }
    }
    if classified_under(conn, builder.config())? {
        let mut stmt = conn.prepare_cached(
            "SELECT compound, key, return_date, registered, n FROM agg_return WHERE n > 0",
        )?;
        let mut q = stmt.query(())?;
        while let Some(row) = q.next()? {
            if let Some(i) = slot(text(row, 0)?) {
                builder.add_returns(
                    &mut rows[i],
                    row.get::<_, i64>(1)? != 0,
                    text(row, 2)?,
                    row.get::<_, i64>(3)? != 0,
                    count(row, 4)?,
                );
            }
        }
    } else {
        let mut stmt = conn.prepare_cached(
            "SELECT compound, region, return_date, registered FROM person
             WHERE deleted = 0 AND return_date <> ''",
        )?;
        let mut q = stmt.query(())?;
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
                    1,
                );
            }
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT compound, kind, start, release, n FROM agg_isolation WHERE n > 0",
    )?;
    let mut q = stmt.query(())?;
    while let Some(row) = q.next()? {
        let facts = IsolationFacts::from_stored(row.get(1)?, text(row, 2)?, text(row, 3)?);
        if let (Some(i), Some(facts)) = (slot(text(row, 0)?), facts) {
            builder.add_isolations(&mut rows[i], facts, count(row, 4)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_what_str_trim_removes() {
        let listed: BTreeSet<u32> = WHITE_SPACE
            .split(',')
            .map(|n| n.trim().parse().unwrap())
            .collect();
        let rust: BTreeSet<u32> = (0..=0x10_FFFF_u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .map(u32::from)
            .collect();
        assert_eq!(listed, rust);
    }

    /// The SQL rule gives `TableConfig::is_key_region`'s answer on tricky
    /// origins and names.
    #[test]
    fn sql_key_rule_is_the_rust_rule() {
        let conn = crate::db::testing::db();
        conn.execute_batch("CREATE TABLE key_region (name TEXT NOT NULL PRIMARY KEY) STRICT;")
            .unwrap();
        let configs: [&[&str]; 5] = [
            &["湖北"],
            &["湖北", "浙江"],
            &["湖北省武汉", "", " 浙江"],
            &["a", "ab", "%", "_"],
            &["湖"],
        ];
        let mut origins: Vec<String> = [
            "",
            " ",
            "湖北",
            "湖北省",
            "湖北省武汉市",
            "湖北省孝感市孝南区",
            " 湖北省 ",
            "\u{3000}湖北省",
            "\u{a0}湖北",
            "\u{200b}湖北",
            "\u{feff}湖北",
            "\t\n湖北\r",
            "北湖",
            "武汉",
            "浙江省杭州市",
            " 浙江",
            "  浙江",
            "湖南省",
            "湖",
            "%",
            "_x",
            "A",
            "a",
            "ab",
            "abc",
            "ba",
            "\u{85}a",
            "\u{1680}a\u{2029}",
            "\u{202f}湖北",
            "湖\u{0}北",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // A name cut in the middle of a character never matches as bytes.
        origins.push("湖".to_owned() + "\u{5317}");
        let query = format!("SELECT {}", key_sql(conn.dialect(), "?1"));
        for names in configs {
            let config = TableConfig {
                key_regions: names.iter().map(|s| (*s).to_owned()).collect(),
                isolation_days: 14,
            };
            conn.execute("DELETE FROM key_region", ()).unwrap();
            for name in super::names(&config) {
                conn.execute(
                    "INSERT INTO key_region VALUES (?1) ON CONFLICT DO NOTHING",
                    [name],
                )
                .unwrap();
            }
            for origin in &origins {
                if conn.dialect() == Dialect::Postgres && origin.contains('\0') {
                    // PostgreSQL's text cannot hold U+0000 at all (and
                    // `validate::check_record` refuses it in every field).
                    continue;
                }
                let sql: bool = conn.query_row(&query, [origin], |r| r.get(0)).unwrap();
                assert_eq!(
                    sql,
                    config.is_key_region(origin),
                    "{origin:?} under {names:?}"
                );
            }
        }
    }
}
