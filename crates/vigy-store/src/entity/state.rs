use sea_orm::entity::prelude::*;

/// `vigy_state`: what each vigy last reported with `vigy-desired` and
/// `vigy-observed`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigy_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vigy_id: String,
    /// JSON object.
    pub desired: String,
    /// JSON object.
    pub observed: String,
    pub reported_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
