//! `zkinfer keys add|remove|list`: the operator's tool for the API key file of
//! `zkinfer serve --auth-keys FILE`. `add` makes a random secret, prints it
//! once on stdout and stores only its hash; the file's format and checks are
//! the library's ([`zkinfer::service::auth`]), so the tool never writes a file
//! `serve` would refuse.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use zkinfer::service::auth::{self, KeyFile, NewKey, Quotas, Scope, SecretHash};
use zkinfer::service::Tier;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a secret, print it once on stdout, and add its hash to FILE
    /// (created if missing; comments kept). A running `serve` picks the
    /// change up on SIGHUP.
    Add(AddArgs),
    /// Remove the key NAME from FILE (it stops working at the next SIGHUP).
    Remove {
        /// The key file.
        file: std::path::PathBuf,
        /// The key's name.
        name: String,
    },
    /// Check FILE as `serve` does and list its keys (names, grants, quotas;
    /// never secrets).
    List {
        /// The key file.
        file: std::path::PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The key file.
    file: std::path::PathBuf,
    /// The key's name (letters, digits, `.`, `_`, `-`): in logs and metrics.
    #[arg(long)]
    name: String,
    /// Models the key may use, comma-separated (`*`: every served model).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Tiers the key may request, comma-separated: inference, proof
    /// [default: both when --models is given].
    #[arg(long, value_delimiter = ',')]
    tiers: Option<Vec<String>>,
    /// Extra scopes, comma-separated: metrics (GET /metrics).
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// Requests of any kind per minute [default: [defaults] or no limit].
    #[arg(long)]
    requests_per_minute: Option<u32>,
    /// Proof-tier requests per minute.
    #[arg(long)]
    proofs_per_minute: Option<u32>,
    /// Proof requests of this key in the service at once.
    #[arg(long)]
    concurrent_proofs: Option<u32>,
    /// Fraction (0, 1] of the service's workers + queue its proofs may hold.
    #[arg(long)]
    queue_share: Option<f64>,
    /// Store an Argon2id hash instead of SHA-256 (for a secret a person chose:
    /// a generated 256-bit secret gains nothing from a slow hash).
    #[arg(long)]
    argon2: bool,
    /// Read the secret from stdin instead of generating one (nothing printed).
    #[arg(long)]
    secret_stdin: bool,
}

pub fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Add(args) => add(args),
        KeysCommand::Remove { file, name } => {
            let text = read(&file)?;
            let out = auth::remove_entry(&file, &text, &name)?;
            write_atomically(&file, &out)?;
            eprintln!(
                "removed key `{name}` from {}; send SIGHUP to a running `zkinfer serve` to apply it",
                file.display()
            );
            Ok(())
        }
        KeysCommand::List { file, json } => list(&file, json),
    }
}

