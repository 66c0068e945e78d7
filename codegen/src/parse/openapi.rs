//! OpenAPI 3.0 (through `openapiv3`) into the IR.

use openapiv3::{
    AdditionalProperties, IntegerType, OpenAPI, Parameter, ReferenceOr, RequestBody, Schema, SchemaKind, StatusCode,
    StringFormat, Type, VariantOrUnknownOrEmpty,
};

use super::{ReadError, fail};
use crate::ir::{Api, Constraints, Effects, Field, Http, Model, OpKind, Operation, PAGE_CURSOR, PAGE_LIMIT, Shape, Ty};
use crate::names::snake;

/// Read the OpenAPI document `text`, named `source` in messages.
pub fn read(source: &str, text: &str) -> Result<Api, ReadError> {
    let doc: OpenAPI = serde_yaml_ng::from_str(text).map_err(|e| fail(source, e.to_string()))?;
    let mut api = Api::new(source);
    let components = doc.components.clone().unwrap_or_default();
    for (name, schema) in &components.schemas {
        let schema = schema.as_item().ok_or_else(|| fail(source, format!("schema `{name}` is a bare $ref")))?;
        api.models.insert(name.clone(), model(source, name, schema)?);
    }
    for (path, item) in doc.paths.iter() {
        let item = item.as_item().ok_or_else(|| fail(source, format!("path `{path}` is a $ref")))?;
        for (method, op) in item.iter() {
            let id =
                op.operation_id.clone().ok_or_else(|| fail(source, format!("{method} {path} has no operationId")))?;
            let mut params = Vec::new();
            for param in item.parameters.iter().chain(&op.parameters) {
                params.push(parameter(source, &doc, param)?);
            }
            let body = match &op.request_body {
                Some(body) => Some(request_body(source, &doc, body)?),
                None => None,
            };
            let (output, stream) = response(source, &id, op)?;
            let effects = effects(method, op);
            let kind = if stream {
                OpKind::Stream
            } else if effects.read_only {
                OpKind::Read
            } else {
                OpKind::Change
            };
            let operation = Operation {
                id: id.clone(),
                kind: Some(kind),
                params,
                body,
                output,
                doc: op.summary.clone(),
                http: Some(Http { method: method.to_owned(), path: path.clone() }),
                effects,
                batch: op.extensions.get("x-batch").and_then(|v| v.as_bool()).unwrap_or(false),
            };
            if api.operations.insert(id.clone(), operation).is_some() {
                return Err(fail(source, format!("operationId `{id}` is used twice")));
            }
        }
    }
    check_paging(&api)?;
    Ok(api)
}

/// Every page names its cursor's key, a required string of its item, and
/// every operation returning a page takes the size and the cursor.
fn check_paging(api: &Api) -> Result<(), ReadError> {
    let source = &api.source;
    for model in api.models.values() {
        let Some(item) = model.page_item() else { continue };
        let name = &model.name;
        let Some(key) = &model.cursor_key else {
            return Err(fail(
                source,
                format!("schema `{name}` is a page: x-cursor must name the `{item}` field it is sorted by"),
            ));
        };
        let keyed = match api.models.get(item).map(|m| &m.shape) {
            Some(Shape::Struct(fields)) => {
                fields.iter().any(|f| &f.name == key && f.ty == Ty::String && f.optional == Some(false))
            }
            _ => false,
        };
        if !keyed {
            return Err(fail(
                source,
                format!("schema `{name}`: x-cursor `{key}` is not a required string of `{item}`"),
            ));
        }
    }
    for op in api.operations.values() {
        if api.models.get(&op.output).and_then(Model::page_item).is_none() {
            continue;
        }
        for wanted in [PAGE_LIMIT, PAGE_CURSOR] {
            if !op.params.iter().any(|p| p.name == wanted && p.optional != Some(false)) {
                return Err(fail(
                    source,
                    format!("operation `{}` returns a page: it takes an optional `{wanted}`", op.id),
                ));
            }
        }
    }
    Ok(())
}

fn model(source: &str, name: &str, schema: &Schema) -> Result<Model, ReadError> {
    let doc = schema.schema_data.description.clone();
    let shape = match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) if !s.enumeration.is_empty() => {
            Shape::Enum(s.enumeration.iter().flatten().map(|v| snake(v)).collect())
        }
        SchemaKind::Type(Type::Object(object)) => {
            let mut fields = Vec::new();
            for (field, prop) in &object.properties {
                let (ty, nullable, doc, constraints) = match prop {
                    ReferenceOr::Reference { reference } => {
                        (Ty::Named(ref_name(reference)), false, None, Constraints::default())
                    }
                    ReferenceOr::Item(s) => {
                        (ty(source, s)?, s.schema_data.nullable, s.schema_data.description.clone(), constraints(s))
                    }
                };
                let required = object.required.contains(field);
                fields.push(Field { name: field.clone(), ty, optional: Some(!required || nullable), doc, constraints });
            }
            Shape::Struct(fields)
        }
        _ => return Err(fail(source, format!("schema `{name}` is neither an object nor a string enum"))),
    };
    let mut model = Model::new(name, shape, doc);
    if let Some(key) = schema.schema_data.extensions.get("x-cursor") {
        let key = key.as_str().ok_or_else(|| fail(source, format!("schema `{name}`: x-cursor names a field")))?;
        if model.page_item().is_none() {
            return Err(fail(
                source,
                format!("schema `{name}`: x-cursor is for a page (`items` and `next_cursor` only)"),
            ));
        }
        model.cursor_key = Some(key.to_owned());
    }
    Ok(model)
}

