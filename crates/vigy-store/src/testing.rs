//! A PostgreSQL database of its own for each test: created on the server
//! `$VIGY_TEST_POSTGRES` names (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! dropped when the value is dropped.

use sea_orm::{ConnectionTrait, Database};

/// The server tests create their databases on.
pub const SERVER_ENV: &str = "VIGY_TEST_POSTGRES";
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database that exists for as long as this value does.
#[derive(Debug)]
pub struct TempPostgres {
    /// Its URL, for `--db` or `RuntimeBuilder::path`.
    pub url: String,
    name: String,
    server: String,
}

impl TempPostgres {
    /// Create a database with a fresh name.
    ///
    /// # Panics
    /// When the server cannot be reached: these tests need it.
    pub async fn create() -> Self {
        let server = std::env::var(SERVER_ENV).unwrap_or_else(|_| DEFAULT_SERVER.into());
        let name = format!("vigy_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Database::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {server} ({SERVER_ENV}): {e}; scripts/test starts it"));
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        admin.close().await.ok();
        let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
        Self { url: format!("{base}/{name}"), name, server }
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop may run inside an async runtime: the drop gets a thread and a
        // runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = Database::connect(&server).await?;
                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// `on_both_backends!(a, b)`: tests `sqlite::a`, `postgres::a`, … each
/// calling the `async fn a(db: PathBuf)` beside the macro with a fresh
/// SQLite file or a fresh PostgreSQL database's URL (both places open with
/// `Store::open` and `RuntimeBuilder::path`). The calling crate needs
/// `tokio` and `tempfile` as dev-dependencies.
/// `on_both_backends!(multi_thread; a, b)` runs them on tokio's
/// multi-threaded runtime.
#[macro_export]
macro_rules! on_both_backends {
    (multi_thread; $($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with (flavor = "multi_thread"); $($name),*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(@with (); $($name),*);
    };
    (@with $flavor:tt; $($name:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test $flavor]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$name(dir.path().join("vigy.db")).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test $flavor]
                async fn $name() {
                    let db = $crate::testing::TempPostgres::create().await;
                    super::$name(db.url.clone().into()).await;
                }
            )*
        }
    };
}
