//! What the published crates carry: the license texts, and a README whose
//! links work where crates.io shows it (the runtime's package readme is the
//! workspace README, shown outside the repository).

use std::path::{Path, PathBuf};

/// The crates published to crates.io, relative to the workspace root.
const PUBLISHED: [&str; 2] = ["telemetry-runtime", "telemetry-macros"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_published_crate_carries_both_license_texts() {
    let root = workspace_root();
    for license in ["LICENSE-MIT", "LICENSE-APACHE"] {
        let text = read(&root.join(license));
        assert!(text.contains("the telemetry-rs authors"), "{license} names no copyright holder");
        for krate in PUBLISHED {
            let copy = read(&root.join(krate).join(license));
            assert!(copy == text, "{krate}/{license} differs from the workspace's {license}");
        }
    }
    assert!(read(&root.join("LICENSE-APACHE")).contains("Version 2.0, January 2004"));
    assert!(read(&root.join("LICENSE-MIT")).contains("Permission is hereby granted, free of charge"));
}

/// The targets of the Markdown links `[text](target)` in `markdown`.
fn link_targets(markdown: &str) -> Vec<&str> {
    markdown
        .match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &markdown[at + 2..];
            rest.find(')').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn readme_links_are_absolute_so_they_work_on_crates_io() {
    let root = workspace_root();
    for readme in [root.join("README.md"), root.join("telemetry-macros/README.md")] {
        let text = read(&readme);
        let targets = link_targets(&text);
        assert!(!targets.is_empty(), "no links found in {}: is the scan broken?", readme.display());
        for target in targets {
            assert!(
                target.starts_with("https://") || target.starts_with('#'),
                "{}: relative link {target:?} breaks on crates.io; link to the repository instead",
                readme.display()
            );
        }
    }
    assert_eq!(link_targets("see [a](b) and [c](https://d)"), ["b", "https://d"]);
}
