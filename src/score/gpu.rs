//! The GPU backend: `shaders/maxsim.wgsl` through `wgpu` (WebGPU in the browser, Vulkan/Metal/DX12
//! natively). The index is uploaded once per store generation and stays resident, split into chunks
//! that each fit one storage binding; a search writes only the query, dispatches every chunk, and reads
//! the scores back. Scoring is split into a synchronous `dispatch` and an awaitable
//! [`PendingScores::resolve`] because browsers deliver GPU results only from the event loop.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::QueryTokens;
use crate::index::{words_per_token, PackedTokens, Precision, StoredPassage, TokenStore};

const SHADER: &str = include_str!("../../shaders/maxsim.wgsl");
/// Longest query the GPU takes (its buffers are sized for it); longer ones are scored on the CPU.
const MAX_QUERY_TOKENS: usize = 512;
/// Must match `WORKGROUP` and `MAX_GROUPS_X` in the shader.
const WORKGROUP: u32 = 64;
const MAX_GROUPS_PER_DIMENSION: u32 = 65_535;
/// Token values one segment may hold: short loops per invocation (see the shader's header).
const SEGMENT_VALUES: usize = 16_384;
const MAX_SEGMENT_TOKENS: usize = 4_096;
/// Widest token vectors the kernel takes (`MAX_DIM4` vec4s in the shader).
const MAX_DIM: usize = 256;

/// Why the GPU could not score; the caller falls back to the CPU.
#[derive(Debug, Clone, PartialEq)]
pub enum GpuError {
    NoAdapter(String),
    DeviceLost(String),
    /// The query or a single passage does not fit what the kernel or a binding takes.
    TooLarge(String),
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::NoAdapter(m) => write!(f, "no usable GPU adapter: {m}"),
            GpuError::DeviceLost(m) => write!(f, "GPU device lost: {m}"),
            GpuError::TooLarge(m) => write!(f, "too large for the GPU kernel: {m}"),
        }
    }
}

pub struct GpuMaxSim {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Indexed by `storage_index(precision)`.
    segment_max: [wgpu::ComputePipeline; 4],
    passage_sum: wgpu::ComputePipeline,
    /// Set by the device-lost callback or the first uncaptured error: the device is not used again.
    failed: Arc<Mutex<Option<String>>>,
    binding_limit: u64,
    resident: Mutex<Option<Resident>>,
    pub adapter_name: String,
    pub is_fallback_adapter: bool,
}

/// The index as uploaded: one entry per chunk, plus the query buffers every chunk binds.
struct Resident {
    generation: u64,
    query_capacity: usize,
    query: [wgpu::Buffer; 3],
    chunks: Vec<Chunk>,
}

struct Chunk {
    passages: Range<usize>,
    n_segments: usize,
    params: wgpu::Buffer,
    scores: wgpu::Buffer,
    segment_max: wgpu::BindGroup,
    passage_sum: wgpu::BindGroup,
}

impl GpuMaxSim {
    /// Opens the default adapter. `binding_limit` caps the bytes of document tokens per chunk (the
    /// device's own storage-binding limit applies too); tests lower it to force several chunks.
    pub async fn new(
        allow_fallback_adapter: bool,
        binding_limit: Option<u64>,
    ) -> Result<GpuMaxSim, GpuError> {
        GpuMaxSim::with_shader(allow_fallback_adapter, binding_limit, SHADER).await
    }

