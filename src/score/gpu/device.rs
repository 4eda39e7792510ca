//! Which GPU scores, and is it still usable? Opens the adapter and device (a software adapter only
//! when allowed) and records the first uncaptured error or device loss (`Health`) instead of wgpu's
//! default, a panic; after that the device is not used again and searches fall back to the CPU.

use std::sync::{Arc, Mutex};

use super::GpuError;

/// An opened device with what the rest of the backend needs to know about it.
pub struct OpenedDevice {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub health: Health,
    pub adapter_name: String,
    pub is_fallback_adapter: bool,
}

/// Opens the default (high-performance) adapter's device with the adapter's own limits.
pub async fn open(allow_fallback_adapter: bool) -> Result<OpenedDevice, GpuError> {
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
    let health = Health::default();
    health.watch(&device);
    Ok(OpenedDevice {
        device,
        queue,
        limits,
        health,
        adapter_name: adapter_label(&info),
        is_fallback_adapter,
    })
}

/// The device's first failure, shared with the callbacks that record it and the read-backs that
/// check it.
#[derive(Clone, Default)]
pub struct Health(Arc<Mutex<Option<String>>>);

impl Health {
    /// `Err(DeviceLost)` once the device has failed.
    pub fn check(&self) -> Result<(), GpuError> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(why) => Err(GpuError::DeviceLost(why.clone())),
            None => Ok(()),
        }
    }

    fn record(&self, why: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(why);
    }

    /// Records uncaptured errors and device loss instead of wgpu's default (a panic).
    fn watch(&self, device: &wgpu::Device) {
        let on_error = self.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            on_error.record(describe(&error))
        }));
        let on_lost = self.clone();
        device.set_device_lost_callback(move |reason, message| {
            on_lost.record(format!("{reason:?}: {message}"))
        });
    }
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
