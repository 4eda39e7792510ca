//! The GPU backend: `shaders/maxsim.wgsl` through `wgpu` (WebGPU in the browser, Vulkan/Metal/DX12
//! natively). The index stays resident, split into chunks that each fit one storage binding, and is
//! kept current by uploading only what changed (`Resident`); a search writes only the query,
//! dispatches every chunk, and reads the scores back. Scoring is split into a synchronous `dispatch` and an awaitable
//! [`PendingScores::resolve`] because browsers deliver GPU results only from the event loop.

use std::ops::Range;
use std::sync::{Arc, Mutex};

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
/// Must match the shader's `TILE`: query tokens per tile.
const TILE: usize = 16;
/// Workgroup memory the shader takes besides its query tile (`tile_scales`, `lane_tops`).
const WORKGROUP_BYTES_BESIDES_TILE: usize = 4 * TILE + 16 * 4 * WORKGROUP as usize;
/// Widest token vectors the kernel takes (the query tile must also fit the device's workgroup memory:
/// 16 KiB, WebGPU's default, holds f32 and f16 tiles up to 128 dimensions).
const MAX_DIM: usize = 256;
/// Room a new chunk leaves for documents added later, at least (tokens).
const SPARE_TOKENS: usize = 4_096;

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
    /// `segment_max` pipelines are specialised per index layout (`Layout::pipeline_constants`), created at upload.
    module: wgpu::ShaderModule,
    passage_sum: wgpu::ComputePipeline,
    /// Set by the device-lost callback or the first uncaptured error: the device is not used again.
    failed: Arc<Mutex<Option<String>>>,
    binding_limit: u64,
    /// The device's workgroup memory, in bytes: the query tile must fit.
    workgroup_limit: usize,
    resident: Mutex<Option<Resident>>,
    /// Bytes of index data written to the device so far (queries excluded).
    uploaded: std::sync::atomic::AtomicU64,
    pub adapter_name: String,
    pub is_fallback_adapter: bool,
}

/// The index as uploaded: chunks of consecutive passages, the query buffers every chunk binds, and
/// which store passage each resident one is. Adding documents appends into the last chunk's spare
/// room (or a new chunk); removing one only marks its passages dead (scored, then dropped) until dead
/// tokens pass a quarter of the copy, when the next search uploads it afresh (compaction).
struct Resident {
    generation: u64,
    precision: Precision,
    dim: usize,
    query_capacity: usize,
    query: [wgpu::Buffer; 3],
    /// `segment_max` specialised for this copy's layout.
    segment_max: wgpu::ComputePipeline,
    chunks: Vec<Chunk>,
    /// Per resident passage, in dispatch order: the store's passage id and token count; `None` once
    /// the store no longer has it.
    passages: Vec<Option<(u64, usize)>>,
    live_tokens: usize,
    dead_tokens: usize,
}

struct Chunk {
    /// Resident passage slots.
    passages: Range<usize>,
    tokens: usize,
    n_segments: usize,
    /// What the buffers hold, in tokens, segments and passages.
    capacity: [usize; 3],
    params: wgpu::Buffer,
    scores: wgpu::Buffer,
    doc: wgpu::Buffer,
    doc_scales: wgpu::Buffer,
    segments: wgpu::Buffer,
    passage_segments: wgpu::Buffer,
    segment_max: wgpu::BindGroup,
    passage_sum: wgpu::BindGroup,
}

/// The stored passages `slots` of `store` laid out for one chunk: token words (and int8 scales)
/// from the passages' first token, segments relative to it, and each passage's segment range.
struct ChunkData {
    words: Vec<u32>,
    scales: Vec<f32>,
    segments: Vec<u32>,
    passage_segments: Vec<u32>,
    tokens: usize,
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

