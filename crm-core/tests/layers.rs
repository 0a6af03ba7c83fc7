//! The layer check: crm-core's modules import only what lies on their own floor or
//! below (ARCHITECTURE.md, "Layers"), and no files import each other in a circle.
//!
//! It reads `src/` as text: every `use crate::…`/`use super::…` (braces expanded) and
//! every `crate::…`/`super::…` path in code (comments are skipped, strings are not,
//! because `#[serde(with = "crate::…")]` is a real dependency), resolved to the file
//! that defines the module, root re-exports (`crate::Name`) through `lib.rs`.
//! `cargo test -p crm-core --test layers -- --nocapture` prints the figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first: a file may import files of its own floor or lower ones.
/// A path ending in `/` is a folder (all its files); the first match wins.
const FLOORS: &[(&str, &[&str])] = &[
    ("common", &["common/"]),
    ("model", &["model/"]),
    ("events", &["event.rs", "journal.rs", "upcast.rs"]),
    ("state", &["state/", "integrity.rs"]),
    ("access", &["access.rs", "context.rs"]),
    ("projections", &["report/", "timer.rs"]),
    ("decide", &["decide/"]),
    ("automation", &["automation.rs"]),
    ("reads", &["list.rs", "duplicate.rs", "export/"]),
    ("engine", &["engine/"]),
    ("sync", &["sync/"]),
    ("facade", &["lib.rs", "schema.rs"]),
];

/// Imports that run upward on purpose, each with its reason: (from, to, why).
const ALLOWED_UPWARD: &[(&str, &str, &str)] = &[];

fn floor_of(file: &str) -> Option<usize> {
    FLOORS.iter().position(|(_, paths)| {
        paths.iter().any(|p| {
            if p.ends_with('/') {
                file.starts_with(p)
            } else {
                file == *p
            }
        })
    })
}

/// `src/a/b.rs` → `["a", "b"]`, `src/a/mod.rs` → `["a"]`, `src/lib.rs` → `[]`.
fn module_of(file: &str) -> Vec<String> {
    let trimmed = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).expect("under src/");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The source without comments (line comments, and block comments).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = 0usize;
    for line in text.lines() {
        let mut rest = line;
        let mut kept = String::new();
        loop {
            if in_block > 0 {
                match rest.find("*/") {
                    Some(end) => {
                        in_block -= 1;
                        rest = &rest[end + 2..];
                    }
                    None => break,
                }
            } else if let Some(start) = rest.find("/*").filter(|&s| !rest[..s].contains("//")) {
                kept.push_str(&rest[..start]);
                in_block += 1;
                rest = &rest[start + 2..];
            } else {
                // A `//` inside a string (a URL) is rare in paths that matter; cut only a
                // comment that starts the line or follows whitespace.
                let cut = if rest.trim_start().starts_with("//") {
                    0
                } else {
                    rest.find(" //").unwrap_or(rest.len())
                };
                kept.push_str(&rest[..cut]);
                break;
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    // `x as y` renames: only the path before ` as ` is imported (marked `@` before the
    // blanks go, so a name containing "as", like `task`, stays whole).
    let words: Vec<&str> = tree.split_whitespace().collect();
    let tree: String = words.join(" ").replace(" as ", "@").replace(' ', "");
    let Some(open) = tree.find('{') else {
        return vec![tree.split('@').next().unwrap_or(&tree).to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| {
            expand(item)
                .into_iter()
                .map(move |p| format!("{prefix}{p}"))
        })
        .collect()
}

/// Every module path a file names, as segments from the crate root.
fn named_paths(file: &str, code: &str) -> Vec<Vec<String>> {
    let here = module_of(file);
    let is_mod_file = file.ends_with("mod.rs") || file == "lib.rs";
    let absolute = |path: &str| -> Option<Vec<String>> {
        let mut segments: Vec<&str> = path.split("::").collect();
        let mut base: Vec<String> = match segments.first().copied() {
            Some("crate") => Vec::new(),
            Some("super") => {
                // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` it is `a` as well.
                let mut base = here.clone();
                if !is_mod_file || !base.is_empty() {
                    base.pop();
                }
                base
            }
            Some("self") => here.clone(),
            _ => return None,
        };
        segments.remove(0);
        while segments.first() == Some(&"super") {
            base.pop();
            segments.remove(0);
        }
        base.extend(
            segments
                .into_iter()
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        Some(base)
    };
    let mut paths = Vec::new();
    // `use` statements, braces and all.
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let starts_item = before.is_empty()
            || before.ends_with(char::is_whitespace)
                && !before.ends_with(|c: char| c.is_alphanumeric());
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if starts_item
            && (after.starts_with("crate::")
                || after.starts_with("super::")
                || after.starts_with("self::"))
        {
            for path in expand(&after[..end]) {
                paths.extend(absolute(&path));
            }
            rest = &after[end..];
        } else {
            rest = after;
        }
    }
    // Paths written out in code and attributes.
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(keyword) {
            let start = from + found;
            let preceded = code[..start].chars().next_back();
            from = start + keyword.len();
            if preceded.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.extend(absolute(path.trim_end_matches(':')));
        }
    }
    paths
}

struct House {
    files: Vec<String>,
    /// Module path → file.
    modules: BTreeMap<Vec<String>, String>,
    /// Root re-exports of `lib.rs`: name → module path.
    reexports: BTreeMap<String, Vec<String>>,
}

impl House {
    fn read(src: &Path) -> (House, BTreeMap<String, String>) {
        let mut files = Vec::new();
        rust_files(src, src, &mut files);
        files.sort();
        let modules = files.iter().map(|f| (module_of(f), f.clone())).collect();
        let codes: BTreeMap<String, String> = files
            .iter()
            .map(|f| {
                (
                    f.clone(),
                    code_of(&std::fs::read_to_string(src.join(f)).expect("readable")),
                )
            })
            .collect();
        let mut reexports = BTreeMap::new();
        let lib = &codes["lib.rs"];
        let mut rest = lib.as_str();
        while let Some(at) = rest.find("pub use ") {
            let after = &rest[at + 8..];
            let end = after.find(';').unwrap_or(after.len());
            for path in expand(&after[..end]) {
                let segments: Vec<String> = path.split("::").map(str::to_owned).collect();
                if let Some((name, module)) = segments.split_last() {
                    reexports.insert(name.clone(), module.to_vec());
                }
            }
            rest = &after[end..];
        }
        (
            House {
                files,
                modules,
                reexports,
            },
            codes,
        )
    }

    /// The file defining the longest module prefix of `path`.
    fn file_of(&self, path: &[String]) -> Option<&String> {
        let mut path = path.to_vec();
        if path.len() == 1 {
            if let Some(module) = self.reexports.get(&path[0]) {
                path = module.clone();
            }
        }
        (1..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]))
    }
}