    /// `new` with another kernel of the same interface: for benchmarks against an earlier kernel.
    #[doc(hidden)]
    pub async fn with_shader(
        allow_fallback_adapter: bool,
        binding_limit: Option<u64>,
        shader: &str,
    ) -> Result<GpuMaxSim, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let is_fallback_adapter = info.device_type == wgpu::DeviceType::Cpu;
        if is_fallback_adapter && !allow_fallback_adapter {
            return Err(GpuError::NoAdapter(format!(
                "only a software adapter ({}) is available",
                info.name
            )));
        }
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("colbert-wasm maxsim"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let failed = Arc::new(Mutex::new(None));
        watch_for_failure(&device, &failed);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("maxsim.wgsl"),
            source: wgpu::ShaderSource::Wgsl(shader.into()),
        });
        let pipeline = |entry_point: &str, storage: usize| {
            let constants = [("STORAGE", storage as f64)];
            // A kernel without the override (an earlier one, in benchmarks) reads `storage` from
            // its parameters instead.
            let overridable = usize::from(shader.contains("override STORAGE"));
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry_point),
                layout: None,
                module: &module,
                entry_point: Some(entry_point),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants[..overridable],
                    ..Default::default()
                },
                cache: None,
            })
        };
        // One `segment_max` pipeline per precision: the shader's decoding branch is a constant.
        let segment_max = std::array::from_fn(|storage| pipeline("segment_max", storage));
        let passage_sum = pipeline("passage_sum", 0);
        let device_limit = u64::from(limits.max_storage_buffer_binding_size);
        Ok(GpuMaxSim {
            device,
            queue,
            segment_max,
            passage_sum,
            failed,
            binding_limit: binding_limit.map_or(device_limit, |l| l.min(device_limit)),
            resident: Mutex::new(None),
            adapter_name: adapter_label(&info),
            is_fallback_adapter,
        })
    }

    /// Blocking constructor for native callers (tests, benchmarks).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(
        allow_fallback_adapter: bool,
        binding_limit: Option<u64>,
    ) -> Result<GpuMaxSim, GpuError> {
        pollster::block_on(GpuMaxSim::new(allow_fallback_adapter, binding_limit))
    }

    /// Destroys the device, as a driver reset or a lost tab would: for tests of the CPU fallback.
    pub fn destroy_device(&self) {
        self.device.destroy();
    }

    /// Number of chunks the resident index is split into (0 before the first search).
    pub fn chunk_count(&self) -> usize {
        self.lock_resident().as_ref().map_or(0, |r| r.chunks.len())
    }

    fn check_health(&self) -> Result<(), GpuError> {
        match self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(why) => Err(GpuError::DeviceLost(why.clone())),
            None => Ok(()),
        }
    }

    fn lock_resident(&self) -> std::sync::MutexGuard<'_, Option<Resident>> {
        self.resident.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uploads the index if it changed, writes the query, and submits every chunk's dispatch.
    pub fn dispatch(
        &self,
        query: &QueryTokens,
        store: &TokenStore,
    ) -> Result<PendingScores, GpuError> {
        self.check_health()?;
        if query.n_tokens() > MAX_QUERY_TOKENS {
            return Err(GpuError::TooLarge(format!(
                "{} query tokens (the kernel takes {MAX_QUERY_TOKENS})",
                query.n_tokens()
            )));
        }
        if store.dim() > MAX_DIM {
            return Err(GpuError::TooLarge(format!(
                "{}-dimensional vectors (the kernel takes {MAX_DIM})",
                store.dim()
            )));
        }
        let n_passages = store.passages().len();
        let mut resident = self.lock_resident();
        let stale = resident.as_ref().is_none_or(|r| {
            r.generation != store.generation() || r.query_capacity < query.data.len()
        });
        if stale {
            *resident = None; // free the old buffers before allocating new ones
            *resident = Some(self.upload(store, query.data.len().max(32 * store.dim()))?);
        }
        let resident = resident.as_ref().expect("uploaded above");
        // The shader's second query binding: int8 codes one per word, or a binary index's sign words.
        let codes: Vec<i32> = match store.precision() {
            Precision::Binary => query.signs.iter().map(|w| *w as i32).collect(),
            _ => query.int8.codes.iter().map(|c| i32::from(*c)).collect(),
        };
        let query_bytes: [&[u8]; 3] = [
            bytemuck::cast_slice(&query.data),
            bytemuck::cast_slice(&codes),
            bytemuck::cast_slice(&query.int8.scales),
        ];
        for (buffer, bytes) in resident.query.iter().zip(query_bytes) {
            if !bytes.is_empty() {
                self.queue.write_buffer(buffer, 0, bytes);
            }
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("maxsim readback"),
            size: (4 * n_passages.max(1)) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for chunk in &resident.chunks {
            let params = chunk_params(query, store, chunk);
            self.queue
                .write_buffer(&chunk.params, 0, bytemuck::cast_slice(&params));
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&self.segment_max[storage_index(store.precision())]);
                pass.set_bind_group(0, &chunk.segment_max, &[]);
                dispatch_folded(&mut pass, chunk.n_segments as u32);
                pass.set_pipeline(&self.passage_sum);
                pass.set_bind_group(0, &chunk.passage_sum, &[]);
                dispatch_folded(&mut pass, (chunk.passages.len() as u32).div_ceil(WORKGROUP));
            }
            encoder.copy_buffer_to_buffer(
                &chunk.scores,
                0,
                &staging,
                4 * chunk.passages.start as u64,
                4 * chunk.passages.len() as u64,
            );
        }
        self.queue.submit([encoder.finish()]);
        let submitted = web_time::Instant::now();
        let (sender, receiver) = futures_channel::oneshot::channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                let _ = sender.send(result);
            });
        Ok(PendingScores {
            device: self.device.clone(),
            failed: self.failed.clone(),
            staging,
            n_passages,
            mapped: receiver,
            submitted,
        })
    }

    /// Splits the store into chunks that fit one binding and uploads them.
    fn upload(&self, store: &TokenStore, query_capacity: usize) -> Result<Resident, GpuError> {
        let stride = words_per_stored_token(store.precision(), store.dim());
        let words = token_words(store.tokens(), store.dim());
        let scales = match store.tokens() {
            PackedTokens::Int8(t) => t.scales.as_slice(),
            _ => &[],
        };
        let query = [
            self.storage_buffer("query", 4 * query_capacity),
            self.storage_buffer("query codes", 4 * query_capacity),
            self.storage_buffer("query scales", 4 * MAX_QUERY_TOKENS),
        ];
        let segment_tokens = (SEGMENT_VALUES / store.dim().max(1)).clamp(1, MAX_SEGMENT_TOKENS);
        let query_tokens = query_capacity / store.dim().max(1);
        let mut chunks = Vec::new();
        for passages in self.chunk_ranges(store, stride, segment_tokens, query_tokens)? {
            let stored = &store.passages()[passages.clone()];
            let tokens = stored[0].tokens.start..stored[stored.len() - 1].tokens.end;
            let (segments, passage_segments) = segment(stored, tokens.start, segment_tokens);
            let doc = &words[tokens.start * stride..tokens.end * stride];
            let doc_scales = if scales.is_empty() {
                &[][..]
            } else {
                &scales[tokens.clone()]
            };
            let n_segments = segments.len() / 2;
            let params = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("maxsim params"),
                size: 32,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let scores = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("maxsim scores"),
                size: 4 * passages.len() as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let partial = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("maxsim partial"),
                size: (4 * n_segments.max(1) * query_tokens) as u64,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            });
            let segments = self.init_buffer("segments", bytemuck::cast_slice(&segments));
            let doc = self.init_buffer("doc", bytemuck::cast_slice(doc));
            let doc_scales = self.init_buffer("doc scales", bytemuck::cast_slice(doc_scales));
            let passage_segments =
                self.init_buffer("passage segments", bytemuck::cast_slice(&passage_segments));
            let segment_max = self.bind_group(
                &self.segment_max[storage_index(store.precision())],
                &[
                    (0, &params),
                    (1, &query[0]),
                    (2, &query[1]),
                    (3, &query[2]),
                    (4, &segments),
                    (5, &doc),
                    (6, &doc_scales),
                    (7, &partial),
                ],
            );
            let passage_sum = self.bind_group(
                &self.passage_sum,
                &[
                    (0, &params),
                    (7, &partial),
                    (8, &passage_segments),
                    (9, &scores),
                ],
            );
            chunks.push(Chunk {
                passages,
                n_segments,
                params,
                scores,
                segment_max,
                passage_sum,
            });
        }
        Ok(Resident {
            generation: store.generation(),
            query_capacity,
            query,
            chunks,
        })
    }

    /// Consecutive passage ranges whose token words, and whose per-segment query maxima, each fit
    /// the binding limit.
    fn chunk_ranges(
        &self,
        store: &TokenStore,
        stride: usize,
        segment_tokens: usize,
        query_tokens: usize,
    ) -> Result<Vec<Range<usize>>, GpuError> {
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let (mut doc_bytes, mut partial_bytes) = (0u64, 0u64);
        for (i, p) in store.passages().iter().enumerate() {
            let doc = (4 * stride * p.tokens.len()) as u64;
            let partial = (4 * query_tokens * p.tokens.len().div_ceil(segment_tokens)) as u64;
            if doc.max(partial) > self.binding_limit {
                return Err(GpuError::TooLarge(format!(
                    "a passage of {} tokens needs {} bytes; one binding holds {}",
                    p.tokens.len(),
                    doc.max(partial),
                    self.binding_limit
                )));
            }
            match ranges.last_mut() {
                Some(last)
                    if doc_bytes + doc <= self.binding_limit
                        && partial_bytes + partial <= self.binding_limit =>
                {
                    last.end = i + 1;
                    doc_bytes += doc;
                    partial_bytes += partial;
                }
                _ => {
                    ranges.push(i..i + 1);
                    (doc_bytes, partial_bytes) = (doc, partial);
                }
            }
        }
        Ok(ranges)
    }

    fn bind_group(
        &self,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: *binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    }

    fn storage_buffer(&self, label: &str, bytes: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `bytes`, padded to at least 16 bytes: WGSL arrays of `vec2`/`vec4`
    /// need a binding of at least one element, and empty bindings are invalid.
    fn init_buffer(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let mut contents = bytes.to_vec();
        contents.resize(bytes.len().max(16), 0);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &contents,
                usage: wgpu::BufferUsages::STORAGE,
            })
    }
}

