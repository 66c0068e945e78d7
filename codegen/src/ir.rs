//! The one model every spec lowers into: operations and the types they
//! use. Names are normalised here — fields and enum values in snake_case,
//! operations by their OpenAPI `operationId` — so the checker compares
//! like with like and renderers have no special cases.

use std::collections::BTreeMap;
use std::fmt;

/// A field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    /// Text.
    String,
    /// `true` / `false`.
    Bool,
    /// An unsigned 32-bit integer.
    U32,
    /// An unsigned 64-bit integer.
    U64,
    /// An RFC 3339 instant.
    Timestamp,
    /// Any JSON value.
    Json,
    /// A JSON object.
    JsonObject,
    /// String keys to string values.
    StringMap,
    /// A list.
    List(Box<Ty>),
    /// A model of the spec, by name.
    Named(String),
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Bool => f.write_str("bool"),
            Self::U32 => f.write_str("u32"),
            Self::U64 => f.write_str("u64"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::Json => f.write_str("json"),
            Self::JsonObject => f.write_str("json object"),
            Self::StringMap => f.write_str("map<string, string>"),
            Self::List(item) => write!(f, "list<{item}>"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

/// A field of a model, or a parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// snake_case.
    pub name: String,
    /// Its type.
    pub ty: Ty,
    /// Whether it may be absent or null; `None` where the spec cannot say
    /// (a proto3 message field always has presence).
    pub optional: Option<bool>,
    /// Its description.
    pub doc: Option<String>,
    /// The limits on its values; empty where the spec cannot state them
    /// (proto and GraphQL SDL have no words for them, so only OpenAPI's
    /// are read).
    pub constraints: Constraints,
}

/// What a spec says about a field's values beyond its type, as OpenAPI
/// (JSON Schema) states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// Smallest number allowed (inclusive).
    pub minimum: Option<u64>,
    /// Largest number allowed (inclusive).
    pub maximum: Option<u64>,
    /// Fewest characters of a string.
    pub min_length: Option<u64>,
    /// Most characters of a string.
    pub max_length: Option<u64>,
    /// A regular expression a string matches (ECMA 262, unanchored).
    pub pattern: Option<String>,
    /// The value used when it is absent, as JSON text.
    pub default: Option<String>,
}

impl Constraints {
    /// Whether the spec says nothing beyond the type.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A model's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Named fields, in spec order.
    Struct(Vec<Field>),
    /// String values, snake_case, in spec order.
    Enum(Vec<String>),
}

/// A named type of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// PascalCase.
    pub name: String,
    /// Fields or values.
    pub shape: Shape,
    /// Its description.
    pub doc: Option<String>,
    /// For a page of a list (see [`Model::page_item`]): the item's field
    /// whose value its cursor stands for (`x-cursor`, OpenAPI only).
    pub cursor_key: Option<String>,
}

impl Model {
    /// A model of `name` with `shape`, nothing else said.
    pub fn new(name: impl Into<String>, shape: Shape, doc: Option<String>) -> Self {
        Self { name: name.into(), shape, doc, cursor_key: None }
    }

    /// The item type's name when this model is one page of a list: the
    /// fields [`PAGE_ITEMS`] (a list of a model) and [`NEXT_CURSOR`] (an
    /// optional string), and nothing else. Every transport pages such a
    /// model its own way (GraphQL as a connection, gRPC with page tokens).
    pub fn page_item(&self) -> Option<&str> {
        let Shape::Struct(fields) = &self.shape else { return None };
        let [items, next] = fields.as_slice() else { return None };
        let item = match &items.ty {
            Ty::List(item) if items.name == PAGE_ITEMS => match item.as_ref() {
                Ty::Named(name) => name,
                _ => return None,
            },
            _ => return None,
        };
        (next.name == NEXT_CURSOR && next.ty == Ty::String && next.optional != Some(false)).then_some(item.as_str())
    }
}

