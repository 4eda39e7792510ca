//! `colbert-wasm index <folder> --bundle DIR -o notes.cwix [--precision int8] [--pool-factor 2] [--threads N]`: the
//! build-time indexer. Indexes every `.md`/`.txt` file under a folder (id: its path relative to the
//! folder) natively on every core, and writes the index file `Retriever.importIndex` loads in the
//! browser. An existing output file is read first, so unchanged files are not encoded again; one made
//! with another model is refused. Progress goes to stderr (passages, rate, time left), and so does a
//! warning naming each file that is not UTF-8 (indexed with U+FFFD where it did not decode). A thin
//! layer: the work is `Retriever::add_documents_parallel_with`.
//!
//! `--qdrant URL --collection NAME [--api-key KEY] [--batch N] [--retries N]` (with or instead of `-o`): the same
//! documents go to a Qdrant collection (`colbert_wasm::qdrant`): created for this model, or checked
//! to be this model's; files it already holds unchanged are not encoded again. `QDRANT_API_KEY` in
//! the environment stands for `--api-key`.

mod http;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use colbert_wasm::index::Precision;
use colbert_wasm::model::Bundle;
use colbert_wasm::qdrant;
use colbert_wasm::retriever::NewDocument;
use colbert_wasm::{Error, Retriever};

const USAGE: &str = "usage: colbert-wasm index <folder> --bundle DIR [-o OUT.cwix] [--qdrant URL --collection NAME [--api-key KEY] [--batch N] [--retries N]] [--precision int8|f16|f32|binary] [--pool-factor N] [--threads N]
  (-o, --qdrant or both)";

/// Where the Qdrant upload goes.
struct QdrantTarget {
    url: String,
    collection: String,
    api_key: Option<String>,
    batch: usize,
    /// Tries again after a transient failure (429, 5xx, no connection) this many times.
    retries: u32,
}

struct Args {
    folder: PathBuf,
    bundle: PathBuf,
    out: Option<PathBuf>,
    qdrant: Option<QdrantTarget>,
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
    let (mut url, mut collection, mut api_key, mut batch) = (None, None, None, 64);
    let mut retries = qdrant::Retry::default().attempts - 1;
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
            "--pool-factor" => pool_factor = Some(number(&arg, value()?)?),
            "--threads" => threads = Some(number(&arg, value()?)?),
            "--qdrant" => url = Some(value()?),
            "--collection" => collection = Some(value()?),
            "--api-key" => api_key = Some(value()?),
            "--batch" => batch = number(&arg, value()?)?.max(1),
            "--retries" => retries = number(&arg, value()?)?.min(30) as u32,
            _ if folder.is_none() && !arg.starts_with('-') => folder = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument '{arg}'\n{USAGE}")),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let qdrant = match (url, collection) {
        (Some(url), Some(collection)) => Some(QdrantTarget {
            url,
            collection,
            api_key: api_key.or_else(|| std::env::var("QDRANT_API_KEY").ok()),
            batch,
            retries,
        }),
        (None, None) => None,
        _ => return Err(format!("--qdrant and --collection go together\n{USAGE}")),
    };
    if out.is_none() && qdrant.is_none() {
        return Err(USAGE.into());
    }
    Ok(Args {
        folder: folder.ok_or(USAGE)?,
        bundle: bundle.ok_or(USAGE)?,
        out,
        qdrant,
        precision: precision.unwrap_or_default(),
        pool_factor,
        threads: threads.unwrap_or(cores).max(1),
    })
}

