//! Face templates and images at rest: envelope encryption (a data key per record under a master
//! key), keyed pseudonyms, and crypto-shredding (destroying a key makes its records unreadable).
//!
//! Owns: every cipher and key facepay uses for biometric data.
//!
//! Must never: log or return plaintext templates or images, write a plaintext template to
//! storage, or know about HTTP, SQL or payments.
