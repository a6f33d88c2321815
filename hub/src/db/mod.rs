//! The hub's one connection to its database: SQLite (`DIR/hub.db`, the
//! default) or PostgreSQL (`--store postgresql://...`), behind one small API
//! shaped like rusqlite's, so every query of the hub is written once.
//!
//! The SQL the hub writes is the part of SQL both engines speak the same
//! way (`INSERT … ON CONFLICT … DO UPDATE … WHERE`, row values, `COALESCE`,
//! `COUNT(*) FILTER`, …), with rusqlite's `?N` parameters; [`pg`] turns
//! them into PostgreSQL's `$N` and a schema's SQLite column types into
//! PostgreSQL's. Where the two engines differ (the registers' aggregate
//! triggers, the key-region rule's byte prefix, the catalogue), the caller
//! asks [`Db::dialect`] and says each spelling in one place.
//!
//! **Architecture Invariant:** a write transaction ([`Behavior::Immediate`])
//! excludes every other writer of the same store until it ends, on both
//! engines (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL, a transaction-scoped
//! advisory lock taken first), so a batch, its cursor and what is folded
//! beside them are decided as one, exactly as on SQLite. Read transactions
//! ([`Behavior::Deferred`]) see one snapshot (PostgreSQL: `REPEATABLE READ`).

pub(crate) mod pg;

use std::cell::RefCell;
use std::collections::VecDeque;

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("the query returned no rows")]
    NoRows,
    #[error("column {column}: {reason}")]
    Conversion { column: usize, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// rusqlite's `OptionalExtension`, over [`Error::NoRows`].
pub trait OptionalExtension<T> {
    /// `Ok(None)` where the query returned no rows.
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoRows) | Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// One value, borrowed: a parameter, or a column of a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> ValueRef<'a> {
    /// The text, or an error naming what it is instead.
    pub fn as_str(&self) -> Result<&'a str> {
        match *self {
            ValueRef::Text(s) => Ok(s),
            other => Err(conversion(0, &other, "text")),
        }
    }

    /// The bytes of a blob (or of a text).
    pub fn as_blob(&self) -> Result<&'a [u8]> {
        match *self {
            ValueRef::Blob(b) => Ok(b),
            ValueRef::Text(s) => Ok(s.as_bytes()),
            other => Err(conversion(0, &other, "blob")),
        }
    }

    /// The bytes of a text or a blob.
    pub fn as_bytes(&self) -> Result<&'a [u8]> {
        self.as_blob()
    }

    fn from_sqlite(value: rusqlite::types::ValueRef<'a>, column: usize) -> Result<Self> {
        use rusqlite::types::ValueRef as V;
        Ok(match value {
            V::Null => ValueRef::Null,
            V::Integer(i) => ValueRef::Integer(i),
            V::Real(r) => ValueRef::Real(r),
            V::Text(t) => {
                ValueRef::Text(std::str::from_utf8(t).map_err(|e| Error::Conversion {
                    column,
                    reason: e.to_string(),
                })?)
            }
            V::Blob(b) => ValueRef::Blob(b),
        })
    }
}

/// One value, owned (a PostgreSQL row's columns, a parameter sent to the
/// PostgreSQL connection's thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(t.to_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

fn conversion(column: usize, value: &ValueRef<'_>, wanted: &str) -> Error {
    let found = match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "a text",
        ValueRef::Blob(_) => "a blob",
    };
    Error::Conversion {
        column,
        reason: format!("expected {wanted}, found {found}"),
    }
}

/// A value that can be bound as a parameter.
pub trait ToSql {
    fn to_value(&self) -> ValueRef<'_>;
}

macro_rules! to_sql_int {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> ValueRef<'_> {
                ValueRef::Integer(*self as i64)
            }
        }
    )*};
}
to_sql_int!(i64, i32, i16, i8, u32, u16, u8, usize, u64);

impl ToSql for bool {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

impl ToSql for str {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl<const N: usize> ToSql for [u8; N] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Value {
    fn to_value(&self) -> ValueRef<'_> {
        self.as_ref()
    }
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> ValueRef<'_> {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> ValueRef<'_> {
        match self {
            Some(v) => v.to_value(),
            None => ValueRef::Null,
        }
    }
}

/// The parameters of a statement: `[]`, `[a, b]` (one type), or
/// [`params!`](crate::params) (any types).
pub trait Params {
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for () {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|p| p.to_value()).collect()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_value).collect()
    }
}

