//! The key file of `zkinfer serve --auth-keys FILE` (TOML): what each key may
//! do, its quotas, and the hash of its secret, never the secret itself.
//!
//! ```toml
//! # Quotas for every key that does not set its own (each field optional).
//! [defaults]
//! queue_share = 0.5
//!
//! [[key]]
//! name = "checkout"                       # letters, digits, `.`, `_`, `-`
//! hash = "sha256:5e88…"                   # or "$argon2id$v=19$m=…,t=…,p=…$salt$hash"
//! models = ["authorization"]              # or ["*"] for every served model
//! tiers = ["inference", "proof"]
//! scopes = ["metrics"]                    # optional: GET /metrics
//! requests_per_minute = 600               # optional quotas
//! proofs_per_minute = 30
//! concurrent_proofs = 2
//! queue_share = 0.25
//! ```
//!
//! Parsing checks every entry and names the file, the entry (its number, line
//! and name) and what is wrong; it never panics. Editing ([`add_entry`],
//! [`remove_entry`]) keeps the file's comments and layout and re-checks the
//! result, so the key tool never writes a file `serve` would refuse. This file
//! knows nothing of requests or HTTP.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::secret::SecretHash;
use crate::service::Tier;

/// Extra rights beyond proving and verifying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// `GET /metrics` (unless the service runs with public metrics).
    Metrics,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "metrics" => Some(Scope::Metrics),
            _ => None,
        }
    }
}

/// Per-key limits; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quotas {
    /// Requests of any kind per minute (bursts up to this many).
    pub requests_per_minute: Option<u32>,
    /// Proof-tier requests per minute (bursts up to this many).
    pub proofs_per_minute: Option<u32>,
    /// Proof requests of this key in the service at once (waiting or proving).
    pub concurrent_proofs: Option<u32>,
    /// Fraction (0, 1] of the service's proof capacity (`workers + queue`) this
    /// key's proof requests may hold at once (at least one slot).
    pub queue_share: Option<f64>,
}

impl Quotas {
    /// Each field of `self`, or `defaults`' where `self` has none.
    pub fn or(self, defaults: Quotas) -> Quotas {
        Quotas {
            requests_per_minute: self.requests_per_minute.or(defaults.requests_per_minute),
            proofs_per_minute: self.proofs_per_minute.or(defaults.proofs_per_minute),
            concurrent_proofs: self.concurrent_proofs.or(defaults.concurrent_proofs),
            queue_share: self.queue_share.or(defaults.queue_share),
        }
    }

    /// The most proof requests this key may have in a service of `capacity`
    /// (`workers + queue`) slots, if limited.
    pub fn proof_slots(&self, capacity: usize) -> Option<(usize, &'static str)> {
        let concurrent = self
            .concurrent_proofs
            .map(|n| (n as usize, "concurrent_proofs"));
        let share = self.queue_share.map(|f| {
            let slots = (f * capacity as f64).floor() as usize;
            (slots.max(1), "queue_share")
        });
        match (concurrent, share) {
            (Some(c), Some(s)) => Some(if s.0 < c.0 { s } else { c }),
            (c, s) => c.or(s),
        }
    }

    fn check(&self) -> Result<(), EntryProblem> {
        for (field, value) in [
            ("requests_per_minute", self.requests_per_minute),
            ("proofs_per_minute", self.proofs_per_minute),
            ("concurrent_proofs", self.concurrent_proofs),
        ] {
            if value == Some(0) {
                return Err(EntryProblem::ZeroQuota { field });
            }
        }
        if let Some(f) = self.queue_share {
            if !(f > 0.0 && f <= 1.0) {
                return Err(EntryProblem::BadShare(f));
            }
        }
        Ok(())
    }
}

/// The models a key may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelGrant {
    /// `["*"]`: every served model.
    All,
    Only(BTreeSet<String>),
}

