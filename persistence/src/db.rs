//! The backend switch: the connection enum, the pool, migrations and the
//! transaction helpers every repository function runs in.

use crate::error::StoreError;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::Arc;
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// One connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Picks the backend from the URL scheme ourselves: MultiConnection's own
/// `establish` tries each backend and hides the real connection error.
fn parse_url(url: &str) -> Result<(Backend, String), StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(StoreError::Config(
                "DATABASE_URL sqlite:// needs a file path, e.g. sqlite://planledger.db".into(),
            ));
        }
        Ok((Backend::Sqlite, path.to_owned()))
    } else if let Some(path) = url.strip_prefix("sqlite:") {
        Ok((Backend::Sqlite, path.to_owned()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_owned()))
    } else {
        Err(StoreError::Config(format!(
            "DATABASE_URL must start with sqlite:// or postgres:// (got {:?})",
            url.split("://").next().unwrap_or_default()
        )))
    }
}

pub(crate) struct Connector {
    backend: Backend,
    target: String,
    /// PostgreSQL's `statement_timeout` for every connection; zero: none.
    statement_timeout: Duration,
}

impl ManageConnection for Connector {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn =
                    SqliteConnection::establish(&self.target).map_err(diesel::r2d2::Error::ConnectionError)?;
                // synchronous=FULL: an acknowledged write survives a power cut, not only a crash.
                // cache_size -512: 512 KiB of pages a connection instead of 2 MiB; the pool's
                // connections would otherwise hold 32 MiB of copies of what the OS caches anyway.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
                     PRAGMA cache_size = -512;",
                )
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.target).map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(&statement_timeout_sql(self.statement_timeout))
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1").map_err(diesel::r2d2::Error::QueryError)
    }

    /// Also true once a statement found the connection closed: diesel then marks its
    /// transaction state as in error, and the pool drops the connection when it comes back.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub connection_timeout: Duration,
    /// How long one statement may run on PostgreSQL (waiting for a lock included) before it
    /// is cancelled, its transaction rolled back and the request answered 503; zero: no limit.
    pub statement_timeout: Duration,
}