/// rusqlite's `params!`: a slice of parameters of any types.
#[macro_export]
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::db::ToSql]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::db::ToSql),+] as &[&dyn $crate::db::ToSql]
    };
}
pub use crate::params;

/// A value that can be read from a column.
pub trait FromSql: Sized {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self>;
}

impl FromSql for i64 {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        match value {
            ValueRef::Integer(i) => Ok(i),
            other => Err(conversion(column, &other, "an integer")),
        }
    }
}

macro_rules! from_sql_int {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
                let i = i64::from_value(value, column)?;
                <$t>::try_from(i).map_err(|_| Error::Conversion {
                    column,
                    reason: format!("{i} is out of range for {}", stringify!($t)),
                })
            }
        }
    )*};
}
from_sql_int!(i32, i16, u32, u16, u8, u64, usize);

impl FromSql for bool {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        Ok(i64::from_value(value, column)? != 0)
    }
}

impl FromSql for f64 {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        match value {
            ValueRef::Real(r) => Ok(r),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(conversion(column, &other, "a real")),
        }
    }
}

impl FromSql for String {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        match value {
            ValueRef::Text(t) => Ok(t.to_owned()),
            other => Err(conversion(column, &other, "a text")),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        match value {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(conversion(column, &other, "a blob")),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_value(value: ValueRef<'_>, column: usize) -> Result<Self> {
        match value {
            ValueRef::Null => Ok(None),
            other => T::from_value(other, column).map(Some),
        }
    }
}

/// A column's index (rusqlite's `RowIndex`, by position only).
pub trait ColumnIndex: Copy {
    fn index(self) -> usize;
}

impl ColumnIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
#[derive(Clone, Copy)]
#[allow(missing_debug_implementations)]
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r [Value]),
}

impl<'r> Row<'r> {
    /// Column `idx`, converted.
    pub fn get<I: ColumnIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let i = idx.index();
        T::from_value(self.get_ref(i)?, i)
    }

    /// Column `idx`, borrowed.
    pub fn get_ref<I: ColumnIndex>(&self, idx: I) -> Result<ValueRef<'r>> {
        let i = idx.index();
        match *self {
            Row::Sqlite(row) => ValueRef::from_sqlite(row.get_ref(i)?, i),
            Row::Postgres(values) => values.get(i).map(Value::as_ref).ok_or(Error::Conversion {
                column: i,
                reason: "no such column".into(),
            }),
        }
    }
}

/// A row, or a reference to one (what [`Rows::next`] and a mapping
/// closure give).
pub trait AsRow<'r> {
    fn as_row(&self) -> Row<'r>;
}

impl<'r> AsRow<'r> for Row<'r> {
    fn as_row(&self) -> Row<'r> {
        *self
    }
}

impl<'r> AsRow<'r> for &Row<'r> {
    fn as_row(&self) -> Row<'r> {
        **self
    }
}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// A read (SQLite `BEGIN`; PostgreSQL `REPEATABLE READ`): one snapshot.
    Deferred,
    /// A write: excludes every other writer until it ends.
    Immediate,
}

/// rusqlite's name for [`Behavior`].
pub use Behavior as TransactionBehavior;

/// The keys of the advisory lock every write transaction on PostgreSQL
/// takes first: one number for Lianfang and the hub's schema, so hubs
/// sharing a database in separate schemas do not wait on each other.
pub const WRITE_LOCK: &str = "1281320270, hashtext(current_schema()) & 2147483647";

/// Whether some session holds [`WRITE_LOCK`] of the current schema: how a
/// test sees a hub inside a write transaction (`pg_locks` shows a two-key
/// advisory lock as `classid`, `objid`, `objsubid = 2`).
pub const WRITE_LOCK_HELD_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d
 ON d.oid = l.database WHERE d.datname = current_database()
 AND l.locktype = 'advisory' AND l.granted
 AND l.classid = 1281320270 AND l.objsubid = 2
 AND l.objid = (hashtext(current_schema()) & 2147483647)::oid)";

/// A connection to the hub's database.
pub struct Db {
    inner: Inner,
    /// Whether a [`Transaction`] is open (PostgreSQL; SQLite says itself).
    in_transaction: std::cell::Cell<bool>,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(RefCell<pg::Client>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect())
            .finish()
    }
}

impl Db {
    /// Over an open SQLite connection.
    pub fn sqlite(conn: rusqlite::Connection) -> Db {
        Db {
            inner: Inner::Sqlite(conn),
            in_transaction: false.into(),
        }
    }

