//! How do values and errors cross to JavaScript? Core values through serde (plain objects and arrays,
//! not `Map`s), and every error as a JS `Error` named by its kind: the one conversion the binding
//! uses.

use serde::{de::DeserializeOwned, Serialize};
use wasm_bindgen::prelude::*;

use crate::error::Error;

/// An error on its way to JavaScript: a JS `Error` whose `name` is the error's kind (e.g.
/// "ChecksumError") and whose message says why. The one conversion every method's errors take.
pub struct JsFailure(JsValue);

impl From<Error> for JsFailure {
    fn from(err: Error) -> JsFailure {
        let js = js_sys::Error::new(&err.to_string());
        js.set_name(err.kind());
        JsFailure(js.into())
    }
}

impl From<crate::score::GpuError> for JsFailure {
    fn from(err: crate::score::GpuError) -> JsFailure {
        Error::from(err).into()
    }
}

impl From<JsFailure> for JsValue {
    fn from(failure: JsFailure) -> JsValue {
        failure.0
    }
}

pub type JsResult<T> = Result<T, JsFailure>;

/// Plain JS objects and arrays (not `Map`s) for core values.
pub fn to_js<T: Serialize>(value: &T) -> JsResult<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::InvalidInput(e.to_string()).into())
}

/// A core value from a JS argument; `what` names the argument in the error.
pub fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> JsResult<T> {
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| Error::InvalidInput(format!("{what}: {e}")).into())
}
