use sea_orm::entity::prelude::*;

/// `vigy_events`: the lifecycle change feed (registered, updated, enabled,
/// disabled, deleted). Every process on the database follows it to pick up
/// changes made by the others.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigy_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vigy_id: String,
    pub kind: String,
    pub at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
