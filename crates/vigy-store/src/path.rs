use std::path::PathBuf;

/// The environment variable that overrides the database path.
pub const DB_ENV: &str = "VIGY_DB";

/// `$VIGY_DB`, else `$XDG_DATA_HOME/vigy/vigy.db`, else
/// `~/.local/share/vigy/vigy.db`.
pub fn default_db_path() -> PathBuf {
    if let Some(path) = std::env::var_os(DB_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let data_home =
        std::env::var_os("XDG_DATA_HOME").filter(|p| !p.is_empty()).map(PathBuf::from).unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
            home.join(".local").join("share")
        });
    data_home.join("vigy").join("vigy.db")
}
