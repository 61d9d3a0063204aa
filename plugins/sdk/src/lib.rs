//! Write Lockgate plugins in Rust. Implement [`Filter`] and export it:
//!
//! ```ignore
//! struct VipOnly;
//! impl lockgate_plugin_sdk::Filter for VipOnly {
//!     fn create(_expression: &str, _config: &[(String, String)]) -> Result<Self, lockgate_plugin_sdk::ExpressionError> {
//!         Ok(VipOnly)
//!     }
//!     fn decide(&self, _topic: &str, m: &lockgate_plugin_sdk::Message<'_>) -> bool {
//!         m.property("tier") == Some("vip")
//!     }
//! }
//! lockgate_plugin_sdk::export_filter!(VipOnly);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` is the component.
//! The SDK reads the flat batch the broker passes ([`batch`]) so that a plugin sees typed
//! messages, and hides the WIT glue.

pub use lockgate_filters::batch;
pub use lockgate_filters::batch::{Batch, Message};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "filter-plugin",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_filter_world",
        default_bindings_module: "lockgate_plugin_sdk::bindings",
    });
}

pub use bindings::exports::lockgate::plugin::filter::ExpressionError;
pub use bindings::lockgate::plugin::host::{Level, log, now_ms};

/// A filter: created once per subscription from its expression, then asked about messages.
pub trait Filter: Sized + 'static {
    /// Compiles the expression; an error names its position (1-based, in characters).
    fn create(expression: &str, config: &[(String, String)]) -> Result<Self, ExpressionError>;

    /// True to deliver the message to the subscription.
    fn decide(&self, topic: &str, message: &Message<'_>) -> bool;
}

/// Adapts a [`Filter`] to the WIT resource; used by [`export_filter!`].
#[doc(hidden)]
pub struct Adapter<F: Filter>(pub F);

impl<F: Filter> bindings::exports::lockgate::plugin::filter::GuestMatcher for Adapter<F> {
    fn create(
        expression: String,
        config: Vec<(String, String)>,
    ) -> Result<bindings::exports::lockgate::plugin::filter::Matcher, ExpressionError> {
        let f = F::create(&expression, &config)?;
        Ok(bindings::exports::lockgate::plugin::filter::Matcher::new(
            Adapter(f),
        ))
    }

    fn decide(&self, topic: String, batch: Vec<u8>) -> Vec<u8> {
        decide_batch(&self.0, &topic, &batch)
    }
}

/// Decides every message of a flat batch; a message the SDK cannot read is delivered (a
/// filter never makes the broker lose one).
fn decide_batch<F: Filter>(f: &F, topic: &str, bytes: &[u8]) -> Vec<u8> {
    match Batch::new(bytes) {
        Ok(batch) => batch
            .map(|m| match m {
                Ok(m) => u8::from(f.decide(topic, &m)),
                Err(_) => 1,
            })
            .collect(),
        Err(e) => {
            log(Level::Error, &format!("unreadable batch: {e}"));
            Vec::new()
        }
    }
}

/// Exports a [`Filter`] type as this component's `filter` interface.
#[macro_export]
macro_rules! export_filter {
    ($filter:ty) => {
        const _: () = {
            struct Component;

            impl $crate::bindings::exports::lockgate::plugin::filter::Guest for Component {
                type Matcher = $crate::Adapter<$filter>;
            }

    $crate::bindings::export_filter_world!(Component with_types_in $crate::bindings);
        };
    };
}
