//! Tokens: a random secret a client presents in its Hello. The configuration holds only the
//! secret's SHA-256, so `config.toml` (and its backups) never hold a usable credential.

use base64::Engine;
use ring::rand::SecureRandom;

/// How every token begins (recognizable in a leaked log or a secret scanner).
pub const PREFIX: &str = "lgt_";

/// A token's SHA-256, as the configuration writes it: 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The hash of a presented token.
    pub fn of(token: &str) -> TokenHash {
        let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenHash(out)
    }

    /// Reads the configuration's hex form.
    pub fn parse(hex: &str) -> Result<TokenHash, String> {
        let hex = hex.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{hex:?} is not a SHA-256 in hex (64 digits; `lockgate auth token NAME` prints one)"
            ));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).expect("checked hex") as u8;
            out[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        Ok(TokenHash(out))
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A new token: the prefix and 32 random bytes, base64url without padding.
pub fn generate() -> Result<String, String> {
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| "the system's random number generator failed".to_string())?;
    Ok(format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    ))
}

/// The TOML that declares token `name` (its hash only).
pub fn config_entry(name: &str, hash: &TokenHash) -> String {
    format!(
        "[[auth.token]]\nname = {}\nsha256 = \"{}\"\n",
        toml_string(name),
        hash.hex()
    )
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_random_prefixed_and_only_its_hash_is_kept() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43, "{a}");
        let h = TokenHash::of(&a);
        assert_eq!(TokenHash::parse(&h.hex()).unwrap(), h);
        assert_ne!(TokenHash::of(&b), h);
        let entry = config_entry("billing", &h);
        assert!(entry.contains(&h.hex()) && !entry.contains(&a), "{entry}");
    }

    #[test]
    fn a_bad_hash_is_refused_with_what_it_should_be() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63)] {
            let e = TokenHash::parse(bad).unwrap_err();
            assert!(e.contains("64 digits"), "{e}");
        }
    }

    #[test]
    fn known_sha256() {
        // SHA-256("abc"), FIPS 180-2's example.
        assert_eq!(
            TokenHash::of("abc").hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
