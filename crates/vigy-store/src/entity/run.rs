use sea_orm::entity::prelude::*;

/// `vigy_runs`: one row per tick, newest N per vigy kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigy_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub vigy_id: String,
    pub tick: i64,
    pub started_at: String,
    pub ended_at: String,
    /// `ok`, `failed` or `skipped`.
    pub result: String,
    pub error: Option<String>,
    /// JSON array of actions.
    pub actions: String,
    /// JSON array of log lines.
    pub logs: String,
    pub logs_truncated: bool,
    /// Position in commit order.
    pub seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
