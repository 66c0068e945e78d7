//! Each store test runs twice: on a fresh SQLite file and on a fresh
//! PostgreSQL database (created and dropped around it).

/// `on_both!(a, b)`: tests `sqlite::a`, `postgres::a`, … each calling the
/// `async fn a(store: Store)` beside the macro.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = vigy_store::Store::open(&dir.path().join("vigy.db")).await.unwrap();
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = vigy_store::testing::TempPostgres::create().await;
                    let store = vigy_store::Store::open(std::path::Path::new(&db.url)).await.unwrap();
                    super::$name(store).await;
                }
            )*
        }
    };
}
pub(crate) use on_both;
