//! The pages people see: the kiosk at the till, enrollment, and the operator console, as static
//! assets compiled into the binary and served by `api`.
//!
//! Owns: HTML, CSS and the browser-side scripts.
//!
//! Must never: hold a secret, decide anything a server must decide, or keep a face image in the
//! browser longer than the request that sends it.
