use sea_orm::entity::prelude::*;

/// `vigy_state`: what each vigy last reported, and how many ticks it ran.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigy_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vigy_id: String,
    /// JSON object.
    pub desired: String,
    /// JSON object.
    pub observed: String,
    /// JSON array of the last tick's actions.
    pub pending: String,
    pub tick_count: i64,
    pub captured_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
