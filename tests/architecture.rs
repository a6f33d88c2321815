//! The invariants of ARCHITECTURE.md that can be checked mechanically:
//! which crates depend on which, who may name `tonic::Status`, where
//! `anyhow` may appear, that `lianfang-proto` does no I/O and reads no
//! clock, that only the privacy steps unmask, that the binaries reach
//! the data through the app layer only, and that no match on `Kind` has a
//! wildcard arm. Each failure names the file and line that broke the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The `lianfang-*` crates named in a manifest's `[dependencies]` and
/// `[dev-dependencies]` (the build graph a reader cares about).
fn lianfang_deps(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).expect("read Cargo.toml");
    let mut section = String::new();
    let mut deps = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let in_deps = section.ends_with("dependencies]");
        if in_deps && line.starts_with("lianfang-") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            deps.insert(name.to_owned());
        }
    }
    deps
}

/// The workspace's members, from the root manifest.
fn members() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members line");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn production_crates_link_only_their_own_side() {
    // dir → the lianfang crates it may depend on, exactly.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("proto", &[][..]),
        ("client", &["lianfang-proto"][..]),
        (
            "node",
            &["lianfang-client", "lianfang-proto", "lianfang-web"][..],
        ),
        (
            "hub",
            &["lianfang-client", "lianfang-proto", "lianfang-web"][..],
        ),
        ("web", &[][..]),
        (
            "sim",
            &["lianfang-hub", "lianfang-node", "lianfang-proto"][..],
        ),
        (
            "tests",
            &[
                "lianfang-hub",
                "lianfang-node",
                "lianfang-proto",
                "lianfang-sim",
                "lianfang-web",
            ][..],
        ),
    ]);
    let known: BTreeSet<String> = allowed.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        members(),
        known,
        "a workspace member was added or removed: say here which crates it may depend on"
    );
    for (dir, want) in allowed {
        let got = lianfang_deps(&root().join(dir).join("Cargo.toml"));
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got, want,
            "{dir}/Cargo.toml depends on these lianfang crates"
        );
    }
}

/// Every non-comment line of the Rust files under `dir`, with its place.
fn code_lines(dir: &Path) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                let rel = path
                    .strip_prefix(root())
                    .expect("under root")
                    .display()
                    .to_string();
                for (i, line) in text.lines().enumerate() {
                    let t = line.trim_start();
                    if !t.starts_with("//") {
                        out.push((rel.clone(), i + 1, line.to_owned()));
                    }
                }
            }
        }
    }
    out
}

fn violations(dirs: &[&str], allowed_files: &[&str], hit: impl Fn(&str) -> bool) -> Vec<String> {
    dirs.iter()
        .flat_map(|d| code_lines(&root().join(d)))
        .filter(|(file, _, line)| !allowed_files.iter().any(|a| file.ends_with(a)) && hit(line))
        .map(|(file, n, line)| format!("{file}:{n}: {}", line.trim()))
        .collect()
}

#[test]
fn only_the_grpc_boundary_names_tonic_status() {
    let names_status = |line: &str| {
        line.contains("tonic::Status")
            || line.contains("Status::")
            || (line.contains("use tonic::") && line.contains("Status"))
    };
    let found = violations(
        &["proto/src", "client/src", "node/src", "hub/src"],
        &["hub/src/grpc.rs", "client/src/sync.rs"],
        names_status,
    );
    assert!(
        found.is_empty(),
        "tonic::Status outside hub/src/grpc.rs and client/src/sync.rs:\n{}",
        found.join("\n")
    );
}

