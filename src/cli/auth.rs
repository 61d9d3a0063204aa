//! `lockgate auth token NAME`: makes a token and prints one JSON line, `{"name", "token",
//! "config"}`; `config` is the TOML entry to add to `config.toml`, which holds only the
//! token's hash. The token is shown once: whoever holds it acts as NAME.

use super::CliError;
use crate::auth::{TokenHash, token};

#[derive(Debug, clap::Subcommand)]
pub enum AuthCommand {
    /// Make a token for principal NAME; prints {"name","token","config"} (add `config` to
    /// config.toml, then SIGHUP or restart the broker)
    Token {
        /// The principal's name, as [[acl]] rules grant it (letters, digits, '.', '_', '-')
        name: String,
    },
}

pub fn run(cmd: AuthCommand) -> Result<(), CliError> {
    match cmd {
        AuthCommand::Token { name } => {
            println!("{}", token_line(&name)?);
            Ok(())
        }
    }
}

/// The JSON line for a new token of `name`, its keys in the documented order.
pub fn token_line(name: &str) -> Result<String, CliError> {
    if !crate::config::auth::valid_name(name) {
        return Err(CliError(format!(
            "{name:?} is not a principal name (letters, digits, '.', '_', '-'; at most 128)"
        )));
    }
    let secret = token::generate().map_err(CliError)?;
    let config = token::config_entry(name, &TokenHash::of(&secret));
    let json = |s: &str| serde_json::Value::from(s).to_string();
    Ok(format!(
        "{{\"name\":{},\"token\":{},\"config\":{}}}",
        json(name),
        json(&secret),
        json(&config)
    ))
}
