//! A filter of `lockgate:plugin@0.1.0` (`wit/v0.1.0`), as plugins were built before 0.2.0: it
//! delivers the messages whose tag is the expression. It reads the batch itself (no SDK).

wit_bindgen::generate!({ world: "filter-plugin", path: "../../../wit/v0.1.0" });

use exports::lockgate::plugin::filter::{ExpressionError, Guest, GuestMatcher, Matcher};

struct Component;

struct TagIs(Vec<u8>);

impl Guest for Component {
    type Matcher = TagIs;
}

impl GuestMatcher for TagIs {
    fn create(
        expression: String,
        _config: Vec<(String, String)>,
    ) -> Result<Matcher, ExpressionError> {
        if expression.is_empty() {
            return Err(ExpressionError {
                position: 1,
                message: "name a tag".into(),
            });
        }
        lockgate::plugin::host::log(lockgate::plugin::host::Level::Info, "a 0.1.0 filter");
        Ok(Matcher::new(TagIs(expression.into_bytes())))
    }

    fn decide(&self, _topic: String, batch: Vec<u8>) -> Vec<u8> {
        let u32_at = |at: usize| u32::from_le_bytes(batch[at..at + 4].try_into().unwrap()) as usize;
        let count = u32_at(0);
        let mut at = 4;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let len = u32_at(at);
            // The content starts after the fixed fields (48 bytes); the tag is first.
            let content = at + 4 + 48;
            let tag_len = u16::from_le_bytes([batch[content], batch[content + 1]]) as usize;
            let tag = &batch[content + 2..content + 2 + tag_len];
            out.push(u8::from(tag == self.0.as_slice()));
            at += 4 + len;
        }
        out
    }
}

export!(Component);
