//! `kind` name → hook constructor. The stock binary registers the built-ins; a user's own
//! `main` registers more, then calls [`crate::run`].

use super::Hook;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds a hook from its YAML settings (the entry without `kind`).
pub type Constructor = Box<dyn Fn(Value) -> Result<Arc<dyn Hook>, String> + Send + Sync>;

/// The hook kinds a configuration may name.
#[derive(Default)]
pub struct Registry {
    kinds: BTreeMap<String, Constructor>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Register `kind`: its settings deserialize into `S` (unknown keys should be rejected
    /// with `#[serde(deny_unknown_fields)]`), then `build` makes the hook. Replaces an
    /// earlier registration of the same kind.
    pub fn register<S, H, F>(&mut self, kind: &str, build: F)
    where
        S: DeserializeOwned,
        H: Hook + 'static,
        F: Fn(S) -> Result<H, String> + Send + Sync + 'static,
    {
        let constructor: Constructor = Box::new(move |value| {
            let settings: S = serde_yaml::from_value(value).map_err(|e| e.to_string())?;
            Ok(Arc::new(build(settings)?) as Arc<dyn Hook>)
        });
        self.kinds.insert(kind.to_string(), constructor);
    }

    /// The registered kinds, sorted.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// Build the hook an entry such as `{ kind: deny, path_prefix: /admin }` describes.
    pub fn build(&self, entry: &Value) -> Result<Arc<dyn Hook>, String> {
        let Value::Mapping(map) = entry else {
            return Err("a hook is a mapping with a `kind`".into());
        };
        let mut settings: Mapping = map.clone();
        let kind = match settings.remove("kind") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err("`kind` must be a string".into()),
            None => return Err("missing `kind`".into()),
        };
        let Some(constructor) = self.kinds.get(&kind) else {
            let known: Vec<&str> = self.kinds().collect();
            return Err(format!(
                "unknown hook kind {kind:?} (known: {})",
                known.join(", ")
            ));
        };
        constructor(Value::Mapping(settings)).map_err(|e| format!("{kind}: {e}"))
    }
}