#[test]
fn anyhow_appears_only_in_binaries_and_the_world_around_them() {
    let found = violations(
        &["proto/src", "client/src", "node/src", "hub/src"],
        &["/main.rs"],
        |line| line.contains("anyhow"),
    );
    assert!(
        found.is_empty(),
        "anyhow in a library module (give it a thiserror enum):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_shared_crate_does_no_io_and_reads_no_clock() {
    let io = [
        "std::fs",
        "std::net",
        "std::io::stdin",
        "std::env",
        "tokio::",
        "SystemTime::now",
        "Instant::now",
        "Utc::now",
        "Local::now",
        "println!",
    ];
    let found = violations(&["proto/src"], &[], |line| {
        io.iter().any(|p| line.contains(p))
    });
    assert!(
        found.is_empty(),
        "lianfang-proto must be a function of its arguments:\n{}",
        found.join("\n")
    );
}

#[test]
fn personal_data_is_unmasked_only_by_the_audited_privacy_step() {
    let found = violations(&["node/src", "hub/src"], &["/app/privacy.rs"], |line| {
        line.contains("Privacy::Unmasked")
    });
    assert!(
        found.is_empty(),
        "Privacy::Unmasked outside node/src/app/privacy.rs and hub/src/app/privacy.rs \
         (unmask through the app's privacy step, which audits first):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_binaries_parse_flags_and_print_only() {
    let reaches_the_data = |line: &str| {
        ["Store::", "HubStore", "rusqlite", "store::", "Privacy"]
            .iter()
            .any(|p| line.contains(p))
    };
    let found: Vec<String> = ["node/src", "hub/src"]
        .iter()
        .flat_map(|d| code_lines(&root().join(d)))
        .filter(|(file, _, line)| file.ends_with("/main.rs") && reaches_the_data(line))
        .map(|(file, n, line)| format!("{file}:{n}: {}", line.trim()))
        .collect();
    assert!(
        found.is_empty(),
        "main.rs reaches the store or masks by itself (call the app layer, src/app/):\n{}",
        found.join("\n")
    );
}

/// Every match on `Kind` is exhaustive: a new kind must be placed wherever
/// kinds are told apart, which a wildcard arm would let it skip silently.
/// An arm `_ =>` is refused when an arm of the same match (the lines above
/// it at its indentation, back to the match's start) names a `Kind::`.
#[test]
fn matches_on_kinds_have_no_wildcard_arm() {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut found = Vec::new();
    for dir in ["proto/src", "client/src", "node/src", "hub/src"] {
        let lines = code_lines(&root().join(dir));
        for (i, (file, n, line)) in lines.iter().enumerate() {
            let t = line.trim_start();
            if !(t.starts_with("_ =>") || t.starts_with("_ if ")) {
                continue;
            }
            let arm = indent(line);
            let on_kinds = lines[..i]
                .iter()
                .rev()
                .take_while(|(f, _, l)| f == file && (l.trim().is_empty() || indent(l) >= arm))
                .any(|(_, _, l)| indent(l) == arm && l.trim_start().starts_with("Kind::"));
            if on_kinds {
                found.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a match on Kind with a wildcard arm (name every kind):\n{}",
        found.join("\n")
    );
}

#[test]
fn record_rows_are_written_only_where_digests_are_kept() {
    // SQL that writes a record row: the node's `record`, the hub's record
    // tables (`crate::kinds`). Each of these files folds what it wrote into
    // `digest_bucket` in the same transaction (ARCHITECTURE.md, digests).
    let tables = [
        "record",
        "person",
        "household",
        "isolation",
        "response",
        "day_record",
    ];
    let writes = |line: &str| {
        let upper = line.to_uppercase();
        tables.iter().any(|t| {
            let t = t.to_uppercase();
            [
                format!("INSERT INTO {t} "),
                format!("INSERT INTO {t}("),
                format!("UPDATE {t} "),
                format!("DELETE FROM {t} "),
                format!("DELETE FROM {t}\""),
                format!("REPLACE INTO {t} "),
            ]
            .iter()
            .any(|p| upper.contains(p.as_str()))
        })
    };
    // Unit tests damage records on purpose: lines after a file's
    // `#[cfg(test)]` are left out.
    let test_from: BTreeMap<String, usize> = ["client/src", "node/src", "hub/src"]
        .iter()
        .flat_map(|d| code_lines(&root().join(d)))
        .filter(|(_, _, line)| line.trim() == "#[cfg(test)]")
        .fold(BTreeMap::new(), |mut m, (file, n, _)| {
            m.entry(file).or_insert(n);
            m
        });
    let found: Vec<String> = violations(
        &["client/src", "node/src", "hub/src"],
        &[
            // The node's record upsert, run by `Store::write` only.
            "client/src/store/mod.rs",
            // The hub's upserts, run by `Upserts` only.
            "hub/src/kinds/mod.rs",
            "hub/src/kinds/person.rs",
            "hub/src/kinds/household.rs",
            "hub/src/kinds/isolation.rs",
        ],
        writes,
    )
    .into_iter()
    .filter(|hit| {
        let mut parts = hit.splitn(3, ':');
        let (file, n) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let n: usize = n.parse().unwrap_or(0);
        test_from.get(file).is_none_or(|from| n < *from)
    })
    .collect();
    assert!(
        found.is_empty(),
        "a record row written outside the paths that keep digests:\n{}",
        found.join("\n")
    );
}
