//! Field-by-field reading of a JSON request body, collecting every problem as a Codat validation
//! item instead of stopping at the first one.

use serde_json::{Map, Value};

use super::{BadInput, ValidationItem};

/// Reads fields of a JSON object body and records what is wrong with them.
pub struct FieldReader<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<ValidationItem>,
}

impl<'a> FieldReader<'a> {
    /// Starts reading `body`, which must be a JSON object whose keys are all in `allowed`.
    pub fn new(body: &'a Value, allowed: &[&str]) -> Result<Self, BadInput> {
        let object = body.as_object().ok_or_else(|| BadInput::message("The request body must be a JSON object"))?;
        let mut reader = Self { object, errors: Vec::new() };
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                reader.error(key, format!("Unknown field '{key}'; allowed fields: {}", allowed.join(", ")));
            }
        }
        Ok(reader)
    }

    /// Records a problem with `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(ValidationItem::new(field, message));
    }

    /// The raw value of a field, `None` when absent or null.
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.object.get(field).filter(|v| !v.is_null())
    }

    /// A string field; records an error if present with another type.
    pub fn string(&mut self, field: &str) -> Option<&'a str> {
        match self.raw(field) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(field, format!("'{field}' must be a string"));
                None
            }
        }
    }

    /// A required string field.
    pub fn required_string(&mut self, field: &str) -> Option<&'a str> {
        let value = self.string(field);
        if value.is_none() && self.raw(field).is_none() {
            self.error(field, format!("'{field}' is required"));
        }
        value
    }

    /// A boolean field.
    pub fn bool(&mut self, field: &str) -> Option<bool> {
        match self.raw(field) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.error(field, format!("'{field}' must be true or false"));
                None
            }
        }
    }

    /// A non-negative integer field no larger than `max`.
    pub fn integer(&mut self, field: &str, min: u64, max: u64) -> Option<u32> {
        match self.raw(field) {
            None => None,
            Some(v) => match v.as_u64().filter(|n| (min..=max).contains(n)) {
                Some(n) => u32::try_from(n).ok(),
                None => {
                    self.error(field, format!("'{field}' must be a whole number from {min} to {max}"));
                    None
                }
            },
        }
    }

    /// Ends reading: the collected errors, or nothing.
    pub fn finish(self) -> Result<(), BadInput> {
        if self.errors.is_empty() { Ok(()) } else { Err(BadInput::Fields(self.errors)) }
    }

    /// Takes the collected errors, e.g. to merge them with a parent reader's.
    pub fn into_errors(self) -> Vec<ValidationItem> {
        self.errors
    }
}