impl ModelGrant {
    pub fn allows(&self, model: &str) -> bool {
        match self {
            ModelGrant::All => true,
            ModelGrant::Only(names) => names.contains(model),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, ModelGrant::Only(names) if names.is_empty())
    }
}

/// One key, checked.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub name: String,
    pub hash: SecretHash,
    pub models: ModelGrant,
    pub tiers: BTreeSet<Tier>,
    pub scopes: BTreeSet<Scope>,
    /// The key's quotas with `[defaults]` filled in.
    pub quotas: Quotas,
    /// Its line in the file (1-based), for messages.
    pub line: usize,
}

/// A checked key file.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub path: PathBuf,
    pub defaults: Quotas,
    pub entries: Vec<KeyEntry>,
}

/// What is wrong with one entry (or with `[defaults]`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EntryProblem {
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`name` must be 1 to 64 letters, digits, `.`, `_` or `-` (it appears in logs and metric labels)")]
    BadName,
    #[error("the name is already used by entry {first} (line {first_line})")]
    DuplicateName { first: usize, first_line: usize },
    #[error("`hash`: {0}")]
    BadHash(String),
    #[error("`models`: {0}")]
    BadModel(String),
    #[error("`tiers`: `{0}` is not a tier (expected `inference` or `proof`)")]
    UnknownTier(String),
    #[error("`scopes`: `{0}` is not a scope (expected `metrics`)")]
    UnknownScope(String),
    #[error("`tiers` without `models`: the key could not use any tier")]
    TiersWithoutModels,
    #[error("the key grants nothing: give it `models` (and `tiers`) or `scopes`")]
    GrantsNothing,
    #[error("`{field}` must be at least 1 (leave it out for no limit)")]
    ZeroQuota { field: &'static str },
    #[error("`queue_share` must be in (0, 1], got {0}")]
    BadShare(f64),
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("key file {}, entry {index} (line {line}, {}): {problem}", path.display(), match name {
        Some(name) => format!("key `{name}`"),
        None => "no name".to_string(),
    })]
    Entry {
        path: PathBuf,
        /// 1-based position among the `[[key]]` entries.
        index: usize,
        line: usize,
        name: Option<String>,
        problem: EntryProblem,
    },
    #[error("key file {}, [defaults]: {problem}", path.display())]
    Defaults {
        path: PathBuf,
        problem: EntryProblem,
    },
    #[error("key file {}: no key named `{name}`", path.display())]
    NoSuchKey { path: PathBuf, name: String },
    #[error("key file {}: {message}", path.display())]
    Edit { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Option<RawQuotas>,
    #[serde(default)]
    key: Vec<toml::Spanned<RawKey>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawQuotas {
    requests_per_minute: Option<u32>,
    proofs_per_minute: Option<u32>,
    concurrent_proofs: Option<u32>,
    queue_share: Option<f64>,
}

impl From<RawQuotas> for Quotas {
    fn from(r: RawQuotas) -> Self {
        Quotas {
            requests_per_minute: r.requests_per_minute,
            proofs_per_minute: r.proofs_per_minute,
            concurrent_proofs: r.concurrent_proofs,
            queue_share: r.queue_share,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Option<String>,
    hash: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    tiers: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    requests_per_minute: Option<u32>,
    proofs_per_minute: Option<u32>,
    concurrent_proofs: Option<u32>,
    queue_share: Option<f64>,
}

/// Whether `name` is a valid key name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl KeyFile {
    /// Reads and checks the key file at `path`.
    pub fn load(path: &Path) -> Result<KeyFile, KeyFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        KeyFile::parse(path, &text)
    }

    /// Checks `text` as the key file `path` (named in errors only).
    pub fn parse(path: &Path, text: &str) -> Result<KeyFile, KeyFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| KeyFileError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let defaults: Quotas = raw.defaults.unwrap_or_default().into();
        defaults.check().map_err(|problem| KeyFileError::Defaults {
            path: path.to_path_buf(),
            problem,
        })?;
        let mut entries: Vec<KeyEntry> = Vec::with_capacity(raw.key.len());
        for (i, spanned) in raw.key.into_iter().enumerate() {
            let line = line_of(text, spanned.span().start);
            let raw = spanned.into_inner();
            let name = raw.name.clone();
            let fail = |problem| KeyFileError::Entry {
                path: path.to_path_buf(),
                index: i + 1,
                line,
                name: name.clone(),
                problem,
            };
            if let Some((first, e)) = entries
                .iter()
                .enumerate()
                .find(|(_, e)| Some(&e.name) == name.as_ref())
            {
                return Err(fail(EntryProblem::DuplicateName {
                    first: first + 1,
                    first_line: e.line,
                }));
            }
            entries.push(check_entry(raw, defaults, line).map_err(fail)?);
        }
        Ok(KeyFile {
            path: path.to_path_buf(),
            defaults,
            entries,
        })
    }
}

