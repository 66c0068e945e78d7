//! The generator on the real specs and on edited copies of them.

use std::path::{Path, PathBuf};

use vigy_codegen::ir::{OpKind, Ty};
use vigy_codegen::{GRAPHQL, OPENAPI, PROTO, check, generate, read_specs};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A copy of spec/ in a temporary workspace, with `edit` applied to one file.
fn edited(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spec")).unwrap();
    for spec in [OPENAPI, PROTO, GRAPHQL] {
        let mut text = std::fs::read_to_string(root().join(spec)).unwrap();
        if spec == file {
            assert!(text.contains(from), "{from:?} is not in {spec}");
            text = text.replacen(from, to, 1);
        }
        std::fs::write(dir.path().join(spec), text).unwrap();
    }
    dir
}

fn problems(dir: &Path) -> Vec<String> {
    let specs = read_specs(dir).unwrap_or_else(|e| panic!("{e}"));
    check::check(&specs.openapi, &[&specs.proto, &specs.graphql])
}

#[test]
fn the_three_specs_should_agree() {
    assert_eq!(problems(&root()), Vec::<String>::new());
}

#[test]
fn the_readers_should_lower_every_operation_with_its_shape() {
    let specs = read_specs(&root()).unwrap();
    for api in [&specs.openapi, &specs.proto, &specs.graphql] {
        assert_eq!(api.operations.len(), 16, "{}", api.source);
        assert_eq!(api.operations["updateVigy"].body.as_deref(), Some("UpdateVigy"), "{}", api.source);
        assert_eq!(api.operations["updateVigy"].params[0].name, "id", "{}", api.source);
        assert_eq!(api.operations["streamEvents"].output, "VigyRun", "{}", api.source);
    }
    assert_eq!(specs.openapi.operations["streamEvents"].kind, Some(OpKind::Stream));
    assert_eq!(specs.proto.operations["streamEvents"].kind, Some(OpKind::Stream));
    assert_eq!(specs.graphql.operations["getVigy"].kind, Some(OpKind::Read));
    // A POST that changes nothing (`x-read-only`) is a read, a GraphQL query.
    assert_eq!(specs.openapi.operations["simulateProgram"].kind, Some(OpKind::Read));
    assert_eq!(specs.graphql.operations["simulateProgram"].kind, Some(OpKind::Read));
    // What OpenAPI says of values and effects is in the model.
    let register = &specs.openapi.models["RegisterVigy"];
    let vigy_codegen::ir::Shape::Struct(fields) = &register.shape else { panic!() };
    let interval = &fields.iter().find(|f| f.name == "tick_interval_ms").unwrap().constraints;
    assert_eq!((interval.minimum, interval.maximum), (Some(100), Some(604_800_000)));
    let effects = |id: &str| specs.openapi.operations[id].effects;
    assert!(effects("getVigy").read_only && effects("getVigy").idempotent && !effects("getVigy").destructive);
    assert!(effects("deleteVigy").destructive && effects("deleteVigy").idempotent);
    assert!(effects("registerVigy").idempotent && !effects("tickVigy").idempotent);
    let http = specs.openapi.operations["tickVigy"].http.clone().unwrap();
    assert_eq!((http.method.as_str(), http.path.as_str()), ("post", "/v1/vigies/{id}/tick"));
    // The proto wrapper that gives a map presence reads as a map.
    let update = &specs.proto.models["UpdateVigy"];
    let vigy_codegen::ir::Shape::Struct(fields) = &update.shape else { panic!() };
    assert_eq!(fields.iter().find(|f| f.name == "labels").unwrap().ty, Ty::StringMap);
}

#[test]
fn a_missing_operation_should_be_named_with_its_spec() {
    let dir = edited(PROTO, "  rpc TickVigy(TickVigyRequest) returns (VigyRun);\n", "");
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.proto: operation `tickVigy` is missing (it is in spec/vigy.openapi.yaml)"]
    );
}

