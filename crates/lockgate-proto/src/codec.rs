//! Little-endian byte reading and writing shared by the log record format and the wire
//! protocol. Pure: no I/O.

/// Why bytes could not be read: a field runs past the end, or holds something invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("cut short reading {0}")]
    Truncated(&'static str),
    #[error("{field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The field parses, but its value is outside its documented range (answered
    /// `InvalidArgument`, not `Malformed`: ranges are refused, never clamped).
    #[error("{field} is out of range: {reason}")]
    OutOfRange { field: &'static str, reason: String },
}

/// A cursor over a byte slice; every read names the field it reads, for error messages.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// A reader of a fixed layout's field at byte `at` (file headers, index entries); a field
    /// past the end fails as [`ReadError::Truncated`].
    #[inline]
    pub fn at(bytes: &'a [u8], at: usize) -> Reader<'a> {
        Reader {
            bytes,
            at: at.min(bytes.len()),
        }
    }

    #[inline]
    pub fn position(&self) -> usize {
        self.at
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    #[inline]
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ReadError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(ReadError::Truncated(field))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    #[inline]
    pub fn u8(&mut self, field: &'static str) -> Result<u8, ReadError> {
        Ok(self.take(1, field)?[0])
    }

    #[inline]
    pub fn u16(&mut self, field: &'static str) -> Result<u16, ReadError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    #[inline]
    pub fn u32(&mut self, field: &'static str) -> Result<u32, ReadError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, field)?);
        Ok(u64::from_le_bytes(a))
    }

    #[inline]
    pub fn i64(&mut self, field: &'static str) -> Result<i64, ReadError> {
        Ok(self.u64(field)? as i64)
    }

    #[inline]
    pub fn array16(&mut self, field: &'static str) -> Result<[u8; 16], ReadError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16, field)?);
        Ok(a)
    }

    /// A string of `n` bytes of UTF-8.
    #[inline]
    pub fn string(&mut self, n: usize, field: &'static str) -> Result<String, ReadError> {
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| ReadError::Invalid {
            field,
            reason: "not UTF-8".into(),
        })
    }

    /// A borrowed string of `n` bytes of UTF-8.
    #[inline]
    pub fn str_ref(&mut self, n: usize, field: &'static str) -> Result<&'a str, ReadError> {
        let b = self.take(n, field)?;
        std::str::from_utf8(b).map_err(|_| ReadError::Invalid {
            field,
            reason: "not UTF-8".into(),
        })
    }

    /// A borrowed string with a u16 length prefix.
    #[inline]
    pub fn str16_ref(&mut self, field: &'static str) -> Result<&'a str, ReadError> {
        let n = self.u16(field)? as usize;
        self.str_ref(n, field)
    }

    /// The bytes between two positions already read.
    #[inline]
    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        &self.bytes[from..to]
    }

    /// A string with a u16 length prefix.
    #[inline]
    pub fn str16(&mut self, field: &'static str) -> Result<String, ReadError> {
        let n = self.u16(field)? as usize;
        self.string(n, field)
    }

    /// Bytes with a u32 length prefix.
    #[inline]
    pub fn bytes32(&mut self, field: &'static str) -> Result<&'a [u8], ReadError> {
        let n = self.u32(field)? as usize;
        self.take(n, field)
    }

    /// Fails unless every byte was read.
    #[inline]
    pub fn finish(&self, what: &'static str) -> Result<(), ReadError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(ReadError::Invalid {
                field: what,
                reason: format!("{} unexpected trailing bytes", self.remaining()),
            })
        }
    }
}

/// Appends a string with a u16 length prefix; the caller has checked the length fits.
#[inline]
pub fn put_str16(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u16).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Appends bytes with a u32 length prefix.
#[inline]
pub fn put_bytes32(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
    buf.extend_from_slice(b);
}
