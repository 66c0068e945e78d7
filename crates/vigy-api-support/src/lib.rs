//! What the generated API crates share, written and tested once here
//! rather than in the generator's templates: the templates keep only the
//! per-operation glue.

pub mod cursor;
#[cfg(feature = "protobuf")]
pub mod protobuf;
#[cfg(feature = "tool-arguments")]
pub mod tool_arguments;