fn number(flag: &str, value: String) -> Result<usize, String> {
    value.parse::<usize>().map_err(|e| format!("{flag}: {e}"))
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
    if let Some(out) = args.out.as_ref().filter(|out| out.exists()) {
        let existing =
            std::fs::read(out).map_err(|e| Error::Index(format!("{}: {e}", out.display())))?;
        retriever.import_index(&existing)?;
    }
    let mut found = Vec::new();
    notes(&args.folder, &args.folder, &mut found)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.folder.display())))?;
    let upload = match &args.qdrant {
        Some(target) => Some(QdrantUpload::open(target, &retriever)?),
        None => None,
    };
    // Without an index file to write, what the collection holds unchanged is not encoded again.
    let held_unchanged = |id: &str, text: &str| {
        args.out.is_none() && upload.as_ref().is_some_and(|u| u.held.holds(id, text))
    };
    let docs: Vec<NewDocument> = found
        .iter()
        .filter(|(id, text)| !held_unchanged(id, text))
        .map(|(id, text)| NewDocument {
            id,
            text,
            metadata: None,
        })
        .collect();
    let started = Instant::now();
    eprintln!("{} files to index ({} threads)", docs.len(), args.threads);
    let progress = ProgressLines::new(started, "passages encoded");
    let report = retriever.add_documents_parallel_with(&docs, args.threads, &|p| {
        progress.show(p.done, p.total)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let unchanged = report.unchanged + found.len() - docs.len();
    println!(
        "{} files: {} encoded, {unchanged} unchanged, {} passages in {seconds:.1} s ({:.1} docs/s on {} threads)",
        found.len(),
        report.encoded,
        retriever.passage_count(),
        report.encoded as f64 / seconds.max(1e-9),
        args.threads,
    );
    if let Some(out) = &args.out {
        std::fs::write(out, retriever.export_index())
            .map_err(|e| Error::Index(format!("{}: {e}", out.display())))?;
        println!("-> {}", out.display());
    }
    if let Some(upload) = upload {
        upload.send(&retriever, &found)?;
    }
    Ok(())
}

/// The Qdrant side of a run: the connection, and what the collection held before it.
struct QdrantUpload<'a> {
    target: &'a QdrantTarget,
    http: http::Http,
    held: qdrant::Held,
}

impl<'a> QdrantUpload<'a> {
    fn open(target: &'a QdrantTarget, retriever: &Retriever) -> Result<QdrantUpload<'a>, Error> {
        let http = http::Http::new(&target.url, target.api_key.clone()).map_err(Error::InvalidInput)?;
        let held = Self::upload(target, &http).prepare(retriever)?;
        eprintln!(
            "Qdrant collection '{}' at {}: {}",
            target.collection,
            target.url,
            if held.created {
                "created".to_string()
            } else {
                format!("holds {} documents", held.hashes.len())
            }
        );
        Ok(QdrantUpload { target, http, held })
    }

    fn upload<'b>(target: &'b QdrantTarget, http: &'b http::Http) -> qdrant::Upload<'b, http::Http> {
        qdrant::Upload {
            transport: http,
            collection: &target.collection,
            batch: target.batch,
            retry: qdrant::Retry {
                attempts: target.retries + 1,
                ..qdrant::Retry::default()
            },
            wait: &|pause| {
                eprintln!("Qdrant did not answer: trying again in {:.1} s", pause.as_secs_f64());
                std::thread::sleep(pause)
            },
        }
    }

    fn send(&self, retriever: &Retriever, found: &[(String, String)]) -> Result<(), Error> {
        let texts: HashMap<&str, &str> =
            found.iter().map(|(id, text)| (id.as_str(), text.as_str())).collect();
        let started = Instant::now();
        let progress = ProgressLines::new(started, "points uploaded");
        let report = Self::upload(self.target, &self.http).run(retriever, &texts, &self.held, &|p| {
            progress.show(p.done, p.total)
        })?;
        println!(
            "Qdrant '{}': {} documents uploaded ({} points), {} unchanged, in {:.1} s",
            self.target.collection,
            report.documents_uploaded,
            report.points_uploaded,
            report.documents_unchanged + found.len().saturating_sub(retriever.len()),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// The indexer's progress on stderr: a line at most every two seconds with what is done (passages
/// encoded, points uploaded), the rate and the time left (a 10k-note vault is minutes of encoding:
/// never minutes of nothing).
struct ProgressLines {
    started: Instant,
    what: &'static str,
    last: std::sync::Mutex<Instant>,
}

impl ProgressLines {
    fn new(started: Instant, what: &'static str) -> ProgressLines {
        ProgressLines {
            started,
            what,
            last: std::sync::Mutex::new(started),
        }
    }

    fn show(&self, done: usize, total: usize) {
        let finished = done == total;
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
        let rate = done as f64 / seconds;
        let left = (total - done.min(total)) as f64 / rate.max(1e-9);
        eprintln!(
            "{}: {done}/{total} ({:.0}%), {rate:.1}/s, about {left:.0} s left",
            self.what,
            100.0 * done as f64 / total.max(1) as f64
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