    /// `new` with a variant of the kernel (same bindings and overrides): for benchmarks of variants.
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
        let passage_sum = compute_pipeline(&device, &module, "passage_sum", &[]);
        let device_limit = u64::from(limits.max_storage_buffer_binding_size);
        Ok(GpuMaxSim {
            device,
            queue,
            module,
            passage_sum,
            failed,
            binding_limit: binding_limit.map_or(device_limit, |l| l.min(device_limit)),
            workgroup_limit: limits.max_compute_workgroup_storage_size as usize,
            resident: Mutex::new(None),
            uploaded: Default::default(),
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

    /// Bytes of index data uploaded to the device so far: what keeping the copy current has cost.
    pub fn uploaded_bytes(&self) -> u64 {
        self.uploaded.load(std::sync::atomic::Ordering::Relaxed)
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
        let mut resident = self.lock_resident();
        // A longer query than the copy was made for re-uploads it: grow by powers of two, so queries
        // up to the manifest's 128 tokens (or more) cost at most a few uploads, not one per length.
        let query_capacity = query.data.len().next_power_of_two().max(32 * store.dim());
        let kept = resident.take().and_then(|mut r| {
            let usable = r.precision == store.precision()
                && r.dim == store.dim()
                && r.query_capacity >= query.data.len();
            (usable && self.catch_up(&mut r, store).ok()?).then_some(r)
        });
        let resident = match kept {
            Some(r) => resident.insert(r),
            // The old buffers are freed (taken above) before new ones are allocated.
            None => resident.insert(self.upload(store, query_capacity)?),
        };
        let n_passages = resident.passages.len();
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
                pass.set_pipeline(&resident.segment_max);
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
        let live = (resident.passages.iter().any(Option::is_none))
            .then(|| resident.passages.iter().map(Option::is_some).collect());
        Ok(PendingScores {
            device: self.device.clone(),
            failed: self.failed.clone(),
            staging,
            n_passages,
            live,
            mapped: receiver,
            submitted,
        })
    }

    /// Splits the store into chunks that fit one binding and uploads them.
    fn upload(&self, store: &TokenStore, query_capacity: usize) -> Result<Resident, GpuError> {
        let layout = self.layout(store, query_capacity);
        if layout.workgroup_bytes() > self.workgroup_limit {
            return Err(GpuError::TooLarge(format!(
                "{}-dimensional {} vectors need {} bytes of workgroup memory; the device has {}",
                layout.dim,
                layout.precision.name(),
                layout.workgroup_bytes(),
                self.workgroup_limit
            )));
        }
        let segment_max = compute_pipeline(
            &self.device,
            &self.module,
            "segment_max",
            &layout.pipeline_constants(),
        );
        let query = [
            self.storage_buffer("query", 4 * query_capacity),
            self.storage_buffer("query codes", 4 * query_capacity),
            self.storage_buffer("query scales", 4 * MAX_QUERY_TOKENS),
        ];
        let mut resident = Resident {
            generation: store.generation(),
            precision: store.precision(),
            dim: store.dim(),
            query_capacity,
            query,
            segment_max,
            chunks: Vec::new(),
            passages: Vec::new(),
            live_tokens: 0,
            dead_tokens: 0,
        };
        self.append(&mut resident, store, 0..store.passages().len())?;
        Ok(resident)
    }

    /// Brings a resident copy up to `store`: passages the store no longer has are marked dead, new
    /// ones appended. `Ok(false)`: too much is dead, upload afresh instead.
    fn catch_up(&self, resident: &mut Resident, store: &TokenStore) -> Result<bool, GpuError> {
        if resident.generation == store.generation() {
            return Ok(true);
        }
        // The store keeps its passages' order and appends new ones at the end, so one walk pairs
        // the resident passages with the store's; whatever the walk cannot pair is dead.
        let ids = store.passage_ids();
        let mut next = 0;
        for slot in resident.passages.iter_mut() {
            if let Some((id, tokens)) = *slot {
                if ids.get(next) == Some(&id) {
                    next += 1;
                } else {
                    *slot = None;
                    resident.live_tokens -= tokens;
                    resident.dead_tokens += tokens;
                }
            }
        }
        let added: usize = store.passages()[next..]
            .iter()
            .map(|p| p.tokens.len())
            .sum();
        if 4 * resident.dead_tokens > resident.live_tokens + resident.dead_tokens + added {
            return Ok(false);
        }
        self.append(resident, store, next..store.passages().len())?;
        resident.generation = store.generation();
        Ok(true)
    }

    /// Uploads store passages `slots` after the resident ones: into the last chunk while its spare
    /// room lasts, then into new chunks.
    fn append(
        &self,
        resident: &mut Resident,
        store: &TokenStore,
        slots: Range<usize>,
    ) -> Result<(), GpuError> {
        let layout = self.layout(store, resident.query_capacity);
        let passages = &store.passages()[slots.clone()];
        let mut start = 0;
        if let Some(last) = resident.chunks.last_mut() {
            let fits = self.fitting(passages, &layout, last)?;
            if fits > 0 {
                let data = chunk_data(store, &passages[..fits], &layout, last.n_segments);
                self.write_into(last, &data, &layout);
                start = fits;
            }
        }
        for range in self.chunk_ranges(&passages[start..], &layout)? {
            let range = range.start + start..range.end + start;
            let first_slot = resident.passages.len() + range.start;
            let data = chunk_data(store, &passages[range.clone()], &layout, 0);
            resident
                .chunks
                .push(self.new_chunk(resident, first_slot, &data, &layout));
        }
        for (p, id) in passages.iter().zip(&store.passage_ids()[slots]) {
            resident.passages.push(Some((*id, p.tokens.len())));
            resident.live_tokens += p.tokens.len();
        }
        Ok(())
    }

    /// How many of `passages` fit the chunk's spare room.
    fn fitting(
        &self,
        passages: &[StoredPassage],
        layout: &Layout,
        chunk: &Chunk,
    ) -> Result<usize, GpuError> {
        let [token_room, segment_room, passage_room] = chunk.capacity;
        let (mut tokens, mut segments) = (chunk.tokens, chunk.n_segments);
        for (i, p) in passages.iter().enumerate() {
            tokens += p.tokens.len();
            segments += p.tokens.len().div_ceil(layout.segment_tokens);
            let passages = chunk.passages.len() + i + 1;
            if tokens > token_room || segments > segment_room || passages > passage_room {
                return Ok(i);
            }
        }
        Ok(passages.len())
    }

    /// A chunk for `data`, its buffers sized with room to grow (an eighth more, at least
    /// `SPARE_TOKENS` tokens, within the binding limit), first passage at resident slot `first_slot`.
    fn new_chunk(
        &self,
        resident: &Resident,
        first_slot: usize,
        data: &ChunkData,
        layout: &Layout,
    ) -> Chunk {
        let n_passages = data.passage_segments.len() / 2;
        let n_segments = data.segments.len() / 2;
        let limit_tokens = (self.binding_limit as usize / layout.token_bytes()).max(data.tokens);
        let tokens = (data.tokens + (data.tokens / 8).max(SPARE_TOKENS)).min(limit_tokens);
        // Room for as many more passages and segments as tokens: even one-token passages fit.
        let spare = tokens - data.tokens;
        let limit_segments =
            (self.binding_limit as usize / (4 * layout.query_tokens.max(1))).max(n_segments);
        let capacity = [
            tokens,
            (n_segments + spare).min(limit_segments),
            n_passages + spare,
        ];
        let [_, segment_cap, passage_cap] = capacity;
        let buffer = |label, bytes: usize, usage| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                // WGSL arrays of vec2/vec4 need a binding of at least one element.
                size: bytes.max(16) as u64,
                usage: usage | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let storage = wgpu::BufferUsages::STORAGE;
        let doc_scales_bytes = if layout.scaled { 4 * tokens } else { 0 };
        let params = buffer("maxsim params", 32, wgpu::BufferUsages::UNIFORM);
        let scores = buffer(
            "maxsim scores",
            4 * passage_cap,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let doc = buffer("doc", layout.token_bytes() * tokens, storage);
        let doc_scales = buffer("doc scales", doc_scales_bytes, storage);
        let segments = buffer("segments", 8 * segment_cap, storage);
        let passage_segments = buffer("passage segments", 8 * passage_cap, storage);
        let partial = buffer(
            "maxsim partial",
            4 * segment_cap * layout.query_tokens,
            storage,
        );
        let segment_max = self.bind_group(
            &resident.segment_max,
            &[
                (0, &params),
                (1, &resident.query[0]),
                (2, &resident.query[1]),
                (3, &resident.query[2]),
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
        let mut chunk = Chunk {
            passages: first_slot..first_slot,
            tokens: 0,
            n_segments: 0,
            capacity,
            params,
            scores,
            doc,
            doc_scales,
            segments,
            passage_segments,
            segment_max,
            passage_sum,
        };
        self.write_into(&mut chunk, data, layout);
        chunk
    }

    /// Writes `data` after what the chunk holds (the caller checked it fits).
    fn write_into(&self, chunk: &mut Chunk, data: &ChunkData, layout: &Layout) {
        let token_offset = chunk.tokens;
        let segments: Vec<u32> = data
            .segments
            .iter()
            .map(|s| s + token_offset as u32)
            .collect();
        let writes: [(&wgpu::Buffer, usize, &[u8]); 4] = [
            (
                &chunk.doc,
                layout.token_bytes() * token_offset,
                bytemuck::cast_slice(&data.words),
            ),
            (
                &chunk.doc_scales,
                4 * token_offset,
                bytemuck::cast_slice(&data.scales),
            ),
            (
                &chunk.segments,
                8 * chunk.n_segments,
                bytemuck::cast_slice(&segments),
            ),
            (
                &chunk.passage_segments,
                8 * chunk.passages.len(),
                bytemuck::cast_slice(&data.passage_segments),
            ),
        ];
        for (buffer, offset, bytes) in writes {
            if !bytes.is_empty() {
                self.queue.write_buffer(buffer, offset as u64, bytes);
                self.uploaded
                    .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
        chunk.tokens += data.tokens;
        chunk.n_segments += data.segments.len() / 2;
        chunk.passages.end += data.passage_segments.len() / 2;
    }

    /// How this store's tokens are laid out on the device.
    fn layout(&self, store: &TokenStore, query_capacity: usize) -> Layout {
        let segment_tokens = (SEGMENT_VALUES / store.dim().max(1)).clamp(1, MAX_SEGMENT_TOKENS);
        Layout {
            precision: store.precision(),
            dim: store.dim(),
            token_vec4s: words_per_stored_token(store.precision(), store.dim()).div_ceil(4),
            segment_tokens,
            query_tokens: query_capacity / store.dim().max(1),
            scaled: matches!(store.tokens(), PackedTokens::Int8(_)),
        }
    }

    /// Consecutive ranges of `passages` whose token words, and whose per-segment query maxima, each
    /// fit the binding limit.
    fn chunk_ranges(
        &self,
        passages: &[StoredPassage],
        layout: &Layout,
    ) -> Result<Vec<Range<usize>>, GpuError> {
        let mut ranges: Vec<Range<usize>> = Vec::new();
        let (mut doc_bytes, mut partial_bytes) = (0u64, 0u64);
        for (i, p) in passages.iter().enumerate() {
            let doc = (layout.token_bytes() * p.tokens.len()) as u64;
            let segments = p.tokens.len().div_ceil(layout.segment_tokens);
            let partial = (4 * layout.query_tokens * segments) as u64;
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
}

/// Scores on their way back from the GPU.
pub struct PendingScores {
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    device: wgpu::Device,
    failed: Arc<Mutex<Option<String>>>,
    staging: wgpu::Buffer,
    n_passages: usize,
    /// Which resident passages the store still has (None: all): the others' scores are dropped.
    live: Option<Vec<bool>>,
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
            let scores = view
                .chunks_exact(4)
                .take(self.n_passages)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            match &self.live {
                Some(live) => scores
                    .zip(live)
                    .filter(|(_, l)| **l)
                    .map(|(s, _)| s)
                    .collect(),
                None => scores.collect(),
            }
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

/// How a store's tokens sit on the device (fixed for a resident copy).
struct Layout {
    precision: Precision,
    dim: usize,
    /// vec4<u32>s per token on the device: its words padded to a multiple of four.
    token_vec4s: usize,
    segment_tokens: usize,
    /// Query tokens the `partial` buffers have room for.
    query_tokens: usize,
    /// Whether tokens carry an int8 scale.
    scaled: bool,
}

impl Layout {
    fn token_bytes(&self) -> usize {
        16 * self.token_vec4s
    }

    /// vec4s per query token in the tile: f16 tokens hold eight values per vec4; the query tile keeps
    /// f32 values, four per vec4.
    fn query_vec4s(&self) -> usize {
        self.token_vec4s
            * if self.precision == Precision::F16 {
                2
            } else {
                1
            }
    }

    /// The shader's override constants for this layout (see its header).
    fn pipeline_constants(&self) -> Vec<(&'static str, f64)> {
        let query_vec4s = self.query_vec4s();
        vec![
            ("STORAGE", storage_index(self.precision) as f64),
            ("TOKEN_VEC4S", self.token_vec4s as f64),
            ("QUERY_VEC4S", query_vec4s as f64),
            ("TILE_ROOM", (TILE * query_vec4s) as f64),
        ]
    }

    fn workgroup_bytes(&self) -> usize {
        16 * TILE * self.query_vec4s() + WORKGROUP_BYTES_BESIDES_TILE
    }
}

fn compute_pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry_point: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry_point),
        layout: None,
        module,
        entry_point: Some(entry_point),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

/// `passages`' data for a chunk whose segments so far number `first_segment`.
fn chunk_data(
    store: &TokenStore,
    passages: &[StoredPassage],
    layout: &Layout,
    first_segment: usize,
) -> ChunkData {
    let Some(first) = passages.first() else {
        return ChunkData {
            words: Vec::new(),
            scales: Vec::new(),
            segments: Vec::new(),
            passage_segments: Vec::new(),
            tokens: 0,
        };
    };
    let tokens = first.tokens.start..passages[passages.len() - 1].tokens.end;
    let (segments, mut passage_segments) = segment(passages, tokens.start, layout.segment_tokens);
    passage_segments
        .iter_mut()
        .for_each(|s| *s += first_segment as u32);
    let scales = match store.tokens() {
        PackedTokens::Int8(t) => t.scales[tokens.clone()].to_vec(),
        _ => Vec::new(),
    };
    let words = token_words(store.tokens(), layout, tokens.clone());
    ChunkData {
        words: interleave(&words, &segments, layout.token_vec4s),
        scales,
        segments,
        passage_segments,
        tokens: tokens.len(),
    }
}

/// Token words (`token_vec4s` vec4s per token) reordered segment by segment so that vec4 `v` of a
/// segment's token `t` sits at `segment start * token_vec4s + v * segment length + t`: neighbouring
/// lanes, taking neighbouring tokens, then read neighbouring memory (see the shader's header).
fn interleave(words: &[u32], segments: &[u32], token_vec4s: usize) -> Vec<u32> {
    let vec4s: &[[u32; 4]] = bytemuck::cast_slice(words);
    let mut out: Vec<[u32; 4]> = Vec::with_capacity(vec4s.len());
    for segment in segments.chunks_exact(2) {
        let tokens = segment[0] as usize..segment[1] as usize;
        for v in 0..token_vec4s {
            out.extend(tokens.clone().map(|t| vec4s[t * token_vec4s + v]));
        }
    }
    bytemuck::cast_vec(out)
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

/// The scanned tier of arena tokens `range`, repacked as whole vec4s of words per token (zeros after
/// the token's own words: they add nothing to any precision's similarity).
fn token_words(tokens: &PackedTokens, layout: &Layout, range: Range<usize>) -> Vec<u32> {
    let words = words_per_stored_token(layout.precision, layout.dim);
    let padded = 4 * layout.token_vec4s;
    let unpadded = unpadded_token_words(tokens, layout.dim, range);
    if padded == words {
        return unpadded;
    }
    unpadded
        .chunks_exact(words.max(1))
        .flat_map(|token| {
            token
                .iter()
                .copied()
                .chain(std::iter::repeat_n(0, padded - words))
        })
        .collect()
}

fn unpadded_token_words(tokens: &PackedTokens, dim: usize, range: Range<usize>) -> Vec<u32> {
    let values = range.start * dim..range.end * dim;
    match tokens {
        PackedTokens::F32(data) => data[values].iter().map(|v| v.to_bits()).collect(),
        PackedTokens::F16(data) => data[values]
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(2)
                    .map(|p| pack_halves(p[0].to_bits(), p.get(1).map_or(0, |h| h.to_bits())))
            })
            .collect(),
        PackedTokens::Int8(t) => t.codes[values]
            .chunks_exact(dim)
            .flat_map(|row| {
                row.chunks(4).map(|quad| {
                    quad.iter()
                        .enumerate()
                        .fold(0u32, |w, (i, c)| w | u32::from(*c as u8) << (8 * i))
                })
            })
            .collect(),
        PackedTokens::Binary { bits, .. } => {
            let w = words_per_token(dim);
            bits[range.start * w..range.end * w].to_vec()
        }
    }
}

/// Two f16 bit patterns in one word, first in the low half (what `unpack2x16float` reads as `[0]`).
fn pack_halves(first: u16, second: u16) -> u32 {
    u32::from(first) | u32::from(second) << 16
}
