//! Every committed input of every fuzz target — the corpus the fuzzer kept and every
//! crash it found — replayed through the target's harness, as an ordinary test on the
//! stable toolchain. A target with no input fails: a check that ran nothing is not a
//! passed test.

use std::path::Path;

fn replay(target: &str) {
    let (_, harness) = crm_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a known target");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|entry| entry.path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("a readable input");
            harness(&bytes);
            inputs += 1;
        }
    }
    assert!(inputs > 0, "{target} has no committed input");
}

macro_rules! targets {
    ($($target:ident),* $(,)?) => {
        $(
            #[test]
            fn $target() {
                replay(stringify!($target));
            }
        )*

        #[test]
        fn every_target_is_replayed() {
            let replayed = [$(stringify!($target)),*];
            for (name, _) in crm_fuzz::TARGETS {
                assert!(replayed.contains(name), "{name} has no replay test");
            }
        }
    };
}

targets!(
    command_json,
    command_mutated,
    query_json,
    rules,
    email,
    import_csv,
    import_spreadsheet,
    calls,
    templates,
    journal,
);