/// Scores on their way back from the GPU.
pub struct PendingScores {
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    device: wgpu::Device,
    failed: Arc<Mutex<Option<String>>>,
    staging: wgpu::Buffer,
    n_passages: usize,
    mapped: futures_channel::oneshot::Receiver<Result<(), wgpu::BufferAsyncError>>,
    submitted: web_time::Instant,
}

impl PendingScores {
    /// When the work was submitted (after any upload): where `auto`'s GPU timing starts.
    pub fn submitted(&self) -> web_time::Instant {
        self.submitted
    }

    pub async fn resolve(self) -> Result<Vec<f32>, GpuError> {
        // Natively, map callbacks run inside `poll`; in the browser the event loop runs them.
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        let mapped = self.mapped.await;
        if let Some(why) = self
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(GpuError::DeviceLost(why));
        }
        match mapped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(GpuError::DeviceLost(e.to_string())),
            Err(_) => return Err(GpuError::DeviceLost("readback was cancelled".into())),
        }
        let scores = {
            let view = self
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| GpuError::DeviceLost(e.to_string()))?;
            view.chunks_exact(4)
                .take(self.n_passages)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        };
        self.staging.unmap();
        Ok(scores)
    }

    /// Blocking wait for native callers.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(self) -> Result<Vec<f32>, GpuError> {
        pollster::block_on(self.resolve())
    }
}

