//! `cargo xtask gen` regenerates `generated/` from `spec/`;
//! `cargo xtask gen --check` only compares, and exits 2 when a file is
//! stale (1 on any other error), naming the files and the command to run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask gen [--check]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["gen"] => false,
        ["gen", "--check"] => true,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    match generate(&workspace_root(), check) {
        Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
        Ok(stale) => {
            eprintln!("generated code is stale; run `cargo xtask gen` and commit:");
            for path in stale {
                eprintln!("  {}", path.display());
            }
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_owned()
}

/// Generate, then write (or, with `check`, only compare) every file.
/// Returns the files that differed.
fn generate(root: &Path, check: bool) -> Result<Vec<PathBuf>, vigy_codegen::Error> {
    let files = vigy_codegen::generate(root)?;
    let mut stale = Vec::new();
    for file in files {
        let path = root.join(&file.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current.replace("\r\n", "\n") == file.contents {
            continue;
        }
        stale.push(file.path.clone());
        if !check {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| vigy_codegen::Error::Io(e.to_string()))?;
            }
            std::fs::write(&path, &file.contents).map_err(|e| vigy_codegen::Error::Io(e.to_string()))?;
            println!("wrote {}", file.path.display());
        }
    }
    Ok(if check { stale } else { Vec::new() })
}

#[cfg(test)]
mod tests {
    /// `cargo test` fails when spec/, the generator and generated/ drift
    /// apart, without needing git.
    #[test]
    fn generated_is_fresh() {
        let stale = super::generate(&super::workspace_root(), true).unwrap_or_else(|e| panic!("{e}"));
        assert!(stale.is_empty(), "stale: {stale:?}; run `cargo xtask gen` and commit");
    }
}