    /// Connects to the PostgreSQL database `url` names
    /// (`postgresql://user@host:port/dbname`, or a key=value string).
    ///
    /// # Errors
    /// When the server cannot be reached or refuses the login.
    pub fn postgres(url: &str, read_only: bool) -> Result<Db> {
        Ok(Db {
            inner: Inner::Postgres(RefCell::new(pg::Client::connect(url, read_only)?)),
            in_transaction: false.into(),
        })
    }

    /// An in-memory SQLite database (unit tests).
    pub fn open_in_memory() -> Result<Db> {
        Ok(Db::sqlite(rusqlite::Connection::open_in_memory()?))
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs statements without parameters, separated by `;` (a schema: on
    /// PostgreSQL its SQLite column types are translated, [`pg::ddl`]).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(client) => client.borrow_mut().batch(&pg::ddl(sql)),
        }
    }

    /// Runs one statement; the rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// The first row of a query, mapped; [`Error::NoRows`] without one.
    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &self,
        sql: &str,
        params: P,
        f: F,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement (prepared once per connection and kept).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(match &self.inner {
            Inner::Sqlite(conn) => Statement::Sqlite(conn.prepare_cached(sql)?),
            Inner::Postgres(client) => Statement::Postgres {
                client,
                sql: sql.to_owned(),
            },
        })
    }

    /// rusqlite's `prepare`: the same as [`Db::prepare_cached`] here.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// Begins a transaction; it rolls back when dropped uncommitted.
    pub fn transaction_with_behavior(&self, behavior: Behavior) -> Result<Transaction<'_>> {
        self.begin(behavior)?;
        Ok(Transaction {
            db: self,
            done: false,
        })
    }

    /// Begins a transaction that [`Db::end`] ends (for a caller that
    /// cannot hold a [`Transaction`] across the work it wraps).
    pub fn begin(&self, behavior: Behavior) -> Result<()> {
        match (&self.inner, behavior) {
            (Inner::Sqlite(_), Behavior::Deferred) => self.execute_batch("BEGIN DEFERRED")?,
            (Inner::Sqlite(_), Behavior::Immediate) => self.execute_batch("BEGIN IMMEDIATE")?,
            (Inner::Postgres(client), Behavior::Deferred) => client
                .borrow_mut()
                .batch("BEGIN ISOLATION LEVEL REPEATABLE READ")?,
            (Inner::Postgres(client), Behavior::Immediate) => client.borrow_mut().batch(
                &format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            )?,
        }
        self.in_transaction.set(true);
        Ok(())
    }

    /// Commits (`commit`) or rolls back the transaction [`Db::begin`]
    /// began.
    pub fn end(&self, commit: bool) -> Result<()> {
        self.in_transaction.set(false);
        self.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })
    }

    /// Whether no transaction is open.
    pub fn is_autocommit(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(conn) => conn.is_autocommit(),
            Inner::Postgres(_) => !self.in_transaction.get(),
        }
    }

    /// A read transaction ([`Behavior::Deferred`]).
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        self.transaction_with_behavior(Behavior::Deferred)
    }

    /// Whether table `name` exists.
    pub fn table_exists(&self, name: &str) -> Result<bool> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)"
            }
            Dialect::Postgres => {
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = ?1)"
            }
        };
        self.query_row(sql, [name], |row| row.get(0))
    }

    /// Whether table `table` has a column `column`.
    pub fn column_exists(&self, table: &str, column: &str) -> Result<bool> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)"
            }
            Dialect::Postgres => {
                "SELECT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2)"
            }
        };
        self.query_row(sql, [table, column], |row| row.get(0))
    }
}

/// A transaction; derefs to its [`Db`].
#[derive(Debug)]
pub struct Transaction<'a> {
    db: &'a Db,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.db.end(true)
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Nothing of it stays; an error here leaves a connection that
            // the next BEGIN reports.
            let _ = self.db.end(false);
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

/// A prepared statement.
#[allow(missing_debug_implementations)]
pub enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        client: &'c RefCell<pg::Client>,
        sql: String,
    },
}