#[test]
fn a_renamed_field_should_be_reported_on_both_sides() {
    let dir = edited(GRAPHQL, "  tickIntervalMs: UInt64\n  \"Its cron", "  intervalMs: UInt64\n  \"Its cron");
    assert_eq!(
        problems(dir.path()),
        [
            "spec/vigy.graphql: type `Vigy`: field `interval_ms` is not in spec/vigy.openapi.yaml",
            "spec/vigy.graphql: type `Vigy`: field `tick_interval_ms` is missing (it is in spec/vigy.openapi.yaml)",
        ]
    );
}

#[test]
fn a_type_mismatch_should_name_both_types() {
    let dir = edited(PROTO, "  bool enabled = 5;", "  string enabled = 5;");
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.proto: type `Vigy`: field `enabled` is string, spec/vigy.openapi.yaml says bool"]
    );
}

#[test]
fn a_missing_enum_value_should_be_named() {
    let dir = edited(GRAPHQL, "enum RunResult {\n  OK\n  FAILED\n  SKIPPED\n}", "enum RunResult {\n  OK\n  FAILED\n}");
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.graphql: enum `RunResult`: value `skipped` is missing (it is in spec/vigy.openapi.yaml)"]
    );
}

#[test]
fn a_nullability_mismatch_should_be_reported() {
    let dir = edited(GRAPHQL, "  error: String\n", "  error: String!\n");
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.graphql: type `VigyRun`: field `error` is required, spec/vigy.openapi.yaml says optional"]
    );
}