/// Records the first uncaptured error or device loss instead of wgpu's default (a panic).
fn watch_for_failure(device: &wgpu::Device, failed: &Arc<Mutex<Option<String>>>) {
    let record = |failed: &Arc<Mutex<Option<String>>>, why: String| {
        failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
    };
    let on_error = failed.clone();
    device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
        record(&on_error, describe(&error))
    }));
    let on_lost = failed.clone();
    device.set_device_lost_callback(move |reason, message| {
        record(&on_lost, format!("{reason:?}: {message}"))
    });
}

/// The adapter's name, or (browsers often hide it) its backend and kind.
fn adapter_label(info: &wgpu::AdapterInfo) -> String {
    let kind = if info.device_type == wgpu::DeviceType::Cpu {
        "software"
    } else {
        "hardware"
    };
    if info.name.is_empty() {
        format!("{:?} ({kind})", info.backend)
    } else {
        format!("{} ({kind})", info.name)
    }
}

/// wgpu's `Display` for errors is only the category; the description says what went wrong.
fn describe(error: &wgpu::Error) -> String {
    match error {
        wgpu::Error::Validation { description, .. } | wgpu::Error::Internal { description, .. } => {
            description.clone()
        }
        other => other.to_string(),
    }
}

/// The shader's `STORAGE` value for a precision: its place in `Precision::ALL`.
fn storage_index(precision: Precision) -> usize {
    Precision::ALL
        .iter()
        .position(|p| *p == precision)
        .unwrap_or(0)
}