fn bind<'a>(values: &'a [ValueRef<'a>]) -> Vec<rusqlite::types::ToSqlOutput<'a>> {
    use rusqlite::types::{ToSqlOutput, ValueRef as V};
    values
        .iter()
        .map(|v| {
            ToSqlOutput::Borrowed(match *v {
                ValueRef::Null => V::Null,
                ValueRef::Integer(i) => V::Integer(i),
                ValueRef::Real(r) => V::Real(r),
                ValueRef::Text(t) => V::Text(t.as_bytes()),
                ValueRef::Blob(b) => V::Blob(b),
            })
        })
        .collect()
}

impl Statement<'_> {
    /// Runs it; the rows it changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let values = params.values();
        match self {
            Statement::Sqlite(stmt) => Ok(stmt.execute(rusqlite::params_from_iter(bind(&values)))?),
            Statement::Postgres { client, sql } => client.borrow_mut().execute(sql, &values),
        }
    }

    /// Its rows, one at a time.
    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        let values = params.values();
        Ok(match self {
            Statement::Sqlite(stmt) => {
                Rows::Sqlite(stmt.query(rusqlite::params_from_iter(bind(&values)))?)
            }
            Statement::Postgres { client, sql } => Rows::Postgres {
                rows: client.borrow_mut().query(sql, &values)?.into(),
                current: None,
            },
        })
    }

    /// Every row, mapped.
    pub fn query_map<T, P: Params, F: FnMut(&Row<'_>) -> Result<T>>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(f(&row));
        }
        Ok(out.into_iter())
    }

    /// The first row, mapped; [`Error::NoRows`] without one.
    pub fn query_row<T, P: Params, F: FnOnce(&Row<'_>) -> Result<T>>(
        &mut self,
        params: P,
        f: F,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(row) => f(&row),
            None => Err(Error::NoRows),
        }
    }
}

/// The rows of a query (rusqlite's lending iterator: `while let Some(row) =
/// rows.next()?`).
#[allow(missing_debug_implementations)]
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres {
        rows: VecDeque<Vec<Value>>,
        current: Option<Vec<Value>>,
    },
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(rows) => Ok(rows.next()?.map(Row::Sqlite)),
            Rows::Postgres { rows, current } => {
                *current = rows.pop_front();
                Ok(current.as_deref().map(Row::Postgres))
            }
        }
    }
}

/// rusqlite's name for [`Db`].
pub type Connection = Db;

/// Test support: fresh PostgreSQL databases on the server that
/// `LIANFANG_TEST_POSTGRES` names (`postgresql://USER@HOST:PORT`, no
/// database), so a test suite runs against PostgreSQL as it runs against
/// SQLite (`.ci/run` starts a throwaway cluster for it).
#[doc(hidden)]
pub mod testing {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The variable naming the test server.
    pub const SERVER_ENV: &str = "LIANFANG_TEST_POSTGRES";

    /// The test server, when the tests run against PostgreSQL.
    pub fn server() -> Option<String> {
        std::env::var(SERVER_ENV)
            .ok()
            .map(|url| url.trim_end_matches('/').to_owned())
            .filter(|url| !url.is_empty())
    }

    /// The database the tests' hubs share, each in a schema of its own.
    const DATABASE: &str = "lianfang_test";

    /// The URL of a store in schema `name` of the test server's database,
    /// both created if missing (a schema is made at once; a database
    /// takes a second, and the suites make hundreds of hubs).
    ///
    /// # Panics
    /// When the server cannot be reached (a test needs it).
    pub fn database(server: &str, name: &str) -> String {
        let admin = format!("{server}/postgres");
        let shared = format!("{server}/{DATABASE}");
        // Its own thread: the blocking client may not run inside Tokio.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                        .unwrap_or_else(|e| panic!("test PostgreSQL at {admin}: {e}"));
                    let exists = client
                        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])
                        .expect("look up database");
                    let create =
                        format!("CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8'");
                    if exists.is_none()
                        && let Err(e) = client.batch_execute(&create)
                        && e.code() != Some(&postgres::error::SqlState::DUPLICATE_DATABASE)
                        && e.code() != Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
                    {
                        panic!("{create}: {e}");
                    }
                    let mut client = postgres::Client::connect(&shared, postgres::NoTls)
                        .unwrap_or_else(|e| panic!("test PostgreSQL at {shared}: {e}"));
                    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{name}\"");
                    if let Err(e) = client.batch_execute(&create)
                        && e.code() != Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
                    {
                        panic!("{create}: {e}");
                    }
                })
                .join()
                .expect("create schema")
        });
        format!("{shared}?options=-csearch_path%3D{name}")
    }

    /// A new schema on the test server (`None` without one).
    pub fn fresh() -> Option<String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let server = server()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "lf_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Some(database(&server, &name))
    }

    /// A fresh database on the test server, else SQLite in memory.
    pub fn db() -> super::Db {
        match fresh() {
            Some(url) => super::Db::postgres(&url, false).expect("connect"),
            None => super::Db::open_in_memory().expect("in-memory SQLite"),
        }
    }
}
