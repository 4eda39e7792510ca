//! `colbert-wasm index <folder> --bundle DIR -o notes.cwix [--precision int8] [--pool-factor 2] [--threads N]`: the
//! build-time indexer. Indexes every `.md`/`.txt` file under a folder (id: its path relative to the
//! folder) natively on every core, and writes the index file `Retriever.importIndex` loads in the
//! browser. An existing output file is read first, so unchanged files are not encoded again; one made
//! with another model is refused. Progress goes to stderr (passages, rate, time left), and so does a
//! warning naming each file that is not UTF-8 (indexed with U+FFFD where it did not decode). A thin
//! layer: the work is `Retriever::add_documents_parallel_with`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use colbert_wasm::index::Precision;
use colbert_wasm::model::Bundle;
use colbert_wasm::retriever::{NewDocument, PassageProgress};
use colbert_wasm::{Error, Retriever};

const USAGE: &str =
    "usage: colbert-wasm index <folder> --bundle DIR -o OUT.cwix [--precision int8|f16|f32|binary] [--pool-factor N] [--threads N]";

struct Args {
    folder: PathBuf,
    bundle: PathBuf,
    out: PathBuf,
    precision: Precision,
    /// `None`: the retriever's default, as in the browser.
    pool_factor: Option<usize>,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("index") {
        return Err(USAGE.into());
    }
    let (mut folder, mut bundle, mut out, mut precision, mut threads, mut pool_factor) =
        (None, None, None, None, None, None);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--bundle" => bundle = Some(PathBuf::from(value()?)),
            "-o" | "--out" => out = Some(PathBuf::from(value()?)),
            "--precision" => {
                precision = Some(value()?.parse::<Precision>().map_err(|e| e.to_string())?)
            }
            "--pool-factor" => {
                pool_factor = Some(
                    value()?
                        .parse::<usize>()
                        .map_err(|e| format!("--pool-factor: {e}"))?,
                )
            }
            "--threads" => {
                threads = Some(
                    value()?
                        .parse::<usize>()
                        .map_err(|e| format!("--threads: {e}"))?,
                )
            }
            _ if folder.is_none() && !arg.starts_with('-') => folder = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument '{arg}'\n{USAGE}")),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(Args {
        folder: folder.ok_or(USAGE)?,
        bundle: bundle.ok_or(USAGE)?,
        out: out.ok_or(USAGE)?,
        precision: precision.unwrap_or_default(),
        pool_factor,
        threads: threads.unwrap_or(cores).max(1),
    })
}

/// Every `.md` / `.txt` file below `dir`, as (id relative to `root`, text), in a stable order.
fn notes(root: &Path, dir: &Path, found: &mut Vec<(String, String)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            notes(root, &path, found)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "txt")
        ) {
            let id = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&path)?;
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    // Indexed all the same (a note in Latin-1 is still mostly searchable), but said.
                    eprintln!(
                        "warning: {} is not UTF-8 (bad byte at {}): indexed with U+FFFD in place of what did not decode",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    );
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            found.push((id, text));
        }
    }
    Ok(())
}

fn run(args: Args) -> Result<(), Error> {
    let mut retriever = Retriever::with_precision(Bundle::from_dir(&args.bundle)?, args.precision)?;
    if let Some(factor) = args.pool_factor {
        retriever.set_pool_factor(factor);
    }
    if args.out.exists() {
        let existing = std::fs::read(&args.out)
            .map_err(|e| Error::Index(format!("{}: {e}", args.out.display())))?;
        retriever.import_index(&existing)?;
    }
    let mut found = Vec::new();
    notes(&args.folder, &args.folder, &mut found)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.folder.display())))?;
    let docs: Vec<NewDocument> = found
        .iter()
        .map(|(id, text)| NewDocument {
            id,
            text,
            metadata: None,
        })
        .collect();
    let started = Instant::now();
    eprintln!("{} files to index ({} threads)", docs.len(), args.threads);
    let progress = ProgressLines::new(started);
    let report =
        retriever.add_documents_parallel_with(&docs, args.threads, &|p| progress.show(p))?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(&args.out, retriever.export_index())
        .map_err(|e| Error::Index(format!("{}: {e}", args.out.display())))?;
    println!(
        "{} files: {} encoded, {} unchanged, {} passages in {seconds:.1} s ({:.1} docs/s on {} threads) -> {}",
        docs.len(),
        report.encoded,
        report.unchanged,
        retriever.passage_count(),
        report.encoded as f64 / seconds.max(1e-9),
        args.threads,
        args.out.display()
    );
    Ok(())
}

/// The indexer's progress on stderr: a line at most every two seconds with passages encoded, their
/// rate and the time left (a 10k-note vault is minutes of encoding: never minutes of nothing).
struct ProgressLines {
    started: Instant,
    last: std::sync::Mutex<Instant>,
}

impl ProgressLines {
    fn new(started: Instant) -> ProgressLines {
        ProgressLines {
            started,
            last: std::sync::Mutex::new(started),
        }
    }

    fn show(&self, p: PassageProgress) {
        let finished = p.done == p.total;
        // Between lines a thread that finds another printing skips; the last passage always prints.
        let last = if finished {
            self.last.lock().ok()
        } else {
            self.last.try_lock().ok()
        };
        let Some(mut last) = last else {
            return;
        };
        if last.elapsed().as_secs_f64() < 2.0 && !finished {
            return;
        }
        *last = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = p.done as f64 / seconds;
        let left = (p.total - p.done.min(p.total)) as f64 / rate.max(1e-9);
        eprintln!(
            "encoded {}/{} passages ({:.0}%), {rate:.1} passages/s, about {left:.0} s left",
            p.done,
            p.total,
            100.0 * p.done as f64 / p.total.max(1) as f64
        );
    }
}

fn main() -> ExitCode {
    match parse_args() {
        Err(usage) => {
            eprintln!("{usage}");
            ExitCode::from(2)
        }
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e}", e.kind());
                ExitCode::FAILURE
            }
        },
    }
}
