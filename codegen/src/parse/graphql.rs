//! GraphQL SDL (through `async-graphql-parser`) into the IR.

use async_graphql_parser::types::{BaseType, FieldDefinition, Type, TypeKind, TypeSystemDefinition};

use super::{ReadError, fail};
use crate::ir::{Api, Field, Model, OpKind, Operation, Shape, Ty};
use crate::names::snake;

/// The argument that carries a request body.
const BODY_ARGUMENT: &str = "input";

/// Read the SDL `text`, named `source` in messages.
pub fn read(source: &str, text: &str) -> Result<Api, ReadError> {
    let doc = async_graphql_parser::parse_schema(text).map_err(|e| fail(source, e.to_string()))?;
    let mut api = Api::new(source);
    for definition in &doc.definitions {
        let TypeSystemDefinition::Type(def) = definition else { continue };
        let def = &def.node;
        let name = def.name.node.to_string();
        let doc = def.description.as_ref().map(|d| d.node.clone());
        let kind = match name.as_str() {
            "Query" => Some(OpKind::Read),
            "Mutation" => Some(OpKind::Change),
            "Subscription" => Some(OpKind::Stream),
            _ => None,
        };
        match (&def.kind, kind) {
            (TypeKind::Object(object), Some(kind)) => {
                for field in &object.fields {
                    let op = operation(source, &field.node, kind)?;
                    api.operations.insert(op.id.clone(), op);
                }
            }
            (TypeKind::Object(object), None) => {
                let fields =
                    object.fields.iter().map(|f| (f.node.name.node.as_str(), &f.node.ty.node, &f.node.description));
                let shape = Shape::Struct(struct_fields(source, fields)?);
                api.models.insert(name.clone(), Model { name, shape, doc });
            }
            (TypeKind::InputObject(object), _) => {
                let fields =
                    object.fields.iter().map(|f| (f.node.name.node.as_str(), &f.node.ty.node, &f.node.description));
                let shape = Shape::Struct(struct_fields(source, fields)?);
                api.models.insert(name.clone(), Model { name, shape, doc });
            }
            (TypeKind::Enum(e), _) => {
                let values = e.values.iter().map(|v| snake(&v.node.value.node)).collect();
                api.models.insert(name.clone(), Model { name, shape: Shape::Enum(values), doc });
            }
            (TypeKind::Scalar, _) => {}
            _ => return Err(fail(source, format!("type `{name}`: interfaces and unions are not used by vigy"))),
        }
    }
    Ok(api)
}

/// The fields of an object or input object type.
fn struct_fields<'a>(
    source: &str,
    fields: impl Iterator<Item = (&'a str, &'a Type, &'a Option<async_graphql_parser::Positioned<String>>)>,
) -> Result<Vec<Field>, ReadError> {
    fields.map(|(name, ty, doc)| field(source, name, ty, doc.as_ref().map(|d| d.node.clone()))).collect()
}

fn operation(source: &str, def: &FieldDefinition, kind: OpKind) -> Result<Operation, ReadError> {
    let id = def.name.node.to_string();
    let mut params = Vec::new();
    let mut body = None;
    for arg in &def.arguments {
        let arg = &arg.node;
        if arg.name.node.as_str() == BODY_ARGUMENT {
            body = Some(named(source, &arg.ty.node)?);
        } else {
            params.push(field(source, &arg.name.node, &arg.ty.node, None)?);
        }
    }
    let output = named(source, &def.ty.node)?;
    Ok(Operation {
        id,
        kind: Some(kind),
        params,
        body,
        output,
        doc: def.description.as_ref().map(|d| d.node.clone()),
        http: None,
        effects: Default::default(),
    })
}

fn named(source: &str, ty: &Type) -> Result<String, ReadError> {
    match &ty.base {
        BaseType::Named(name) => Ok(name.to_string()),
        BaseType::List(_) => Err(fail(source, format!("`{ty}`: an operation returns or takes one object"))),
    }
}

fn field(source: &str, name: &str, ty: &Type, doc: Option<String>) -> Result<Field, ReadError> {
    Ok(Field {
        name: snake(name),
        ty: lower(source, ty)?,
        optional: Some(ty.nullable),
        doc,
        constraints: Default::default(),
    })
}

/// The scalars `spec/vigy.graphql` declares, by name, and the type each
/// stands for.
pub const SPEC_SCALARS: [(&str, Ty); 5] = [
    ("DateTime", Ty::Timestamp),
    ("JSON", Ty::Json),
    ("JSONObject", Ty::JsonObject),
    ("Labels", Ty::StringMap),
    ("UInt64", Ty::U64),
];

fn lower(source: &str, ty: &Type) -> Result<Ty, ReadError> {
    Ok(match &ty.base {
        BaseType::List(item) => {
            if item.nullable {
                return Err(fail(source, format!("`{ty}`: list items must be non-null")));
            }
            Ty::List(Box::new(lower(source, item)?))
        }
        BaseType::Named(name) => match name.as_str() {
            "String" | "ID" => Ty::String,
            "Boolean" => Ty::Bool,
            "Int" => Ty::U32,
            other => match SPEC_SCALARS.iter().find(|(scalar, _)| *scalar == other) {
                Some((_, ty)) => ty.clone(),
                None => Ty::Named(other.to_owned()),
            },
        },
    })
}
