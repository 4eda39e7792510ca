//! Which kernel scores this search? The backends by name (the one place their names are written),
//! the caller's choice among them, the policy that turns a choice and a search's size into a backend
//! (`auto`: what was measured for that size class), and the GPU's health: once it fails, searches
//! stay on the CPU and the reason is kept.

use std::collections::BTreeMap;
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
    /// Whichever of the GPU and the SIMD CPU kernel measured faster for searches of this size class
    /// (the first search of a class runs both and times them); the CPU without a healthy GPU.
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

/// Indexes are grouped into size classes by their stored values (tokens x dim), each 4x the one
/// before: `auto` measures once per class, so an index that grows past its class is measured again,
/// and a few more documents are not.
pub fn size_class(index_values: usize) -> u32 {
    index_values.max(1).ilog2() / 2
}

/// One timed comparison of the GPU and the CPU kernel on the same search.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub size_class: u32,
    /// From submitting the GPU's work (after any upload) to having its scores back.
    pub gpu_ms: f64,
    /// The SIMD CPU kernel on the same query and index.
    pub cpu_ms: f64,
}

impl Measurement {
    /// How many times faster the GPU was (below 1: slower).
    pub fn gpu_speedup(&self) -> f64 {
        self.cpu_ms / self.gpu_ms.max(1e-9)
    }

    pub fn gpu_is_faster(&self) -> bool {
        self.gpu_ms < self.cpu_ms
    }
}

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
    /// `auto`'s measurements by size class, for this GPU.
    measured: Mutex<BTreeMap<u32, Measurement>>,
}

impl Backends {
    /// Gives searches a GPU backend (see [`BackendChoice`]).
    pub fn attach_gpu(&mut self, gpu: GpuMaxSim) {
        self.gpu = Some(gpu);
        self.failed.store(false, Ordering::Relaxed);
        *self.lock_error() = None;
        self.lock_measured().clear();
    }

    pub fn gpu(&self) -> Option<&GpuMaxSim> {
        self.gpu.as_ref()
    }

    pub fn set_choice(&mut self, choice: BackendChoice) {
        self.choice = choice;
    }

    /// The GPU, when the choice and a search of an index of `index_values` stored values call for it and it is healthy:
    /// under `auto`, when it measured faster for this size class or has not been measured yet (that
    /// search is the measurement, see [`Backends::needs_measurement`]).
    pub fn gpu_for(&self, index_values: usize) -> Option<&GpuMaxSim> {
        let gpu = self
            .gpu
            .as_ref()
            .filter(|_| !self.failed.load(Ordering::Relaxed))?;
        let wanted = match self.choice {
            BackendChoice::Webgpu => true,
            BackendChoice::Auto => self
                .measurement(index_values)
                .is_none_or(|m| m.gpu_is_faster()),
            BackendChoice::Simd | BackendChoice::Scalar => false,
        };
        wanted.then_some(gpu)
    }

    /// Whether a GPU search of an index of `index_values` stored values should also be timed on the CPU: `auto` has not
    /// measured its size class yet.
    pub fn needs_measurement(&self, index_values: usize) -> bool {
        self.choice == BackendChoice::Auto && self.measurement(index_values).is_none()
    }

    /// What `auto` measured for `index_values`' size class, if it has.
    pub fn measurement(&self, index_values: usize) -> Option<Measurement> {
        self.lock_measured().get(&size_class(index_values)).copied()
    }

    /// Records a timed comparison for `index_values`'s size class; later `auto` searches of that class use the
    /// faster backend.
    pub fn record_measurement(&self, index_values: usize, gpu_ms: f64, cpu_ms: f64) {
        let size_class = size_class(index_values);
        let m = Measurement {
            size_class,
            gpu_ms,
            cpu_ms,
        };
        self.lock_measured().insert(size_class, m);
    }

    /// The CPU kernel for searches the GPU does not take.
    pub fn cpu(&self) -> &'static dyn MaxSim {
        match self.choice {
            BackendChoice::Scalar => &ScalarMaxSim,
            _ => &LanesMaxSim,
        }
    }

    /// The backend's name a search of an index of `index_values` stored values would use now.
    pub fn name_for(&self, index_values: usize) -> &'static str {
        match self.gpu_for(index_values) {
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

    fn lock_measured(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Measurement>> {
        self.measured.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_is_measured_once_and_again_only_past_the_next_class() {
        let backends = Backends::default();
        let index_values = 10_000_000;
        assert!(backends.needs_measurement(index_values));
        backends.record_measurement(index_values, 5.0, 2.0);
        let m = backends.measurement(index_values).unwrap();
        assert!(!m.gpu_is_faster() && m.gpu_speedup() < 1.0);
        assert!(
            !backends.needs_measurement(index_values + index_values / 2),
            "a little growth keeps the class"
        );
        assert!(
            backends.needs_measurement(4 * index_values),
            "past the next class it measures again"
        );
        assert!(size_class(index_values) < size_class(4 * index_values));
    }

    #[test]
    fn only_auto_measures() {
        let mut backends = Backends::default();
        backends.set_choice(BackendChoice::Simd);
        assert!(!backends.needs_measurement(1));
        backends.set_choice(BackendChoice::Webgpu);
        assert!(!backends.needs_measurement(1));
    }
}
