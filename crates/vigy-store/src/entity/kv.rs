use sea_orm::entity::prelude::*;

/// `vigy_kv`: each vigy's key/value store.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "vigy_kv")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vigy_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// JSON value.
    pub value: String,
    pub updated_at: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
