//! The expected text of an answer, found in a body that arrives in chunks: a Knuth-Morris-Pratt
//! table built once per endpoint, and a matcher whose state is one integer (no copy of the body).

/// A non-empty text to find in a body, with its Knuth-Morris-Pratt table (built once per
/// endpoint, so a request's search needs no memory of its own).
#[derive(Debug)]
pub(crate) struct Needle {
    bytes: Vec<u8>,
    /// `fallback[i]`: the length of the longest proper prefix of `bytes[..=i]` that is also a
    /// suffix of it.
    fallback: Vec<usize>,
}

impl Needle {
    /// The table for `bytes` (not empty).
    pub(crate) fn new(bytes: &[u8]) -> Needle {
        let mut fallback = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = fallback[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            fallback[i] = k;
        }
        Needle {
            bytes: bytes.to_vec(),
            fallback,
        }
    }

    /// A matcher at the start of a body.
    pub(crate) fn matcher(&self) -> Matcher<'_> {
        Matcher {
            needle: self,
            state: 0,
            found: self.bytes.is_empty(),
        }
    }
}

/// Looks for a [`Needle`] in a body that arrives in chunks, remembering only how much of the
/// needle the bytes seen so far end with (never the body).
#[derive(Debug)]
pub(crate) struct Matcher<'a> {
    needle: &'a Needle,
    /// Bytes of the needle matched by the end of what was seen.
    state: usize,
    /// True once the needle was seen.
    pub(crate) found: bool,
}

impl Matcher<'_> {
    /// Feeds the next chunk of the body.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let (needle, fallback) = (&self.needle.bytes, &self.needle.fallback);
        for &b in chunk {
            if self.found {
                return;
            }
            while self.state > 0 && needle[self.state] != b {
                self.state = fallback[self.state - 1];
            }
            if needle[self.state] == b {
                self.state += 1;
            }
            if self.state == needle.len() {
                self.found = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found_in(chunks: &[&str], needle: &str) -> bool {
        let needle = Needle::new(needle.as_bytes());
        let mut m = needle.matcher();
        for c in chunks {
            m.feed(c.as_bytes());
        }
        m.found
    }

    #[test]
    fn matcher_finds_text_across_chunk_boundaries() {
        assert!(found_in(&["{\"status\":\"o", "k\"}"], "\"ok\""));
        assert!(found_in(&["ab", "c", "d", "ef"], "bcde"));
        assert!(found_in(&["xxhello"], "hello"));
        assert!(!found_in(&["hel", "xlo"], "hello"));
        assert!(!found_in(&[], "hello"));
        assert!(found_in(&["a", "b", "c"], "c"));
        // Partial matches that overlap the needle's own prefix.
        assert!(found_in(&["aab", "aaab"], "aaab"));
        assert!(found_in(&["abab", "abac"], "ababac"));
        assert!(!found_in(&["abab", "abab"], "ababac"));
    }

    #[test]
    fn matcher_keeps_only_a_short_tail() {
        let needle = Needle::new(b"needle");
        let mut m = needle.matcher();
        for _ in 0..1000 {
            m.feed(&[b'x'; 4096]);
        }
        assert!(!m.found);
        assert!(m.state < 6, "{}", m.state);
    }
}
