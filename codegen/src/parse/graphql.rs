//! GraphQL SDL (through `async-graphql-parser`) into the IR.

use async_graphql_parser::types::{BaseType, FieldDefinition, Type, TypeKind, TypeSystemDefinition};

use super::{ReadError, fail};
use crate::ir::{Api, Edge, Field, Model, NEXT_CURSOR, OpKind, Operation, PAGE_ITEMS, Shape, Ty};
use crate::names::{GRAPHQL_PAGE_INFO, argument_from_graphql, graphql_edge, page_model, snake};

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
                    let field = &field.node;
                    let op = operation(source, field, kind)?;
                    if op.id != field.name.node.as_str() {
                        api.graphql_fields.insert(op.id.clone(), field.name.node.to_string());
                    }
                    api.operations.insert(op.id.clone(), op);
                }
            }
            (TypeKind::Object(object), None) if is_connection_part(&name, object) => {}
            (TypeKind::Object(object), None) if name.ends_with(CONNECTION) => {
                let page = connection(source, &name, object)?;
                api.models.insert(page.name.clone(), Model { doc, ..page });
            }
            (TypeKind::Object(object), None) => {
                let mut fields = Vec::new();
                for field in &object.fields {
                    let field = &field.node;
                    let description = field.description.as_ref().map(|d| d.node.clone());
                    match bound_op(source, field)? {
                        Some(op) => api.edges.push(Edge {
                            model: name.clone(),
                            field: snake(&field.name.node),
                            op,
                            args: field.arguments.iter().map(|a| argument_from_graphql(&a.node.name.node)).collect(),
                            output: page_or_named(source, &field.ty.node)?,
                            doc: description,
                        }),
                        None => fields.push(self::field(source, &field.name.node, &field.ty.node, description)?),
                    }
                }
                api.models.insert(name.clone(), Model::new(name, Shape::Struct(fields), doc));
            }
            (TypeKind::InputObject(object), _) => {
                let fields =
                    object.fields.iter().map(|f| (f.node.name.node.as_str(), &f.node.ty.node, &f.node.description));
                let shape = Shape::Struct(struct_fields(source, fields)?);
                api.models.insert(name.clone(), Model::new(name, shape, doc));
            }
            (TypeKind::Enum(e), _) => {
                let values = e.values.iter().map(|v| snake(&v.node.value.node)).collect();
                api.models.insert(name.clone(), Model::new(name, Shape::Enum(values), doc));
            }
            (TypeKind::Scalar, _) => {}
            _ => return Err(fail(source, format!("type `{name}`: interfaces and unions are not used by vigy"))),
        }
    }
    // GraphQL has no word for `x-batch`; binding a nested field to a read is
    // how its SDL says the read answers many parents at once.
    for edge in &api.edges {
        if let Some(op) = api.operations.get_mut(&edge.op) {
            op.batch = true;
        }
    }
    Ok(api)
}

/// The suffix of a connection type: `VigyConnection`.
const CONNECTION: &str = "Connection";
/// The directive binding a field to an operation.
const BIND: &str = "bind";

/// Whether `name` is the machinery of connections rather than a model: an
/// edge (`cursor` and `node`) or `PageInfo`.
fn is_connection_part(name: &str, object: &async_graphql_parser::types::ObjectType) -> bool {
    let fields: Vec<&str> = object.fields.iter().map(|f| f.node.name.node.as_str()).collect();
    name == GRAPHQL_PAGE_INFO || (name.ends_with("Edge") && fields == ["cursor", "node"])
}

/// A connection as the page model it stands for: `VigyConnection`
/// (`nodes`, `edges`, `pageInfo`) is `VigyList` (`items`, `next_cursor`).
fn connection(source: &str, name: &str, object: &async_graphql_parser::types::ObjectType) -> Result<Model, ReadError> {
    let item = name.trim_end_matches(CONNECTION);
    let shape_of =
        |field: &str| object.fields.iter().find(|f| f.node.name.node == field).map(|f| f.node.ty.node.to_string());
    let want = [
        ("nodes", format!("[{item}!]!")),
        ("edges", format!("[{}!]!", graphql_edge(item))),
        ("pageInfo", format!("{GRAPHQL_PAGE_INFO}!")),
    ];
    for (field, ty) in &want {
        if shape_of(field).as_deref() != Some(ty.as_str()) {
            return Err(fail(source, format!("connection `{name}` must have `{field}: {ty}`")));
        }
    }
    if object.fields.len() != want.len() {
        return Err(fail(source, format!("connection `{name}` has fields besides nodes, edges and pageInfo")));
    }
    let page = |field: &str, ty: Ty, optional: bool| Field {
        name: field.to_owned(),
        ty,
        optional: Some(optional),
        doc: None,
        constraints: Default::default(),
    };
    let fields = vec![
        page(PAGE_ITEMS, Ty::List(Box::new(Ty::Named(item.to_owned()))), false),
        page(NEXT_CURSOR, Ty::String, true),
    ];
    Ok(Model::new(page_model(item), Shape::Struct(fields), None))
}

/// The operation `@bind(op: "...")` names on `def`, if it has one.
fn bound_op(source: &str, def: &FieldDefinition) -> Result<Option<String>, ReadError> {
    let Some(directive) = def.directives.iter().find(|d| d.node.name.node == BIND) else { return Ok(None) };
    // The value's text is a GraphQL string literal, which JSON reads.
    let op = directive.node.get_argument("op").and_then(|v| serde_json::from_str::<String>(&v.node.to_string()).ok());
    match op {
        Some(op) => Ok(Some(op)),
        None => Err(fail(source, format!("field `{}`: @bind takes `op`, an operationId", def.name.node))),
    }
}

/// A struct's fields.
fn struct_fields<'a>(
    source: &str,
    fields: impl Iterator<Item = (&'a str, &'a Type, &'a Option<async_graphql_parser::Positioned<String>>)>,
) -> Result<Vec<Field>, ReadError> {
    fields.map(|(name, ty, doc)| field(source, name, ty, doc.as_ref().map(|d| d.node.clone()))).collect()
}

fn operation(source: &str, def: &FieldDefinition, kind: OpKind) -> Result<Operation, ReadError> {
    let id = bound_op(source, def)?.unwrap_or_else(|| def.name.node.to_string());
    let mut params = Vec::new();
    let mut body = None;
    for arg in &def.arguments {
        let arg = &arg.node;
        if arg.name.node.as_str() == BODY_ARGUMENT {
            body = Some(named(source, &arg.ty.node)?);
        } else {
            let doc = arg.description.as_ref().map(|d| d.node.clone());
            params.push(Field { name: argument_from_graphql(&arg.name.node), ..field(source, "", &arg.ty.node, doc)? });
        }
    }
    let output = page_or_named(source, &def.ty.node)?;
    Ok(Operation {
        id,
        kind: Some(kind),
        params,
        body,
        output,
        doc: def.description.as_ref().map(|d| d.node.clone()),
        http: None,
        effects: Default::default(),
        batch: false,
    })
}

/// The model a field returns, a connection read as its page model.
fn page_or_named(source: &str, ty: &Type) -> Result<String, ReadError> {
    let name = named(source, ty)?;
    Ok(match name.strip_suffix(CONNECTION) {
        Some(item) => page_model(item),
        None => name,
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
