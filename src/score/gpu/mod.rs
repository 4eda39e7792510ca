//! The GPU backend: `maxsim.wgsl` (beside this file) through `wgpu` (WebGPU in the browser,
//! Vulkan/Metal/DX12 natively), split by question:
//!
//! | module | question |
//! |---|---|
//! | `device` | Which GPU, and is it still usable? |
//! | `contract` | What do Rust and the shader agree on (sizes, precision codes, params, bindings)? |
//! | `layout` | How do a store's tokens sit on the device (padding, segments, interleaving)? |
//! | `resident` | Which part of the index is on the device, and how is it kept current? |
//! | `dispatch` | How does one search run there, and how do its scores come back? |
//!
//! The index stays resident, split into chunks that each fit one storage binding, and is kept current
//! by uploading only what changed; a search writes only the query, dispatches every chunk, and reads
//! the scores back. Scoring is split into a synchronous `dispatch` and an awaitable
//! [`PendingScores::resolve`] because browsers deliver GPU results only from the event loop.

mod contract;
mod device;
mod dispatch;
mod layout;
mod resident;

use std::sync::Mutex;

pub use crate::error::GpuError;
pub use dispatch::PendingScores;

use resident::Resident;

const SHADER_BODY: &str = include_str!("maxsim.wgsl");
/// Longest query the GPU takes (its buffers are sized for it); longer ones are scored on the CPU.
const MAX_QUERY_TOKENS: usize = 512;
/// Widest token vectors the kernel takes (the query tile must also fit the device's workgroup memory:
/// 16 KiB, WebGPU's default, holds f32 and f16 tiles up to 128 dimensions).
const MAX_DIM: usize = 256;

pub struct GpuMaxSim {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// `segment_max` pipelines are specialised per index layout (`Layout::pipeline_constants`), created at upload.
    module: wgpu::ShaderModule,
    passage_sum: wgpu::ComputePipeline,
    health: device::Health,
    binding_limit: u64,
    /// The device's workgroup memory, in bytes: the query tile must fit.
    workgroup_limit: usize,
    resident: Mutex<Option<Resident>>,
    /// Bytes of index data written to the device so far (queries excluded).
    uploaded: std::sync::atomic::AtomicU64,
    pub adapter_name: String,
    pub is_fallback_adapter: bool,
}

impl GpuMaxSim {
    /// Opens the default adapter. `binding_limit` caps the bytes of document tokens per chunk (the
    /// device's own storage-binding limit applies too); tests lower it to force several chunks.
    pub async fn new(
        allow_fallback_adapter: bool,
        binding_limit: Option<u64>,
    ) -> Result<GpuMaxSim, GpuError> {
        GpuMaxSim::with_shader(allow_fallback_adapter, binding_limit, SHADER_BODY).await
    }

    /// `new` with a variant of the kernel's body (same entry points and overrides; the contract's
    /// declarations are put in front of it): for benchmarks of variants.
    #[doc(hidden)]
    pub async fn with_shader(
        allow_fallback_adapter: bool,
        binding_limit: Option<u64>,
        shader_body: &str,
    ) -> Result<GpuMaxSim, GpuError> {
        let opened = device::open(allow_fallback_adapter).await?;
        let module = opened
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("maxsim.wgsl"),
                source: wgpu::ShaderSource::Wgsl(contract::shader_source(shader_body).into()),
            });
        let passage_sum = contract::compute_pipeline(&opened.device, &module, "passage_sum", &[]);
        let device_limit = u64::from(opened.limits.max_storage_buffer_binding_size);
        Ok(GpuMaxSim {
            passage_sum,
            module,
            binding_limit: binding_limit.map_or(device_limit, |l| l.min(device_limit)),
            workgroup_limit: opened.limits.max_compute_workgroup_storage_size as usize,
            resident: Mutex::new(None),
            uploaded: Default::default(),
            device: opened.device,
            queue: opened.queue,
            health: opened.health,
            adapter_name: opened.adapter_name,
            is_fallback_adapter: opened.is_fallback_adapter,
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

    fn lock_resident(&self) -> std::sync::MutexGuard<'_, Option<Resident>> {
        self.resident.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The GPU behind the CPU kernels' trait, natively: blocks until its scores are back. A failure
/// gives NaN scores (which match nothing), so a broken device cannot pass as a conforming backend.
#[cfg(not(target_arch = "wasm32"))]
impl super::MaxSim for GpuMaxSim {
    fn name(&self) -> &'static str {
        super::WEBGPU
    }

    fn score_all(&self, query: &super::QueryTokens, store: &crate::index::TokenStore) -> Vec<f32> {
        self.dispatch(query, store)
            .and_then(|pending| pending.wait())
            .unwrap_or_else(|_| vec![f32::NAN; store.passages().len()])
    }
}