fn check_entry(raw: RawKey, defaults: Quotas, line: usize) -> Result<KeyEntry, EntryProblem> {
    let name = raw.name.ok_or(EntryProblem::Missing("name"))?;
    if !valid_name(&name) {
        return Err(EntryProblem::BadName);
    }
    let hash = raw.hash.ok_or(EntryProblem::Missing("hash"))?;
    let hash = SecretHash::parse(&hash).map_err(EntryProblem::BadHash)?;
    let models = if raw.models.iter().any(|m| m == "*") {
        if raw.models.len() > 1 {
            return Err(EntryProblem::BadModel(
                "`*` (every model) stands alone".into(),
            ));
        }
        ModelGrant::All
    } else {
        for m in &raw.models {
            if m.is_empty() || m.chars().any(char::is_control) {
                return Err(EntryProblem::BadModel(format!("{m:?} is not a model name")));
            }
        }
        ModelGrant::Only(raw.models.into_iter().collect())
    };
    let tiers = raw
        .tiers
        .iter()
        .map(|t| Tier::parse(t).ok_or_else(|| EntryProblem::UnknownTier(t.clone())))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let scopes = raw
        .scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| EntryProblem::UnknownScope(s.clone())))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if !tiers.is_empty() && models.is_empty() {
        return Err(EntryProblem::TiersWithoutModels);
    }
    if models.is_empty() && scopes.is_empty() {
        return Err(EntryProblem::GrantsNothing);
    }
    let own = Quotas {
        requests_per_minute: raw.requests_per_minute,
        proofs_per_minute: raw.proofs_per_minute,
        concurrent_proofs: raw.concurrent_proofs,
        queue_share: raw.queue_share,
    };
    own.check()?;
    Ok(KeyEntry {
        name,
        hash,
        models,
        tiers,
        scopes,
        quotas: own.or(defaults),
        line,
    })
}

/// A new entry for [`add_entry`]: what `zkinfer keys add` writes.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub hash: SecretHash,
    pub models: Vec<String>,
    pub tiers: Vec<Tier>,
    pub scopes: Vec<Scope>,
    /// Only the quotas given are written (the rest follow `[defaults]`).
    pub quotas: Quotas,
}

fn edit_error(path: &Path, message: impl Into<String>) -> KeyFileError {
    KeyFileError::Edit {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn document(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, KeyFileError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| KeyFileError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })
}

