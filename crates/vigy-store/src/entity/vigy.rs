use sea_orm::entity::prelude::*;

/// `vigies`: one row per registered vigy.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub name: String,
    pub program: String,
    /// The interval; for a cron schedule (`cron` set), 1000: a cron
    /// pattern's resolution, kept so the column's check still holds.
    pub tick_interval_ms: i64,
    pub enabled: bool,
    /// Why the runtime disabled it (quarantine); NULL otherwise.
    pub disabled_reason: Option<String>,
    /// Six fields, seconds first; NULL on an interval.
    pub cron: Option<String>,
    /// The cron pattern's IANA zone; NULL on an interval.
    pub tz: Option<String>,
    pub jitter_ms: i64,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    /// NULL: missed due times are skipped.
    pub catch_up_window_ms: Option<i64>,
    pub pause_after_failures: Option<i64>,
    pub backoff_base_ms: Option<i64>,
    pub backoff_cap_ms: Option<i64>,
    /// Set while paused, with `paused_at`.
    pub paused_reason: Option<String>,
    pub paused_at: Option<String>,
    /// JSON object of labels.
    pub labels: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