/// The field of a page holding its items.
pub const PAGE_ITEMS: &str = "items";
/// The field of a page holding the cursor of the next one.
pub const NEXT_CURSOR: &str = "next_cursor";
/// The parameter of a paged operation bounding the page's size.
pub const PAGE_LIMIT: &str = "limit";
/// The parameter of a paged operation saying where to go on.
pub const PAGE_CURSOR: &str = "cursor";

/// What an operation does, which decides its place in each transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Reads (HTTP GET, GraphQL Query).
    Read,
    /// Changes (HTTP POST/PATCH/DELETE, GraphQL Mutation).
    Change,
    /// A stream of events (SSE, server stream, Subscription).
    Stream,
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Change => "change",
            Self::Stream => "stream",
        })
    }
}

/// Where an operation lives in HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    /// Lowercase method.
    pub method: String,
    /// Path template, e.g. `/v1/vigies/{id}`.
    pub path: String,
}

/// One operation of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// camelCase `operationId`.
    pub id: String,
    /// `None` where the spec cannot say (proto has no read/change split).
    pub kind: Option<OpKind>,
    /// Path and query parameters, by name.
    pub params: Vec<Field>,
    /// The request body's model, if any.
    pub body: Option<String>,
    /// The response's model (each event's, for a stream).
    pub output: String,
    /// Its summary.
    pub doc: Option<String>,
    /// Its HTTP binding (OpenAPI only).
    pub http: Option<Http>,
    /// What calling it does to the vigies, for clients that ask before
    /// acting (MCP's tool annotations); OpenAPI only, the defaults
    /// elsewhere.
    pub effects: Effects,
    /// Whether the core trait also takes it many at a time (`x-batch`,
    /// OpenAPI only): `<op>_many`, which GraphQL's nested fields call
    /// through a DataLoader so a page costs a fixed number of calls.
    pub batch: bool,
}

/// What an operation does to the state it manages. From the HTTP method
/// (GET reads; DELETE destroys; PATCH and DELETE are idempotent), unless
/// the OpenAPI operation says otherwise with `x-read-only`, `x-idempotent`
/// or `x-destructive`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// It changes nothing.
    pub read_only: bool,
    /// It may remove or overwrite what is stored.
    pub destructive: bool,
    /// Calling it twice with the same arguments does what calling it once
    /// does.
    pub idempotent: bool,
}

/// Everything one spec says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// The spec file it was read from, e.g. `spec/vigy.proto`.
    pub source: String,
    /// Operations by id (sorted, so output is deterministic).
    pub operations: BTreeMap<String, Operation>,
    /// Models by name.
    pub models: BTreeMap<String, Model>,
    /// The fields of object types that resolve by calling an operation
    /// (GraphQL's `@bind`; empty for the other specs).
    pub edges: Vec<Edge>,
    /// The root field each operation is in GraphQL, where it is not named
    /// as the operation (a read bound with `@bind`).
    pub graphql_fields: BTreeMap<String, String>,
}

impl Api {
    /// An empty API read from `source`.
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            operations: BTreeMap::new(),
            models: BTreeMap::new(),
            edges: Vec::new(),
            graphql_fields: BTreeMap::new(),
        }
    }

    /// The GraphQL root field of operation `id`.
    pub fn graphql_field(&self, id: &str) -> String {
        self.graphql_fields.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }
}

/// A field of a model that resolves by calling an operation: GraphQL's
/// `Vigy.runs(first:, after:) @bind(op: "listVigyRuns")`. The operation's
/// parameters the field does not take as arguments come from the parent's
/// fields of the same name (`id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The model it is a field of.
    pub model: String,
    /// Its name, snake_case.
    pub field: String,
    /// The operation it calls.
    pub op: String,
    /// The parameters it takes as arguments (IR names: `limit`, `cursor`).
    pub args: Vec<String>,
    /// The model it returns.
    pub output: String,
    /// Its description.
    pub doc: Option<String>,
}
