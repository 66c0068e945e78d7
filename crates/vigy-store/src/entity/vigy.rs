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
    pub tick_interval_ms: i64,
    pub enabled: bool,
    /// Why the runtime disabled it (quarantine); NULL otherwise.
    pub disabled_reason: Option<String>,
    /// JSON object of labels.
    pub labels: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
