//! Real SQLite failures on demand, for the tests of the layers above
//! (feature `fault-injection`): a write lock held elsewhere, a full disk.

use std::path::Path;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::StoreError;

/// A second connection holding the database's write lock (`BEGIN
/// EXCLUSIVE`) until released, as another process would: the store's
/// writes wait out their busy timeout, then fail with "database is locked".
#[derive(Debug)]
pub struct WriteLock {
    txn: DatabaseTransaction,
    _db: DatabaseConnection,
}

impl WriteLock {
    /// Take the lock on the database at `path`.
    pub async fn take(path: &Path) -> Result<Self, StoreError> {
        let mut options = ConnectOptions::new(format!("sqlite://{}", path.display()));
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await?;
        let exclusive = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Exclusive),
            ..TransactionOptions::default()
        };
        let txn = db.begin_with_options(exclusive).await?;
        Ok(Self { txn, _db: db })
    }

    /// Let writers in again.
    pub async fn release(self) -> Result<(), StoreError> {
        Ok(self.txn.rollback().await?)
    }
}
