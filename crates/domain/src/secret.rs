//! `Secret<T>`: the only way a face template, an image or a key crosses a crate boundary.
//! It prints as `Secret([REDACTED])` in every `Debug` and log line and wipes its memory on drop,
//! so a stray `{:?}` or a core dump does not leak a face.

use std::fmt;

use zeroize::Zeroize;

pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the secret. The name is long on purpose: every use is a place to review.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let template = Secret::new(vec![0.25_f32, -0.5, 0.125]);
        let printed = format!("{template:?} {:#?}", template);
        assert!(!printed.contains("0.25") && !printed.contains("0.125"), "{printed}");
        assert!(printed.contains("REDACTED"));
        assert_eq!(template.expose_secret(), &vec![0.25, -0.5, 0.125]);
    }
}