/// Strongly connected components of more than one file (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        w.on_stack.insert(v);
        for next in w.edges.get(v).into_iter().flatten() {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[v].min(w.low[next]);
                w.low.insert(v, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[v].min(w.index[next]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_owned());
                if top == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            visit(&mut walk, v);
        }
    }
    walk.found
}

#[test]
fn lower_floors_never_name_higher_ones_and_no_files_import_in_a_circle() {
    let src: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (house, codes) = House::read(&src);
    let unplaced: Vec<&String> = house
        .files
        .iter()
        .filter(|f| floor_of(f).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "files on no floor (add them to FLOORS): {unplaced:?}"
    );

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &house.files {
        let targets = edges.entry(file.clone()).or_default();
        for path in named_paths(file, &codes[file]) {
            if let Some(target) = house.file_of(&path).filter(|t| *t != file) {
                targets.insert(target.clone());
            }
        }
    }
    // A folder's mod.rs declares its children; that is containment, not an import.
    for (file, targets) in edges.iter_mut() {
        if let Some(folder) = file.strip_suffix("mod.rs") {
            targets.retain(|t| !t.starts_with(folder));
        }
        if file == "lib.rs" {
            targets.clear();
        }
    }

    let mut upward = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            let (f, t) = (
                floor_of(from).expect("placed"),
                floor_of(to).expect("placed"),
            );
            if t > f {
                upward.push((from.clone(), to.clone(), FLOORS[f].0, FLOORS[t].0));
            }
        }
    }
    let found = circles(&edges);
    let in_circles: usize = found.iter().map(Vec::len).sum();
    println!(
        "{} files, {} imports between files; {} circles ({} files); {} imports run upward",
        house.files.len(),
        edges.values().map(BTreeSet::len).sum::<usize>(),
        found.len(),
        in_circles,
        upward.len()
    );
    for circle in &found {
        println!("circle: {}", circle.join(" "));
    }
    for (from, to, f, t) in &upward {
        println!("upward: {from} ({f}) -> {to} ({t})");
    }

    let allowed: BTreeSet<(&str, &str)> = ALLOWED_UPWARD.iter().map(|(f, t, _)| (*f, *t)).collect();
    let unexpected: Vec<String> = upward
        .iter()
        .filter(|(from, to, ..)| !allowed.contains(&(from.as_str(), to.as_str())))
        .map(|(from, to, f, t)| format!("{from} ({f}) -> {to} ({t})"))
        .collect();
    let stale: Vec<&(&str, &str, &str)> = ALLOWED_UPWARD
        .iter()
        .filter(|(f, t, _)| !upward.iter().any(|(from, to, ..)| from == f && to == t))
        .collect();
    assert!(
        found.is_empty(),
        "files that import each other in a circle: {found:?}"
    );
    assert!(
        unexpected.is_empty(),
        "imports that run upward:\n{}",
        unexpected.join("\n")
    );
    assert!(
        stale.is_empty(),
        "ALLOWED_UPWARD lists imports that are gone: {stale:?}"
    );
}