fn chunk_params(query: &QueryTokens, store: &TokenStore, chunk: &Chunk) -> [u32; 8] {
    let storage = storage_index(store.precision()) as u32;
    [
        query.dim as u32,
        query.n_tokens() as u32,
        chunk.passages.len() as u32,
        chunk.n_segments as u32,
        words_per_stored_token(store.precision(), store.dim()) as u32,
        storage,
        0,
        0,
    ]
}

/// Dispatches `groups` workgroups, folding into a second dimension past the per-dimension limit.
fn dispatch_folded(pass: &mut wgpu::ComputePass<'_>, groups: u32) {
    if groups == 0 {
        return;
    }
    let x = groups.min(MAX_GROUPS_PER_DIMENSION);
    pass.dispatch_workgroups(x, groups.div_ceil(x), 1);
}

/// Splits each passage into segments of at most `segment_tokens` tokens: the segments' token ranges
/// (relative to `base`) and each passage's segment range, both as flat (start, end) pairs.
fn segment(passages: &[StoredPassage], base: usize, segment_tokens: usize) -> (Vec<u32>, Vec<u32>) {
    let (mut segments, mut passage_segments) = (Vec::new(), Vec::new());
    for p in passages {
        let first = segments.len() / 2;
        let mut start = p.tokens.start;
        while start < p.tokens.end {
            let end = (start + segment_tokens).min(p.tokens.end);
            segments.extend([(start - base) as u32, (end - base) as u32]);
            start = end;
        }
        passage_segments.extend([first as u32, (segments.len() / 2) as u32]);
    }
    (segments, passage_segments)
}

/// u32 words per token on the GPU: every token starts on a word boundary.
fn words_per_stored_token(precision: Precision, dim: usize) -> usize {
    match precision {
        Precision::F32 => dim,
        Precision::F16 => dim.div_ceil(2),
        Precision::Int8 => dim.div_ceil(4),
        Precision::Binary => words_per_token(dim),
    }
}

/// The arena's scanned tier repacked as whole words per token.
fn token_words(tokens: &PackedTokens, dim: usize) -> Vec<u32> {
    match tokens {
        PackedTokens::F32(data) => data.iter().map(|v| v.to_bits()).collect(),
        PackedTokens::F16(data) => data
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(2)
                    .map(|p| pack_halves(p[0].to_bits(), p.get(1).map_or(0, |h| h.to_bits())))
            })
            .collect(),
        PackedTokens::Int8(t) => t
            .codes
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(4).map(|quad| {
                    quad.iter()
                        .enumerate()
                        .fold(0u32, |w, (i, c)| w | u32::from(*c as u8) << (8 * i))
                })
            })
            .collect(),
        PackedTokens::Binary { bits, .. } => bits.clone(),
    }
}

/// Two f16 bit patterns in one word, first in the low half (what `unpack2x16float` reads as `[0]`).
fn pack_halves(first: u16, second: u16) -> u32 {
    u32::from(first) | u32::from(second) << 16
}
