//! Which kernel scores this search? The backends by name (the one place their names are written),
//! the caller's choice among them, the policy that turns a choice and a search's size into a backend,
//! and the GPU's health: once it fails, searches stay on the CPU and the reason is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::{GpuError, GpuMaxSim, LanesMaxSim, MaxSim, ScalarMaxSim};
use crate::error::{Error, Result};

pub const SCALAR: &str = "scalar";
pub const SIMD: &str = "simd";
pub const WEBGPU: &str = "webgpu";

/// Which MaxSim backend searches use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The GPU when one is attached, is a hardware adapter, and the search is big enough to repay its
    /// fixed cost (`GPU_MIN_WORK`); the SIMD CPU kernel otherwise.
    #[default]
    Auto,
    Webgpu,
    Simd,
    Scalar,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackendChoice> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            WEBGPU => Ok(BackendChoice::Webgpu),
            SIMD => Ok(BackendChoice::Simd),
            SCALAR => Ok(BackendChoice::Scalar),
            _ => Err(Error::InvalidInput(format!(
                "unknown backend '{s}' (expected auto, {WEBGPU}, {SIMD} or {SCALAR})"
            ))),
        }
    }
}

/// Multiply-adds (stored tokens x query tokens x dim) from which `Auto` prefers a hardware GPU:
/// below it the dispatch and read-back round trip (~1 ms on the event loop) outweighs the scan. Set
/// from the wasm SIMD kernel's measured ~3.5 G multiply-adds/s (bench:maxsim): 3.5 M take ~1 ms.
pub const GPU_MIN_WORK: usize = 4_000_000;

/// Every backend this machine can run, reference first: the CPU kernels, and the GPU when given.
/// What the conformance suite runs (natively; in wasm the GPU's results arrive asynchronously).
pub fn registry(gpu: Option<&GpuMaxSim>) -> Vec<&dyn MaxSim> {
    let cpu: [&dyn MaxSim; 2] = [&ScalarMaxSim, &LanesMaxSim];
    #[cfg(not(target_arch = "wasm32"))]
    let gpu = gpu.map(|gpu| gpu as &dyn MaxSim);
    #[cfg(target_arch = "wasm32")]
    let gpu: Option<&dyn MaxSim> = gpu.and(None);
    cpu.into_iter().chain(gpu).collect()
}

/// The backends a retriever can score with, the choice among them, and the GPU's health.
#[derive(Default)]
pub struct Backends {
    gpu: Option<GpuMaxSim>,
    choice: BackendChoice,
    /// Set once the GPU fails (lost device, error): later searches stay on the CPU.
    failed: AtomicBool,
    /// Why the GPU is not used: it could not be opened, or it failed.
    error: Mutex<Option<String>>,
}

impl Backends {
    /// Gives searches a GPU backend (see [`BackendChoice`]).
    pub fn attach_gpu(&mut self, gpu: GpuMaxSim) {
        self.gpu = Some(gpu);
        self.failed.store(false, Ordering::Relaxed);
        *self.lock_error() = None;
    }

    pub fn gpu(&self) -> Option<&GpuMaxSim> {
        self.gpu.as_ref()
    }

    pub fn set_choice(&mut self, choice: BackendChoice) {
        self.choice = choice;
    }

    /// The GPU, when the choice and a search of `work` multiply-adds call for it and it is healthy.
    pub fn gpu_for(&self, work: usize) -> Option<&GpuMaxSim> {
        let gpu = self
            .gpu
            .as_ref()
            .filter(|_| !self.failed.load(Ordering::Relaxed))?;
        let wanted = match self.choice {
            BackendChoice::Webgpu => true,
            BackendChoice::Auto => !gpu.is_fallback_adapter && work >= GPU_MIN_WORK,
            BackendChoice::Simd | BackendChoice::Scalar => false,
        };
        wanted.then_some(gpu)
    }

    /// The CPU kernel for searches the GPU does not take.
    pub fn cpu(&self) -> &'static dyn MaxSim {
        match self.choice {
            BackendChoice::Scalar => &ScalarMaxSim,
            _ => &LanesMaxSim,
        }
    }

    /// The backend's name a search of `work` multiply-adds would use now.
    pub fn name_for(&self, work: usize) -> &'static str {
        match self.gpu_for(work) {
            Some(_) => WEBGPU,
            None => self.cpu().name(),
        }
    }

    /// The GPU failed: it is not used again, and `error` says why.
    pub fn gpu_failed(&self, why: &GpuError) {
        self.failed.store(true, Ordering::Relaxed);
        *self.lock_error() = Some(why.to_string());
    }

    /// No GPU could be opened (none, or not allowed): kept as the reason searches use the CPU.
    pub fn gpu_unavailable(&self, why: &str) {
        *self.lock_error() = Some(why.to_owned());
    }

    /// Why the GPU is not used, if it is not.
    pub fn error(&self) -> Option<String> {
        self.lock_error().clone()
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.error.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The GPU behind the CPU kernels' trait, natively: blocks until its scores are back. A failure
/// gives NaN scores (which match nothing), so a broken device cannot pass as a conforming backend.
#[cfg(not(target_arch = "wasm32"))]
impl MaxSim for GpuMaxSim {
    fn name(&self) -> &'static str {
        WEBGPU
    }

    fn score_all(&self, query: &super::QueryTokens, store: &crate::index::TokenStore) -> Vec<f32> {
        self.dispatch(query, store)
            .and_then(|pending| pending.wait())
            .unwrap_or_else(|_| vec![f32::NAN; store.passages().len()])
    }
}
