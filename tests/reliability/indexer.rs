//! The build-time indexer (`colbert-wasm index`): indexes a folder of notes on every core into a file
//! the retriever imports, skips unchanged files on a second run, and refuses an existing index made
//! with another model.

use std::path::{Path, PathBuf};
use std::process::Command;

const NOTES: [(&str, &str); 6] = [
    (
        "kitchen/bread.md",
        "# Bread\n\nFeed the sourdough starter with flour and water every morning.",
    ),
    (
        "kitchen/soup.txt",
        "Simmer the lentil soup with cumin for forty minutes.",
    ),
    (
        "bike.md",
        "Replace the bicycle chain once it stretches past half a percent.",
    ),
    (
        "work/taxes.md",
        "File the quarterly tax return before the end of April.",
    ),
    (
        "work/meeting.txt",
        "The design review moved to Thursday at ten.",
    ),
    (
        "garden.md",
        "Water the tomatoes at dawn and mulch against the summer heat.",
    ),
];

fn vault() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("colbert-vault-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in NOTES {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    std::fs::write(dir.join("ignored.json"), "{}").unwrap();
    dir
}

fn index(vault: &Path, bundle: &Path, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_colbert-wasm"))
        .args([
            "index".as_ref(),
            vault.as_os_str(),
            "--bundle".as_ref(),
            bundle.as_os_str(),
        ])
        .args([
            "-o".as_ref(),
            out.as_os_str(),
            "--threads".as_ref(),
            "2".as_ref(),
        ])
        .output()
        .unwrap()
}

/// A bundle folder around the tiny BERT export fixture: another model than the default.
fn other_bundle(dir: &Path) -> PathBuf {
    let bundle = dir.join("other-bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    let files = crate::common::tiny_bundle();
    std::fs::write(bundle.join("model.onnx"), &files.model).unwrap();
    std::fs::write(bundle.join("tokenizer.json"), &files.tokenizer).unwrap();
    std::fs::write(bundle.join("manifest.json"), &files.manifest).unwrap();
    bundle
}

#[test]
fn a_folder_becomes_an_index_the_retriever_imports_and_a_second_run_skips_unchanged_files() {
    let vault = vault();
    let out = vault.join("notes.cwix");
    let first = index(&vault, &crate::common::bundle_dir(), &out);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("6 files: 6 encoded, 0 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("docs/s on 2 threads"), "{stdout}");

    let mut retriever = crate::common::load_default();
    retriever
        .import_index(&std::fs::read(&out).unwrap())
        .unwrap();
    assert_eq!(retriever.len(), 6);
    let hits = retriever
        .search("when is the tax deadline?", 1)
        .unwrap()
        .hits;
    assert_eq!(hits[0].id, "work/taxes.md");
    let hits = retriever.search("sourdough starter", 1).unwrap().hits;
    assert_eq!(hits[0].id, "kitchen/bread.md");
    // The indexer's lexical index is the one `add` builds: same words, same BM25 statistics.
    let mut added = crate::common::load_default();
    added.add_documents(&NOTES).unwrap();
    let lexical = colbert_wasm::retriever::SearchMode::Lexical;
    for query in [
        "sourdough starter flour",
        "tax return April",
        "the tomatoes",
    ] {
        let of = |r: &colbert_wasm::Retriever| r.search_with(query, 6, None, lexical).unwrap().hits;
        assert_eq!(of(&retriever), of(&added), "{query}");
    }

    std::fs::write(vault.join("bike.md"), "Pump the bicycle tyres to four bar.").unwrap();
    let second = index(&vault, &crate::common::bundle_dir(), &out);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("6 files: 1 encoded, 5 unchanged"),
        "{stdout}"
    );

    let refused = index(&vault, &other_bundle(&vault), &out);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.starts_with("IndexError"), "{stderr}");
    assert!(stderr.contains("model"), "{stderr}");
    std::fs::remove_dir_all(&vault).unwrap();
}

#[test]
fn the_indexer_reports_progress_and_names_a_file_that_is_not_utf8() {
    let dir = std::env::temp_dir().join(format!("colbert-latin1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ok.md"), "Plain UTF-8 note about the café.").unwrap();
    std::fs::write(dir.join("latin1.txt"), b"Menu du caf\xe9: cr\xeapes").unwrap();
    let out = dir.join("notes.cwix");
    let run = index(&dir, &crate::common::bundle_dir(), &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning:"))
        .unwrap_or_default();
    assert!(
        warning.contains("latin1.txt") && warning.contains("not UTF-8"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("ok.md"),
        "only the undecodable file is named: {stderr}"
    );
    assert!(
        stderr.contains("passages encoded: 2/2"),
        "progress lines: {stderr}"
    );
    let mut retriever = crate::common::load_default();
    retriever
        .import_index(&std::fs::read(&out).unwrap())
        .unwrap();
    assert_eq!(retriever.len(), 2, "the lossy file is indexed too");
    let _ = std::fs::remove_dir_all(&dir);
}
