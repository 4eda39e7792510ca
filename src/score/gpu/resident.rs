//! Which part of the index is on the device, and how is it kept current? The copy follows the store
//! by passage ids: chunks of consecutive passages, each within one storage binding; added passages
//! go into the last chunk's spare room (or new chunks), removed ones are masked (still scored, their
//! scores dropped) until a quarter of the copy is dead, when the next search uploads it afresh.

use std::ops::Range;

use super::contract::{compute_pipeline, Binding, PARAMS_BYTES};
use super::layout::{chunk_data, ChunkData, Layout};
use super::{GpuError, GpuMaxSim, MAX_QUERY_TOKENS};
use crate::index::{Precision, StoredPassage, TokenStore};

/// Room a new chunk leaves for documents added later, at least (tokens).
const SPARE_TOKENS: usize = 4_096;

/// The index as uploaded: chunks of consecutive passages, the query buffers every chunk binds, and
/// which store passage each resident one is. Adding documents appends into the last chunk's spare
/// room (or a new chunk); removing one only marks its passages dead (scored, then dropped) until dead
/// tokens pass a quarter of the copy, when the next search uploads it afresh (compaction).
pub struct Resident {
    pub generation: u64,
    pub precision: Precision,
    pub dim: usize,
    pub query_capacity: usize,
    pub query: [wgpu::Buffer; 3],
    /// `segment_max` specialised for this copy's layout.
    pub segment_max: wgpu::ComputePipeline,
    pub chunks: Vec<Chunk>,
    /// Per resident passage, in dispatch order: the store's passage id and token count; `None` once
    /// the store no longer has it.
    pub passages: Vec<Option<(u64, usize)>>,
    pub live_tokens: usize,
    pub dead_tokens: usize,
}

pub struct Chunk {
    /// Resident passage slots.
    pub passages: Range<usize>,
    pub tokens: usize,
    pub n_segments: usize,
    /// What the buffers hold, in tokens, segments and passages.
    pub capacity: [usize; 3],
    pub params: wgpu::Buffer,
    pub scores: wgpu::Buffer,
    pub doc: wgpu::Buffer,
    pub doc_scales: wgpu::Buffer,
    pub segments: wgpu::Buffer,
    pub passage_segments: wgpu::Buffer,
    pub segment_max: wgpu::BindGroup,
    pub passage_sum: wgpu::BindGroup,
}

impl GpuMaxSim {
    /// Splits the store into chunks that fit one binding and uploads them.
    pub(super) fn upload(
        &self,
        store: &TokenStore,
        query_capacity: usize,
    ) -> Result<Resident, GpuError> {
        let layout = Layout::of(store, query_capacity);
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
    pub(super) fn catch_up(
        &self,
        resident: &mut Resident,
        store: &TokenStore,
    ) -> Result<bool, GpuError> {
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
        let layout = Layout::of(store, resident.query_capacity);
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
        let params = buffer("maxsim params", PARAMS_BYTES, wgpu::BufferUsages::UNIFORM);
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
                (Binding::Params, &params),
                (Binding::Query, &resident.query[0]),
                (Binding::QueryCodes, &resident.query[1]),
                (Binding::QueryScales, &resident.query[2]),
                (Binding::Segments, &segments),
                (Binding::Doc, &doc),
                (Binding::DocScales, &doc_scales),
                (Binding::Partial, &partial),
            ],
        );
        let passage_sum = self.bind_group(
            &self.passage_sum,
            &[
                (Binding::Params, &params),
                (Binding::Partial, &partial),
                (Binding::PassageSegments, &passage_segments),
                (Binding::Scores, &scores),
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
        buffers: &[(Binding, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding.index(),
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
