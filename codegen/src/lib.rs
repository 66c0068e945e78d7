//! vigy's code generator: `spec/` in, `generated/` out.
//!
//! The pipeline, in order:
//! 1. **read** each spec with a real parser into the IR ([`ir::Api`]):
//!    OpenAPI with `openapiv3`, the proto through the vendored `protoc`'s
//!    descriptor set, the SDL with `async-graphql-parser`;
//! 2. **check** that the three agree ([`check::check`]), failing with one
//!    line per disagreement;
//! 3. **render** each target from the OpenAPI IR, with `quote!` and
//!    `prettyplease`, sorted iteration and no timestamps, so two runs give
//!    byte-identical files.
//!
//! `cargo xtask gen` writes the files; `cargo xtask gen --check` compares.

pub mod check;
pub mod ir;
pub mod names;
pub mod parse;
pub mod render;

use std::path::{Path, PathBuf};

use ir::Api;

/// The specs, relative to the workspace root.
pub const OPENAPI: &str = "spec/vigy.openapi.yaml";
/// The proto spec.
pub const PROTO: &str = "spec/vigy.proto";
/// The GraphQL spec.
pub const GRAPHQL: &str = "spec/vigy.graphql";

/// The three specs, read.
#[derive(Debug, Clone)]
pub struct Specs {
    /// The reference.
    pub openapi: Api,
    /// Checked against it.
    pub proto: Api,
    /// Checked against it.
    pub graphql: Api,
}

/// Why generation failed.
#[derive(Debug)]
pub enum Error {
    /// A spec could not be read.
    Read(parse::ReadError),
    /// The specs disagree; one line per problem.
    Disagree(Vec<String>),
    /// Reading a file failed.
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(e) => write!(f, "{e}"),
            Self::Disagree(problems) => {
                writeln!(f, "the specs disagree:")?;
                for p in problems {
                    writeln!(f, "  {p}")?;
                }
                Ok(())
            }
            Self::Io(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for Error {}

/// One file to write under the workspace root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Relative to the workspace root.
    pub path: PathBuf,
    /// Its content.
    pub contents: String,
}

/// Read the three specs under `root`.
pub fn read_specs(root: &Path) -> Result<Specs, Error> {
    let text = |rel: &str| std::fs::read_to_string(root.join(rel)).map_err(|e| Error::Io(format!("{rel}: {e}")));
    Ok(Specs {
        openapi: parse::openapi::read(OPENAPI, &text(OPENAPI)?).map_err(Error::Read)?,
        proto: parse::proto::read(PROTO, &root.join(PROTO)).map_err(Error::Read)?,
        graphql: parse::graphql::read(GRAPHQL, &text(GRAPHQL)?).map_err(Error::Read)?,
    })
}

/// Read, check and render everything `generated/` should hold.
pub fn generate(root: &Path) -> Result<Vec<GeneratedFile>, Error> {
    let specs = read_specs(root)?;
    let problems = check::check(&specs.openapi, &[&specs.proto, &specs.graphql]);
    if !problems.is_empty() {
        return Err(Error::Disagree(problems));
    }
    let fds = parse::proto::descriptor_set(PROTO, &root.join(PROTO)).map_err(Error::Read)?;
    let openapi_text = std::fs::read_to_string(root.join(OPENAPI)).map_err(|e| Error::Io(format!("{OPENAPI}: {e}")))?;
    Ok(render::all(&specs.openapi, &specs.proto, &specs.graphql, fds, &openapi_text))
}
