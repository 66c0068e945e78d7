//! proto3 into the IR, through the descriptor set of the vendored `protoc`
//! (so the file is read by the real compiler, not a hand-written parser).

use std::path::Path;
use std::process::Command;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type as ProtoType};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

use super::{ReadError, fail};
use crate::ir::{Api, Field, Model, OpKind, Operation, Shape, Ty};
use crate::names::{camel, field_from_proto, proto_enum_value};

/// The package and service the spec must declare.
pub const PACKAGE: &str = "pleme.vigy.v1";
/// The service.
pub const SERVICE: &str = "VigyService";
/// The message that gives a map presence (see the spec's conventions).
const STRING_MAP: &str = "StringMap";

/// Compile `file` (named `source` in messages) with protoc and read it.
pub fn read(source: &str, file: &Path) -> Result<Api, ReadError> {
    let set = descriptor_set(source, file)?;
    lower(source, &set)
}

/// Run the vendored protoc and decode its descriptor set.
pub fn descriptor_set(source: &str, file: &Path) -> Result<FileDescriptorSet, ReadError> {
    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(|e| fail(source, e.to_string()))?;
    let include = protoc_bin_vendored::include_path().map_err(|e| fail(source, e.to_string()))?;
    let dir = file.parent().ok_or_else(|| fail(source, "no directory"))?;
    let out = tempfile::NamedTempFile::new().map_err(|e| fail(source, e.to_string()))?;
    let status = Command::new(protoc)
        .arg("--include_imports")
        .arg(format!("--descriptor_set_out={}", out.path().display()))
        .arg(format!("-I{}", dir.display()))
        .arg(format!("-I{}", include.display()))
        .arg(file)
        .output()
        .map_err(|e| fail(source, format!("cannot run protoc: {e}")))?;
    if !status.status.success() {
        return Err(fail(source, String::from_utf8_lossy(&status.stderr).trim().to_owned()));
    }
    let bytes = std::fs::read(out.path()).map_err(|e| fail(source, e.to_string()))?;
    FileDescriptorSet::decode(bytes.as_slice()).map_err(|e| fail(source, e.to_string()))
}

fn lower(source: &str, set: &FileDescriptorSet) -> Result<Api, ReadError> {
    let file = set
        .file
        .iter()
        .find(|f| f.package() == PACKAGE)
        .ok_or_else(|| fail(source, format!("no file declares package `{PACKAGE}`")))?;
    let service = file
        .service
        .iter()
        .find(|s| s.name() == SERVICE)
        .ok_or_else(|| fail(source, format!("no service `{SERVICE}`")))?;
    let local = |type_name: &str| type_name.trim_start_matches(&format!(".{PACKAGE}.")).to_owned();
    let message = |name: &str| file.message_type.iter().find(|m| m.name() == name);

    let mut api = Api::new(source);
    let mut requests = Vec::new();
    for method in &service.method {
        let input_name = local(method.input_type());
        let input = message(&input_name).ok_or_else(|| fail(source, format!("unknown message `{input_name}`")))?;
        requests.push(input_name.clone());
        let mut params = Vec::new();
        let mut body = None;
        for field in &input.field {
            if field.name() == "body" {
                body = Some(local(field.type_name()));
            } else {
                params.push(self::field(source, input, field)?);
            }
        }
        let id = camel(method.name());
        api.operations.insert(
            id.clone(),
            Operation {
                id,
                kind: method.server_streaming().then_some(OpKind::Stream),
                params,
                body,
                output: local(method.output_type()),
                doc: None,
                http: None,
                effects: Default::default(),
                batch: false,
            },
        );
    }
    for msg in &file.message_type {
        // Request messages are operation inputs, not models (by convention
        // named `<Rpc>Request`, even when their rpc is gone).
        let request = requests.iter().any(|r| r == msg.name()) || msg.name().ends_with("Request");
        if request || msg.name() == STRING_MAP {
            continue;
        }
        let fields = msg.field.iter().map(|f| field(source, msg, f)).collect::<Result<_, _>>()?;
        api.models.insert(msg.name().to_owned(), Model::new(msg.name(), Shape::Struct(fields), None));
    }
    for e in &file.enum_type {
        let values =
            e.value.iter().map(|v| proto_enum_value(e.name(), v.name())).filter(|v| v != "unspecified").collect();
        api.models.insert(e.name().to_owned(), Model::new(e.name(), Shape::Enum(values), None));
    }
    Ok(api)
}

fn field(source: &str, owner: &DescriptorProto, f: &FieldDescriptorProto) -> Result<Field, ReadError> {
    let repeated = f.label() == Label::Repeated;
    let map_entry = owner.nested_type.iter().find(|n| {
        f.type_name().ends_with(&format!(".{}", n.name())) && n.options.as_ref().is_some_and(|o| o.map_entry())
    });
    let (ty, optional) = if let Some(entry) = map_entry {
        let strings = entry.field.iter().all(|e| e.r#type() == ProtoType::String);
        if !strings {
            return Err(fail(source, format!("field `{}`: maps may only map strings to strings", f.name())));
        }
        // An empty map reads as an absent one: proto cannot say "optional".
        (Ty::StringMap, None)
    } else {
        let base = match f.r#type() {
            ProtoType::String => Ty::String,
            ProtoType::Bool => Ty::Bool,
            ProtoType::Uint32 => Ty::U32,
            ProtoType::Uint64 => Ty::U64,
            ProtoType::Enum => Ty::Named(short(f.type_name())),
            ProtoType::Message => match f.type_name() {
                ".google.protobuf.Timestamp" => Ty::Timestamp,
                ".google.protobuf.Struct" => Ty::JsonObject,
                ".google.protobuf.Value" => Ty::Json,
                // The wrapper exists to give a map presence.
                name if short(name) == STRING_MAP => {
                    return Ok(Field {
                        name: f.name().to_owned(),
                        ty: Ty::StringMap,
                        optional: Some(true),
                        doc: None,
                        constraints: Default::default(),
                    });
                }
                name => Ty::Named(short(name)),
            },
            other => return Err(fail(source, format!("field `{}`: unsupported type {other:?}", f.name()))),
        };
        let is_message = f.r#type() == ProtoType::Message;
        match (repeated, is_message) {
            // Likewise an empty list.
            (true, _) => (Ty::List(Box::new(base)), None),
            // A message field always has presence: proto cannot say "required".
            (false, true) => (base, None),
            (false, false) => (base, Some(f.proto3_optional())),
        }
    };
    Ok(Field { name: field_from_proto(f.name()).to_owned(), ty, optional, doc: None, constraints: Default::default() })
}

fn short(type_name: &str) -> String {
    type_name.rsplit('.').next().unwrap_or(type_name).to_owned()
}