#[test]
fn an_edge_bound_to_an_unbatched_read_should_be_refused() {
    // `getVigy` is a read without `x-batch`, and it returns a `Vigy`.
    let dir =
        edited(GRAPHQL, r#"state: VigyState! @bind(op: "getVigyState")"#, r#"state: VigyState! @bind(op: "getVigy")"#);
    assert_eq!(
        problems(dir.path()),
        [
            "spec/vigy.graphql: field `Vigy.state` (@bind `getVigy`): only a read marked x-batch in spec/vigy.openapi.yaml can resolve a nested field",
            "spec/vigy.graphql: field `Vigy.state` (@bind `getVigy`): returns `VigyState`, the operation returns `Vigy`",
        ]
    );
}

#[test]
fn an_edge_bound_to_no_operation_should_be_refused() {
    let dir = edited(GRAPHQL, r#"kv: VigyKv! @bind(op: "getVigyKv")"#, r#"kv: VigyKv! @bind(op: "getKv")"#);
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.graphql: field `Vigy.kv` (@bind `getKv`): no such operation in spec/vigy.openapi.yaml"]
    );
}

#[test]
fn a_parameter_mismatch_should_name_the_operation() {
    let dir = edited(
        PROTO,
        "optional uint32 page_size = 2;\n  // The `next_page_token`",
        "optional uint64 page_size = 2;\n  // The `next_page_token`",
    );
    assert_eq!(
        problems(dir.path()),
        ["spec/vigy.proto: operation `listVigyRuns`: parameter `limit` is u64, spec/vigy.openapi.yaml says u32"]
    );
}

#[test]
fn generation_should_refuse_disagreeing_specs() {
    let dir = edited(PROTO, "  bool enabled = 5;", "  string enabled = 5;");
    let err = generate(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with("the specs disagree:\n  spec/vigy.proto: type `Vigy`"), "{err}");
}

#[test]
fn generation_should_be_deterministic() {
    assert_eq!(generate(&root()).unwrap(), generate(&root()).unwrap());
}

#[test]
fn an_edit_should_change_only_what_it_implies() {
    let before = generate(&root()).unwrap();
    let dir = edited(
        OPENAPI,
        "    LogLine:\n      type: object\n      required: [level, message]\n      properties:\n",
        "    LogLine:\n      type: object\n      required: [level, message]\n      properties:\n        source:\n          type: string\n          nullable: true\n",
    );
    // The same field in the other two specs, or they would disagree.
    for (spec, from, to) in [
        (
            PROTO,
            "message LogLine {\n  string level = 1;\n  string message = 2;\n",
            "message LogLine {\n  string level = 1;\n  string message = 2;\n  optional string source = 3;\n",
        ),
        (
            GRAPHQL,
            "type LogLine {\n  level: String!\n  message: String!\n",
            "type LogLine {\n  level: String!\n  message: String!\n  source: String\n",
        ),
    ] {
        let path = dir.path().join(spec);
        let text = std::fs::read_to_string(&path).unwrap().replacen(from, to, 1);
        std::fs::write(path, text).unwrap();
    }
    let after = generate(dir.path()).unwrap();
    let lib = |files: &[vigy_codegen::GeneratedFile]| {
        files
            .iter()
            .find(|f| f.path.ends_with("lib.rs"))
            .unwrap()
            .contents
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (old, new) = (lib(&before), lib(&after));
    let added: Vec<&String> = new.iter().filter(|l| !old.contains(l)).collect();
    let removed: Vec<&String> = old.iter().filter(|l| !new.contains(l)).collect();
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(added, ["    pub source: ::std::option::Option<::std::string::String>,"]);
}

#[test]
fn the_core_trait_surface_should_match_its_snapshot() {
    let files = generate(&root()).unwrap();
    let lib = &files.iter().find(|f| f.path.ends_with("lib.rs")).unwrap().contents;
    let file = syn::parse_file(lib).unwrap();
    let mut surface = Vec::new();
    for item in &file.items {
        match item {
            syn::Item::Trait(t) => {
                for item in &t.items {
                    if let syn::TraitItem::Fn(f) = item {
                        let sig = &f.sig;
                        surface.push(quote::quote!(#sig).to_string());
                    }
                }
            }
            syn::Item::Struct(s) => {
                let fields: Vec<String> = s
                    .fields
                    .iter()
                    .map(|f| {
                        let (name, ty) = (&f.ident, &f.ty);
                        format!("{}: {}", quote::quote!(#name), quote::quote!(#ty))
                    })
                    .collect();
                surface.push(format!("struct {} {{ {} }}", s.ident, fields.join(", ")));
            }
            syn::Item::Enum(e) => {
                let variants: Vec<String> = e.variants.iter().map(|v| v.ident.to_string()).collect();
                surface.push(format!("enum {} {{ {} }}", e.ident, variants.join(", ")));
            }
            _ => {}
        }
    }
    insta::assert_snapshot!(surface.join("\n"));
}

#[test]
fn a_field_named_as_a_rust_keyword_should_be_raw_and_keep_its_wire_name() {
    let files = generate(&root()).unwrap();
    let text = |path: &str| files.iter().find(|f| f.path.ends_with(path)).unwrap().contents.clone();
    for path in [
        "vigy-api/src/lib.rs",
        "vigy-api-graphql/src/lib.rs",
        "vigy-api-graphql-client/src/lib.rs",
        "vigy-api-grpc/src/lib.rs",
    ] {
        assert!(text(path).contains("pub r#type: ") || text(path).contains("r#type: v.r#type"), "{path}");
    }
    // cynic names a field by its Rust identifier, so the raw one is renamed back.
    let client = text("vigy-api-graphql-client/src/lib.rs");
    assert!(client.contains("#[cynic(rename = \"type\")]\n    pub r#type:"), "{client}");
}

/// What reading `dir`'s specs refuses, in the reader's words.
fn read_refusal(dir: &Path) -> String {
    match read_specs(dir) {
        Ok(_) => panic!("the specs were read"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_page_without_its_cursor_key_should_be_refused() {
    let dir = edited(OPENAPI, "      x-cursor: name\n", "");
    let refusal = read_refusal(dir.path());
    assert!(
        refusal.contains("schema `VigyList` is a page: x-cursor must name the `Vigy` field it is sorted by"),
        "{refusal}"
    );
    let dir = edited(OPENAPI, "      x-cursor: name\n", "      x-cursor: tick_interval_ms\n");
    let refusal = read_refusal(dir.path());
    assert!(
        refusal.contains("schema `VigyList`: x-cursor `tick_interval_ms` is not a required string of `Vigy`"),
        "{refusal}"
    );
}

#[test]
fn a_paged_operation_without_a_cursor_should_be_refused() {
    let dir = edited(OPENAPI, "        - $ref: \"#/components/parameters/Cursor\"\n", "");
    let refusal = read_refusal(dir.path());
    assert!(refusal.contains("returns a page: it takes an optional `cursor`"), "{refusal}");
}