fn statement_timeout_sql(timeout: Duration) -> String {
    format!("SET statement_timeout = {}", timeout.as_millis())
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            // Four a core: enough to keep the cores and the database busy while some requests
            // wait on the network; more only queue for the cores, each holding memory meanwhile.
            // At most 32, so that a few processes stay within PostgreSQL's 100 connections.
            max_size: (4 * std::thread::available_parallelism().map_or(2, |cores| cores.get() as u32)).min(32),
            connection_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// Called after every write transaction commits, to wake readers waiting for events.
pub type CommitHook = Arc<dyn Fn() + Send + Sync>;

/// The PostgreSQL channel a commit notifies, so that other processes wake too.
pub const EVENTS_CHANNEL: &str = "planledger_events";

/// The store: a pool of connections to one database.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Connector>,
    backend: Backend,
    url: String,
    statement_timeout: Duration,
    on_commit: Option<CommitHook>,
    /// SQLite takes one writer at a time, and a writer that finds the file locked sleeps and
    /// retries (busy_timeout), up to seconds under load: this process's writers queue here
    /// instead, before they take a connection. (Other processes still meet the file lock.)
    sqlite_writer: Arc<std::sync::Mutex<()>>,
    /// PostgreSQL writers that take the log head last queue here for it (see `write_head_last`).
    appender: Arc<std::sync::Mutex<()>>,
    /// What identifies the JSON this build answers: kept plan documents of another are not answered.
    pub(crate) document_format: Arc<str>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://planledger.db`, `postgres://…`).
    pub fn open(url: &str, options: PoolOptions) -> Result<Store, StoreError> {
        let (backend, target) = parse_url(url)?;
        let connector = Connector {
            backend,
            target,
            statement_timeout: options.statement_timeout,
        };
        if backend == Backend::Sqlite {
            // WAL once, before the pool: it is a property of the file, and readers then never block on the writer.
            let mut conn = connector
                .connect()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            conn.batch_execute("PRAGMA journal_mode = WAL;")?;
        }
        let pool = Pool::builder()
            .max_size(options.max_size)
            // No connections made in the background: a replenishing thread still inside libpq when
            // the process exits can crash it (seen with the one-shot CLI commands).
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout)
            // No `SELECT 1` round trip on every checkout: a transaction whose `BEGIN` finds its
            // connection gone starts over on another (see `on_live_connection`).
            .test_on_check_out(false)
            .build(connector)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Store {
            pool,
            backend,
            url: url.to_owned(),
            statement_timeout: options.statement_timeout,
            on_commit: None,
            sqlite_writer: Arc::new(std::sync::Mutex::new(())),
            appender: Arc::new(std::sync::Mutex::new(())),
            document_format: Arc::from(""),
        })
    }

    /// This store, keeping and answering plan documents of this `format` only (say, a hash of
    /// the API document: a build that answers other JSON then never answers another's copies).
    pub fn with_document_format(mut self, format: String) -> Store {
        self.document_format = Arc::from(format);
        self
    }

    /// This store, calling `hook` after each write commits.
    pub fn with_commit_hook(mut self, hook: CommitHook) -> Store {
        self.on_commit = Some(hook);
        self
    }

    /// The PostgreSQL URL to LISTEN on for other processes' commits; `None` on SQLite.
    pub fn listen_url(&self) -> Option<&str> {
        (self.backend == Backend::Postgres).then_some(self.url.as_str())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        self.pool.max_size()
    }

    /// Pool figures for `/metrics`: (connections, idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// A pooled connection that has just answered `SELECT 1`: for the paths that take one
    /// outside `read` and `write`, which save that round trip (see `on_live_connection`).
    pub(crate) fn connection(&self) -> Result<PooledConnection<Connector>, StoreError> {
        Ok(self.on_live_connection(|conn| Ok(conn.batch_execute("SELECT 1")?))?.0)
    }

    /// Runs pending migrations; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.connection()?;
        let ran = match &mut *conn {
            DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
            // A migration may rewrite a large table: no statement timeout while it runs.
            DbConnection::Postgres(conn) => conn
                .batch_execute(&statement_timeout_sql(Duration::ZERO))
                .map_err(Into::into)
                .and_then(|()| conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()))
                .and_then(|ran| {
                    conn.batch_execute(&statement_timeout_sql(self.statement_timeout))
                        .map(|()| ran)
                        .map_err(Into::into)
                }),
        };
        ran.map_err(|e| StoreError::Unavailable(format!("migration failed: {e}")))
    }

    /// Whether the database answers and every migration has run. Answers within a second,
    /// as readiness probes expect, rather than waiting out the pool's timeout.
    pub fn check_ready(&self) -> Result<(), StoreError> {
        let (_, pending) = self.on_live_connection_within(Duration::from_secs(1), |conn| {
            match conn {
                DbConnection::Sqlite(conn) => conn.has_pending_migration(SQLITE_MIGRATIONS),
                DbConnection::Postgres(conn) => conn.has_pending_migration(POSTGRES_MIGRATIONS),
            }
            .map_err(|e| StoreError::Unavailable(e.to_string()))
        })?;
        if pending {
            return Err(StoreError::Unavailable("migrations are pending".into()));
        }
        Ok(())
    }

    /// Runs `work` as one write transaction. Writers are serialized from the
    /// start, before they read what they will change: SQLite by `BEGIN
    /// IMMEDIATE`, PostgreSQL by locking the event-log head row that every
    /// write appends through anyway. So a check made on what was read (a
    /// status, a revision for `If-Match`, a next position) still holds at commit.
    pub(crate) fn write<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.in_transaction(Access::WriteHeadFirst, work)
    }

    /// Runs `work` as one write transaction that, on PostgreSQL, takes the log head only to
    /// append its events, right before its commit: writes to different rows then overlap up
    /// to their append, and the head is held for three round trips instead of the whole write.
    /// Its checks must hold at commit by themselves: `work` first locks the rows they read
    /// (`plans::Store::write_in_plan` locks the plan row, as every write to a plan's tree
    /// does). Its events get their seq at the append, in commit order, gap-free as ever.
    /// Every write that changes a row such writes lock must be one (a write holding the head
    /// must never wait for a row lock held by one waiting for the head).
    pub(crate) fn write_head_last<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.in_transaction(Access::WriteHeadLast, work)
    }

    /// Writes derived data that no event records (a kept copy, never a source) without
    /// waiting for the disk: losing it in a crash costs only its rebuilding. On SQLite it gives
    /// way to the writers: `None`, and nothing written, while another writer of this process
    /// holds the file.
    pub(crate) fn write_derived(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<(), StoreError>,
    ) -> Option<Result<(), StoreError>> {
        let written = match self.backend {
            Backend::Sqlite => {
                let _writer = match self.sqlite_writer.try_lock() {
                    Ok(writer) => writer,
                    Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => return None,
                };
                self.connection().and_then(|mut conn| {
                    conn.batch_execute("PRAGMA synchronous = NORMAL")?;
                    let written = work(&mut conn);
                    if conn.batch_execute("PRAGMA synchronous = FULL").is_err() {
                        // Never hand out a connection that commits without waiting for the disk.
                        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(&mut conn)
                            .set_in_error();
                    }
                    written
                })
            }
            Backend::Postgres => self.in_transaction(Access::WriteUnlogged, |conn| {
                conn.batch_execute("SET LOCAL synchronous_commit = off")?;
                work(conn)
            }),
        };
        Some(written)
    }

    /// Runs `work` in a read-only transaction that sees one snapshot
    /// (PostgreSQL: repeatable read; SQLite in WAL mode holds one anyway).
    pub(crate) fn read<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.in_transaction(Access::Read, work)
    }

    fn in_transaction<T>(
        &self,
        access: Access,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let write = access != Access::Read;
        let _writer = (write && self.backend == Backend::Sqlite).then(|| lock_ignoring_poison(&self.sqlite_writer));
        let mut conn = self.on_live_connection(|conn| begin(conn, write))?.0;
        match self.transaction_on(&mut conn, access, work) {
            Err(StoreError::Database(error)) if is_gone(&mut conn) => Err(StoreError::Unavailable(error.to_string())),
            other => other,
        }
    }

    /// Runs `first` on a pooled connection and returns both. The pool does not test a
    /// connection before handing it out, so a connection the database has dropped since its
    /// last use (a restart) is found here: `first` fails on it, the pool drops it, and `first`
    /// runs again on the next. `first` must be its caller's first statement on the
    /// connection (a `BEGIN`, or a read standing alone), so running it again repeats nothing.
    pub(crate) fn on_live_connection<T>(
        &self,
        first: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<(PooledConnection<Connector>, T), StoreError> {
        self.on_live_connection_within(self.pool.connection_timeout(), first)
    }

    /// [`Store::on_live_connection`], waiting at most `timeout` for each connection.
    fn on_live_connection_within<T>(
        &self,
        timeout: Duration,
        mut first: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<(PooledConnection<Connector>, T), StoreError> {
        // Every pooled connection may be gone at once; the one after them is made new.
        for _ in 0..=self.pool.max_size() {
            let mut conn = self
                .pool
                .get_timeout(timeout)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            match first(&mut conn) {
                Ok(value) => return Ok((conn, value)),
                Err(StoreError::Database(_) | StoreError::Unavailable(_)) if is_gone(&mut conn) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Unavailable("no connection to the database answers".into()))
    }

    fn transaction_on<T>(
        &self,
        conn: &mut DbConnection,
        access: Access,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let logged = matches!(access, Access::WriteHeadFirst | Access::WriteHeadLast);
        let log = logged.then(crate::events::WriteLog::begin);
        let result = (|| {
            if let Some(log) = &log {
                // SQLite's writer holds the whole file from `BEGIN IMMEDIATE`: its head is fixed already.
                if access == Access::WriteHeadFirst || self.backend == Backend::Sqlite {
                    log.start_at(crate::events::lock_head(conn)?);
                }
            }
            let value = work(conn)?;
            let Some(log) = &log else { return Ok((value, false)) };
            // This process's writers queue here for the head rather than all wait on its row lock.
            let _appender = (access == Access::WriteHeadLast).then(|| lock_ignoring_poison(&self.appender));
            let Some(move_head) = log.flush(conn)? else {
                return Ok((value, false));
            };
            match conn {
                // One round trip: the NOTIFY reaches every listening process when (and only if)
                // the transaction commits, and diesel reads the ended transaction from libpq.
                DbConnection::Postgres(_) => {
                    conn.batch_execute(&format!("{move_head}NOTIFY {EVENTS_CHANNEL}; COMMIT"))?;
                    Ok((value, true))
                }
                DbConnection::Sqlite(_) => {
                    conn.batch_execute(&move_head)?;
                    Ok((value, false))
                }
            }
        })();
        drop(log);
        let committed = result.and_then(|(value, committed)| {
            if !committed {
                <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            }
            Ok(value)
        });
        match committed {
            Ok(value) => {
                if let (true, Some(hook)) = (logged, &self.on_commit) {
                    hook();
                }
                Ok(value)
            }
            Err(error) => {
                let open = <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
                    .transaction_depth()
                    .is_ok_and(|depth| depth.is_some());
                if open {
                    if let Err(rollback) = <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
                    {
                        tracing::warn!(%rollback, "rollback failed");
                    }
                }
                Err(error)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    WriteHeadFirst,
    WriteHeadLast,
    /// Derived data, no event (see `write_derived`).
    WriteUnlogged,
}

fn lock_ignoring_poison(mutex: &std::sync::Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn begin(conn: &mut DbConnection, write: bool) -> Result<(), StoreError> {
    let sql = match (&conn, write) {
        (DbConnection::Sqlite(_), true) => "BEGIN IMMEDIATE",
        (DbConnection::Sqlite(_), false) => "BEGIN",
        (DbConnection::Postgres(_), true) => "BEGIN",
        (DbConnection::Postgres(_), false) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    match conn {
        DbConnection::Sqlite(inner) => AnsiTransactionManager::begin_transaction_sql(inner, sql)?,
        DbConnection::Postgres(inner) => AnsiTransactionManager::begin_transaction_sql(inner, sql)?,
    }
    Ok(())
}

/// Whether the connection no longer answers: the database went away (PostgreSQL stopped or
/// restarted), which makes a failed statement on it unavailability, not a fault of the
/// request. Such a connection is marked broken, so the pool drops it instead of handing it out again.
fn is_gone(conn: &mut DbConnection) -> bool {
    let gone = conn.batch_execute("SELECT 1").is_err();
    if gone {
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn).set_in_error();
    }
    gone
}
