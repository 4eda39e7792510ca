//! How does one search run on the GPU, and how do its scores come back? Writes the query, records
//! every chunk's two passes (`segment_max`, then `passage_sum`) and one copy into a read-back buffer,
//! submits, and resolves once the buffer is mapped (from the event loop in browsers).

use super::contract::{Params, MAX_GROUPS_PER_DIMENSION, WORKGROUP};
use super::device::Health;
use super::layout::words_per_stored_token;
use super::resident::Chunk;
use super::{GpuError, GpuMaxSim, MAX_DIM, MAX_QUERY_TOKENS};
use crate::index::{Precision, TokenStore};
use crate::score::QueryTokens;

impl GpuMaxSim {
    /// Uploads the index if it changed, writes the query, and submits every chunk's dispatch.
    pub fn dispatch(
        &self,
        query: &QueryTokens,
        store: &TokenStore,
    ) -> Result<PendingScores, GpuError> {
        self.health.check()?;
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
            let params = chunk_params(query, store, chunk).words();
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
            health: self.health.clone(),
            staging,
            n_passages,
            live,
            mapped: receiver,
            submitted,
        })
    }
}

/// Scores on their way back from the GPU.
pub struct PendingScores {
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    device: wgpu::Device,
    health: Health,
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
        self.health.check()?;
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

fn chunk_params(query: &QueryTokens, store: &TokenStore, chunk: &Chunk) -> Params {
    Params {
        dim: query.dim as u32,
        n_query: query.n_tokens() as u32,
        n_passages: chunk.passages.len() as u32,
        n_segments: chunk.n_segments as u32,
        stride: words_per_stored_token(store.precision(), store.dim()) as u32,
    }
}

/// Dispatches `groups` workgroups, folding into a second dimension past the per-dimension limit.
fn dispatch_folded(pass: &mut wgpu::ComputePass<'_>, groups: u32) {
    if groups == 0 {
        return;
    }
    let x = groups.min(MAX_GROUPS_PER_DIMENSION);
    pass.dispatch_workgroups(x, groups.div_ceil(x), 1);
}