/// `text` (the key file `path`, possibly empty) with `key` appended as a new
/// `[[key]]` entry; comments and layout are kept. The result is checked as a
/// whole, so a name already in use or a bad value is an error here.
pub fn add_entry(path: &Path, text: &str, key: &NewKey) -> Result<String, KeyFileError> {
    // Whatever is already wrong with the file is reported as such first.
    KeyFile::parse(path, text)?;
    let mut doc = document(path, text)?;
    let keys = doc
        .entry("key")
        .or_insert(toml_edit::Item::ArrayOfTables(
            toml_edit::ArrayOfTables::new(),
        ))
        .as_array_of_tables_mut()
        .ok_or_else(|| edit_error(path, "`key` is not a list of [[key]] tables"))?;
    let mut table = toml_edit::Table::new();
    let strings = |items: &mut dyn Iterator<Item = &str>| {
        toml_edit::value(toml_edit::Array::from_iter(items.map(str::to_string)))
    };
    table["name"] = toml_edit::value(key.name.as_str());
    table["hash"] = toml_edit::value(key.hash.to_string());
    table["models"] = strings(&mut key.models.iter().map(String::as_str));
    table["tiers"] = strings(&mut key.tiers.iter().map(|t| t.as_str()));
    if !key.scopes.is_empty() {
        table["scopes"] = strings(&mut key.scopes.iter().map(|s| s.as_str()));
    }
    let q = &key.quotas;
    for (field, value) in [
        ("requests_per_minute", q.requests_per_minute),
        ("proofs_per_minute", q.proofs_per_minute),
        ("concurrent_proofs", q.concurrent_proofs),
    ] {
        if let Some(v) = value {
            table[field] = toml_edit::value(i64::from(v));
        }
    }
    if let Some(f) = q.queue_share {
        table["queue_share"] = toml_edit::value(f);
    }
    keys.push(table);
    let out = doc.to_string();
    KeyFile::parse(path, &out)?;
    Ok(out)
}

