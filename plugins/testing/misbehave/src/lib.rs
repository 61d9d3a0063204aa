//! A filter for the broker's sandbox tests. Its expression chooses how it misbehaves:
//! `pass` delivers everything; `trap` traps on every batch; `spin` loops forever; `hog`
//! allocates until the memory limit stops it; `trap-if:NAME` traps on a batch holding a
//! message with property NAME; `skip-if:NAME` skips messages with property NAME;
//! `attempt-below:N` delivers only deliveries before the N-th; `body-has:TEXT` delivers the
//! messages whose body contains TEXT.

use lockgate_plugin_sdk::{ExpressionError, Filter, Level, Message, log};

enum Mode {
    Pass,
    Trap,
    Spin,
    Hog,
    TrapIf(String),
    SkipIf(String),
    AttemptBelow(u32),
    BodyHas(String),
}

struct Misbehave(Mode);

impl Filter for Misbehave {
    fn create(expression: &str, _config: &[(String, String)]) -> Result<Self, ExpressionError> {
        let mode = match expression {
            "pass" => Mode::Pass,
            "trap" => Mode::Trap,
            "spin" => Mode::Spin,
            "hog" => Mode::Hog,
            e if e.starts_with("trap-if:") => Mode::TrapIf(e[8..].to_string()),
            e if e.starts_with("skip-if:") => Mode::SkipIf(e[8..].to_string()),
            e if e.starts_with("body-has:") => Mode::BodyHas(e[9..].to_string()),
            e if e.starts_with("attempt-below:") => match e[14..].parse() {
                Ok(n) => Mode::AttemptBelow(n),
                Err(_) => {
                    return Err(ExpressionError {
                        position: 15,
                        message: "expected a number".into(),
                    });
                }
            },
            _ => {
                return Err(ExpressionError {
                    position: 1,
                    message: format!("unknown mode {expression:?}"),
                });
            }
        };
        Ok(Misbehave(mode))
    }

    fn decide(&self, _topic: &str, m: &Message<'_>) -> bool {
        match &self.0 {
            Mode::Pass => true,
            Mode::Trap => panic!("trap mode"),
            Mode::Spin => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Mode::Hog => {
                log(Level::Warn, "allocating until stopped");
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Mode::TrapIf(name) => {
                if m.property(name).is_some() {
                    panic!("poison message");
                }
                true
            }
            Mode::SkipIf(name) => m.property(name).is_none(),
            Mode::AttemptBelow(n) => m.attempt < *n,
            Mode::BodyHas(text) => m
                .body
                .windows(text.len().max(1))
                .any(|w| w == text.as_bytes()),
        }
    }
}

lockgate_plugin_sdk::export_filter!(Misbehave);