fn ty(source: &str, schema: &Schema) -> Result<Ty, ReadError> {
    Ok(match &schema.schema_kind {
        SchemaKind::Type(Type::String(s)) => match &s.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Ty::Timestamp,
            _ => Ty::String,
        },
        SchemaKind::Type(Type::Boolean(_)) => Ty::Bool,
        SchemaKind::Type(Type::Integer(IntegerType { format, .. })) => match format {
            VariantOrUnknownOrEmpty::Unknown(f) if f == "uint32" => Ty::U32,
            VariantOrUnknownOrEmpty::Unknown(f) if f == "uint64" => Ty::U64,
            other => return Err(fail(source, format!("integer format {other:?}: use uint32 or uint64"))),
        },
        SchemaKind::Type(Type::Array(array)) => {
            let item = array.items.as_ref().ok_or_else(|| fail(source, "an array without items"))?;
            Ty::List(Box::new(match item {
                ReferenceOr::Reference { reference } => Ty::Named(ref_name(reference)),
                ReferenceOr::Item(s) => ty(source, s)?,
            }))
        }
        SchemaKind::Type(Type::Object(object)) if object.properties.is_empty() => match &object.additional_properties {
            Some(AdditionalProperties::Any(true)) => Ty::JsonObject,
            Some(AdditionalProperties::Schema(value)) => match value.as_item().map(|s| &s.schema_kind) {
                Some(SchemaKind::Type(Type::String(_))) => Ty::StringMap,
                _ => return Err(fail(source, "maps may only have string values")),
            },
            _ => return Err(fail(source, "an object without properties must declare additionalProperties")),
        },
        SchemaKind::Any(any) if any.typ.is_none() && any.properties.is_empty() => Ty::Json,
        other => return Err(fail(source, format!("unsupported schema {other:?}"))),
    })
}

/// What `schema` says about its values beyond their type (the specs use
/// inclusive bounds only; negative ones cannot bound unsigned fields).
fn constraints(schema: &Schema) -> Constraints {
    let mut c =
        Constraints { default: schema.schema_data.default.as_ref().map(|v| v.to_string()), ..Default::default() };
    match &schema.schema_kind {
        SchemaKind::Type(Type::Integer(i)) => {
            c.minimum = i.minimum.and_then(|n| u64::try_from(n).ok());
            c.maximum = i.maximum.and_then(|n| u64::try_from(n).ok());
        }
        SchemaKind::Type(Type::String(s)) => {
            c.min_length = s.min_length.map(|n| n as u64);
            c.max_length = s.max_length.map(|n| n as u64);
            c.pattern = s.pattern.clone();
        }
        _ => {}
    }
    c
}

/// What an operation does, from its method and the `x-read-only`,
/// `x-idempotent` and `x-destructive` extensions, which override it.
fn effects(method: &str, op: &openapiv3::Operation) -> Effects {
    let flag = |name: &str| op.extensions.get(name).and_then(|v| v.as_bool());
    let read_only = flag("x-read-only").unwrap_or(method == "get");
    Effects {
        read_only,
        destructive: flag("x-destructive").unwrap_or(method == "delete"),
        idempotent: flag("x-idempotent").unwrap_or(read_only || matches!(method, "put" | "patch" | "delete")),
    }
}

fn parameter(source: &str, doc: &OpenAPI, param: &ReferenceOr<Parameter>) -> Result<Field, ReadError> {
    let param = match param {
        ReferenceOr::Item(p) => p.clone(),
        ReferenceOr::Reference { reference } => {
            let name = ref_name(reference);
            let components = doc.components.as_ref();
            components
                .and_then(|c| c.parameters.get(&name))
                .and_then(|p| p.as_item())
                .cloned()
                .ok_or_else(|| fail(source, format!("unknown parameter `{reference}`")))?
        }
    };
    let data = param.parameter_data();
    let schema = match &data.format {
        openapiv3::ParameterSchemaOrContent::Schema(ReferenceOr::Item(s)) => s.clone(),
        _ => return Err(fail(source, format!("parameter `{}` needs an inline schema", data.name))),
    };
    Ok(Field {
        name: data.name.clone(),
        ty: ty(source, &schema)?,
        optional: Some(!data.required),
        doc: data.description,
        constraints: constraints(&schema),
    })
}

fn request_body(source: &str, doc: &OpenAPI, body: &ReferenceOr<RequestBody>) -> Result<String, ReadError> {
    let body = body.as_item().ok_or_else(|| fail(source, "request bodies must be inline"))?;
    let _ = doc;
    let media = body.content.get("application/json").ok_or_else(|| fail(source, "request bodies must be JSON"))?;
    match &media.schema {
        Some(ReferenceOr::Reference { reference }) => Ok(ref_name(reference)),
        _ => Err(fail(source, "a request body must $ref a schema")),
    }
}

/// The 200 response's model, and whether it is an event stream.
fn response(source: &str, id: &str, op: &openapiv3::Operation) -> Result<(String, bool), ReadError> {
    let ok = op
        .responses
        .responses
        .get(&StatusCode::Code(200))
        .and_then(|r| r.as_item())
        .ok_or_else(|| fail(source, format!("operation `{id}` has no inline 200 response")))?;
    for (media, stream) in [("application/json", false), ("text/event-stream", true)] {
        if let Some(ReferenceOr::Reference { reference }) = ok.content.get(media).and_then(|m| m.schema.as_ref()) {
            return Ok((ref_name(reference), stream));
        }
    }
    Err(fail(source, format!("operation `{id}`: the 200 response must $ref a schema")))
}

fn ref_name(reference: &str) -> String {
    reference.rsplit('/').next().unwrap_or(reference).to_owned()
}