/// `text` without the entry named `name`; comments and layout are kept.
pub fn remove_entry(path: &Path, text: &str, name: &str) -> Result<String, KeyFileError> {
    KeyFile::parse(path, text)?;
    let mut doc = document(path, text)?;
    let keys = doc
        .get_mut("key")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or_else(|| KeyFileError::NoSuchKey {
            path: path.to_path_buf(),
            name: name.to_string(),
        })?;
    let at = keys
        .iter()
        .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
        .ok_or_else(|| KeyFileError::NoSuchKey {
            path: path.to_path_buf(),
            name: name.to_string(),
        })?;
    keys.remove(at);
    let out = doc.to_string();
    KeyFile::parse(path, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

    fn parse(text: &str) -> Result<KeyFile, KeyFileError> {
        KeyFile::parse(Path::new("keys.toml"), text)
    }

    #[test]
    fn a_full_file_parses_with_defaults_filled_in() {
        let text = format!(
            r#"
# comment
[defaults]
queue_share = 0.5
proofs_per_minute = 10

[[key]]
name = "alice"
hash = "{HASH}"
models = ["authorization"]
tiers = ["inference", "proof"]
scopes = ["metrics"]
proofs_per_minute = 3

[[key]]
name = "scraper"
hash = "{HASH}"
scopes = ["metrics"]

[[key]]
name = "all"
hash = "{HASH}"
models = ["*"]
tiers = ["proof"]
concurrent_proofs = 1
"#
        );
        let f = parse(&text).unwrap();
        assert_eq!(f.entries.len(), 3);
        let alice = &f.entries[0];
        assert_eq!(alice.line, 7);
        assert!(alice.models.allows("authorization"));
        assert!(!alice.models.allows("other"));
        assert_eq!(alice.quotas.proofs_per_minute, Some(3));
        assert_eq!(alice.quotas.queue_share, Some(0.5));
        assert!(f.entries[2].models.allows("anything"));
        assert_eq!(
            f.entries[2].quotas.proof_slots(18),
            Some((1, "concurrent_proofs"))
        );
        assert_eq!(alice.quotas.proof_slots(18), Some((9, "queue_share")));
        assert_eq!(Quotas::default().proof_slots(18), None);
        // An empty file is no keys (every request but /healthz is refused).
        assert!(parse("").unwrap().entries.is_empty());
    }

    #[test]
    fn each_problem_names_the_file_the_entry_and_what_is_wrong() {
        let entry = |body: &str| {
            format!(
                "[[key]]\nname = \"ok\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\n\n[[key]]\n{body}\n"
            )
        };
        let cases: Vec<(String, &str)> = vec![
            (
                entry(&format!(
                    "name = \"b a d\"\nhash = \"{HASH}\"\nmodels = [\"m\"]"
                )),
                "`name` must be",
            ),
            (
                entry(&format!(
                    "name = \"ok\"\nhash = \"{HASH}\"\nmodels = [\"m\"]"
                )),
                "already used by entry 1 (line 1)",
            ),
            (
                entry("name = \"k\"\nhash = \"zki_abcdef\"\nmodels = [\"m\"]"),
                "looks like a secret",
            ),
            (entry("name = \"k\"\nmodels = [\"m\"]"), "`hash` is missing"),
            (
                entry("name = \"k\"\nhash = \"sha256:00\"\nmodels = [\"m\"]"),
                "64 hex digits",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\ntiers = [\"fast\"]"
                )),
                "`fast` is not a tier",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\nscopes = [\"admin\"]"
                )),
                "`admin` is not a scope",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\ntiers = [\"proof\"]"
                )),
                "`tiers` without `models`",
            ),
            (
                entry(&format!("name = \"k\"\nhash = \"{HASH}\"")),
                "grants nothing",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"*\", \"m\"]"
                )),
                "stands alone",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\nproofs_per_minute = 0"
                )),
                "`proofs_per_minute` must be at least 1",
            ),
            (
                entry(&format!(
                    "name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\nqueue_share = 1.5"
                )),
                "`queue_share` must be in (0, 1]",
            ),
        ];
        for (text, needle) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(
                e.starts_with("key file keys.toml, entry 2 (line 6, key `"),
                "{e}"
            );
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        }
        // Unknown fields, wrong types and broken TOML name the line.
        for (text, needle) in [
            (entry(&format!("name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\nsecret = \"x\"")), "unknown field `secret`"),
            (entry(&format!("name = \"k\"\nhash = \"{HASH}\"\nmodels = [\"m\"]\nproofs_per_minute = \"ten\"")), "line 10"),
            ("[[key]\nname = ".to_string(), "line 1"),
            ("[defaults]\nconcurrent_proofs = 0\n".to_string(), "[defaults]: `concurrent_proofs`"),
        ] {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.starts_with("key file keys.toml"), "{e}");
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        }
    }

    #[test]
    fn add_and_remove_keep_comments_and_recheck() {
        let path = Path::new("keys.toml");
        let start = "# operators: see README\n[defaults]\nqueue_share = 0.5 # half\n";
        let key = |name: &str| NewKey {
            name: name.into(),
            hash: SecretHash::sha256_of("s"),
            models: vec!["authorization".into()],
            tiers: vec![Tier::Inference, Tier::Proof],
            scopes: vec![Scope::Metrics],
            quotas: Quotas {
                proofs_per_minute: Some(5),
                ..Quotas::default()
            },
        };
        let one = add_entry(path, start, &key("a")).unwrap();
        let two = add_entry(path, &one, &key("b")).unwrap();
        assert!(two.starts_with(start), "{two}");
        let f = KeyFile::parse(path, &two).unwrap();
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.entries[1].quotas.proofs_per_minute, Some(5));
        assert_eq!(f.entries[1].quotas.queue_share, Some(0.5));
        let e = add_entry(path, &two, &key("a")).unwrap_err().to_string();
        assert!(e.contains("already used"), "{e}");
        let back = remove_entry(path, &two, "a").unwrap();
        let f = KeyFile::parse(path, &back).unwrap();
        assert_eq!(f.entries.len(), 1);
        assert_eq!(f.entries[0].name, "b");
        assert!(back.contains("# half"), "{back}");
        let e = remove_entry(path, &back, "a").unwrap_err().to_string();
        assert!(e.contains("no key named `a`"), "{e}");
        // Starting from nothing.
        assert_eq!(
            KeyFile::parse(path, &add_entry(path, "", &key("x")).unwrap())
                .unwrap()
                .entries
                .len(),
            1
        );
    }
}
