//! The README's table of configuration keys against the keys `Config` has: every key a file or the environment can
//! set has its row, and every row names keys that exist, so the table cannot drift from src/config.
//!
//! A row may name several keys: `hub.outbound_queue` / `hub.max_in_flight`, `quotas.free_text_daily` /
//! `free_video_daily` (the section of the first), `video.turn_tls_listen` / `_certificate` (the first key with its
//! last word replaced), and `moderation.*` (every key of the section, which docs/operations.md describes).

use std::collections::BTreeSet;

use serde_json::Value;

/// Every key of `Config::default()`, dotted as in the TOML file (`auth.bcrypt_cost`); lists are one key.
fn config_keys() -> BTreeSet<String> {
    fn flatten(prefix: &str, value: &Value, keys: &mut BTreeSet<String>) {
        match value {
            Value::Object(table) => {
                for (name, value) in table {
                    let key = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                    flatten(&key, value, keys);
                }
            }
            _ => {
                keys.insert(prefix.to_owned());
            }
        }
    }
    let value = serde_json::to_value(tanis::config::Config::default()).expect("the configuration serialises");
    let mut keys = BTreeSet::new();
    flatten("", &value, &mut keys);
    keys
}

/// What one row of the README's table names.
enum Row {
    Keys(Vec<String>),
    /// `section.*`: every key under `section.`.
    Section(String),
}

/// The rows of the table under "## Configuration", each as the keys its first cell names.
fn readme_rows() -> Vec<(String, Row)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let section = readme.split_once("\n## Configuration\n").expect("a Configuration section").1;
    let section = section.split_once("\n## ").map_or(section, |(section, _)| section);
    let rows: Vec<(String, Row)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cell = line.split('|').nth(1).expect("a first cell").trim();
            (cell.to_owned(), keys_of(cell))
        })
        .collect();
    assert!(rows.len() > 50, "the table was found: {} rows", rows.len());
    rows
}

fn keys_of(cell: &str) -> Row {
    let names: Vec<&str> = cell.split(" / ").map(|name| name.trim().trim_matches('`')).collect();
    let first = names[0];
    if let Some(section) = first.strip_suffix(".*") {
        assert_eq!(names.len(), 1, "a `section.*` row names nothing else: {cell}");
        return Row::Section(format!("{section}."));
    }
    let keys = names
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            if i == 0 || name.contains('.') {
                name.to_owned()
            } else if let Some(word) = name.strip_prefix('_') {
                let stem = first.rsplit_once('_').unwrap_or_else(|| panic!("{first} has a last word: {cell}")).0;
                format!("{stem}_{word}")
            } else {
                let section = first.rsplit_once('.').unwrap_or_else(|| panic!("{first} has a section: {cell}")).0;
                format!("{section}.{name}")
            }
        })
        .collect();
    Row::Keys(keys)
}

#[test]
fn every_key_the_configuration_has_is_in_the_readme_table() {
    let rows = readme_rows();
    let missing: Vec<String> = config_keys()
        .into_iter()
        .filter(|key| {
            !rows.iter().any(|(_, row)| match row {
                Row::Keys(keys) => keys.contains(key),
                Row::Section(prefix) => key.starts_with(prefix.as_str()),
            })
        })
        .collect();
    assert!(missing.is_empty(), "keys without a row in README.md's configuration table: {missing:?}");
}

#[test]
fn every_key_in_the_readme_table_exists() {
    let keys = config_keys();
    let mut stale = Vec::new();
    for (cell, row) in readme_rows() {
        match row {
            Row::Keys(named) => stale.extend(named.into_iter().filter(|key| !keys.contains(key))),
            Row::Section(prefix) if !keys.iter().any(|key| key.starts_with(&prefix)) => stale.push(cell),
            Row::Section(_) => {}
        }
    }
    assert!(stale.is_empty(), "README.md's configuration table names keys the configuration does not have: {stale:?}");
}