fn read(file: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    let parse_list = |items: &[String], what: &str, parse: &dyn Fn(&str) -> bool| {
        for item in items {
            anyhow::ensure!(parse(item), "--{what}: `{item}` is not one of the {what}");
        }
        Ok(())
    };
    let tiers = args.tiers.clone().unwrap_or_else(|| {
        if args.models.is_empty() {
            Vec::new()
        } else {
            vec!["inference".into(), "proof".into()]
        }
    });
    parse_list(&tiers, "tiers", &|t| Tier::parse(t).is_some())?;
    parse_list(&args.scopes, "scopes", &|s| Scope::parse(s).is_some())?;
    let (secret, generated) = if args.secret_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the secret from stdin")?;
        let s = s.trim_end_matches(['\r', '\n']).to_string();
        anyhow::ensure!(!s.is_empty(), "the secret on stdin is empty");
        if !args.argon2 {
            eprintln!(
                "warning: a secret a person chose is better stored with --argon2: \
                 a SHA-256 of it can be guessed at offline if the key file leaks"
            );
        }
        (s, false)
    } else {
        let s = auth::generate_secret()
            .map_err(|e| anyhow::anyhow!("no randomness for a secret: {e}"))?;
        (s, true)
    };
    let hash = if args.argon2 {
        SecretHash::argon2_of(&secret).map_err(anyhow::Error::msg)?
    } else {
        SecretHash::sha256_of(&secret)
    };
    let key = NewKey {
        name: args.name.clone(),
        hash,
        models: args.models.clone(),
        tiers: tiers.iter().filter_map(|t| Tier::parse(t)).collect(),
        scopes: args.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
        quotas: Quotas {
            requests_per_minute: args.requests_per_minute,
            proofs_per_minute: args.proofs_per_minute,
            concurrent_proofs: args.concurrent_proofs,
            queue_share: args.queue_share,
        },
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", args.file.display())),
    };
    let out = auth::add_entry(&args.file, &text, &key)?;
    write_atomically(&args.file, &out)?;
    if generated {
        // The only time the secret exists outside the client: stdout alone,
        // so `SECRET=$(zkinfer keys add ...)` captures it.
        println!("{secret}");
    }
    eprintln!(
        "added key `{}` to {}{}; send SIGHUP to a running `zkinfer serve` to load it",
        args.name,
        args.file.display(),
        if generated {
            " (its secret is printed above, once: store it now)"
        } else {
            ""
        }
    );
    Ok(())
}

/// Writes `text` to `file` through a temporary file in the same folder, so
/// a reload never sees half a file; a new file is private (0600), an
/// existing one keeps its permissions.
fn write_atomically(file: &Path, text: &str) -> anyhow::Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    if let Ok(meta) = std::fs::metadata(file) {
        std::fs::set_permissions(tmp.path(), meta.permissions())
            .with_context(|| format!("cannot set the permissions of {}", tmp.path().display()))?;
    }
    tmp.persist(file)
        .with_context(|| format!("cannot replace {}", file.display()))?;
    Ok(())
}

fn list(file: &Path, json: bool) -> anyhow::Result<()> {
    let keys = KeyFile::load(file)?;
    let rows: Vec<serde_json::Value> = keys
        .entries
        .iter()
        .map(|e| {
            serde_json::json!({
                "name": e.name,
                "hash": match e.hash {
                    SecretHash::Sha256(_) => "sha256",
                    SecretHash::Argon2 { .. } => "argon2",
                },
                "models": match &e.models {
                    auth::ModelGrant::All => vec!["*".to_string()],
                    auth::ModelGrant::Only(names) => names.iter().cloned().collect(),
                },
                "tiers": e.tiers.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
                "scopes": e.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "requests_per_minute": e.quotas.requests_per_minute,
                "proofs_per_minute": e.quotas.proofs_per_minute,
                "concurrent_proofs": e.quotas.concurrent_proofs,
                "queue_share": e.quotas.queue_share,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let joined = |v: &serde_json::Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".into())
    };
    let limit = |v: &serde_json::Value| {
        if v.is_null() {
            "-".to_string()
        } else {
            v.to_string()
        }
    };
    println!(
        "{:<20} {:<7} {:<28} {:<16} {:<8} {:>7} {:>7} {:>6} {:>6}",
        "name", "hash", "models", "tiers", "scopes", "req/min", "prf/min", "concur", "share"
    );
    for r in &rows {
        println!(
            "{:<20} {:<7} {:<28} {:<16} {:<8} {:>7} {:>7} {:>6} {:>6}",
            r["name"].as_str().unwrap_or_default(),
            r["hash"].as_str().unwrap_or_default(),
            joined(&r["models"]),
            joined(&r["tiers"]),
            joined(&r["scopes"]),
            limit(&r["requests_per_minute"]),
            limit(&r["proofs_per_minute"]),
            limit(&r["concurrent_proofs"]),
            limit(&r["queue_share"]),
        );
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    eprintln!("{}: valid, {} key{plural}", file.display(), rows.len());
    Ok(())
}
