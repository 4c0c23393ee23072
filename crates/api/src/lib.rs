//! facepay's HTTP API: routes, signed terminal requests and API keys, the wire types, and the one
//! exhaustive map from every error to an HTTP status and stable code.
//!
//! Owns: HTTP and JSON; everything else is reached through `payments` and its ports.
//!
//! Must never: decide a payment itself, decode pixels (image bytes pass through to the biometric
//! port), know SQL, or return a face image or template to a terminal or merchant.
