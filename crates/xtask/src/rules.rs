//! The dependency rules of ARCHITECTURE.md, as data the check reads. Change a rule here and in
//! ARCHITECTURE.md together, in the same commit, with the reason.

/// The whole rule set.
#[derive(Debug)]
pub struct Rules {
    pub crates: &'static [CrateRule],
    /// External crates that exactly one part of facepay may depend on directly.
    pub owned: &'static [Ownership],
    /// The only external crates a pure crate may depend on (normal and build dependencies).
    pub pure_may_use: &'static [&'static str],
}

/// What one workspace crate may depend on among the workspace's crates.
#[derive(Debug)]
pub struct CrateRule {
    pub name: &'static str,
    /// Pure crates do no IO, read no clock and no ambient randomness.
    pub pure: bool,
    pub may_use: &'static [&'static str],
}

#[derive(Debug)]
pub struct Ownership {
    pub external: &'static str,
    pub owners: &'static [&'static str],
    pub why: &'static str,
}

const DOMAIN: &str = "facepay-domain";
const BIOMETRIC: &str = "facepay-biometric";
const FACE_INDEX: &str = "facepay-face-index";
const VAULT: &str = "facepay-vault";
const GALLERY: &str = "facepay-gallery";
const LEDGER: &str = "facepay-ledger";
const PAYMENTS: &str = "facepay-payments";
const STORE_SQLITE: &str = "facepay-store-sqlite";
const STORE_POSTGRES: &str = "facepay-store-postgres";
const API: &str = "facepay-api";
const WEB: &str = "facepay-web";
const SIM: &str = "facepay-sim";
const MODEL_STORE: &str = "facepay-model-store";
const EVALUATION: &str = "facepay-evaluation";
const STORE_CONTRACT: &str = "facepay-store-contract";
const TRANSIT: &str = "facepay-transit";
const ISO8583: &str = "facepay-iso8583";
const ISSUER_LINK: &str = "facepay-issuer-link";
const CLEARING: &str = "facepay-clearing";

pub const RULES: Rules = Rules {
    crates: &[
        CrateRule { name: DOMAIN, pure: true, may_use: &[] },
        CrateRule { name: LEDGER, pure: true, may_use: &[DOMAIN] },
        CrateRule { name: FACE_INDEX, pure: true, may_use: &[DOMAIN] },
        CrateRule { name: TRANSIT, pure: true, may_use: &[DOMAIN] },
        // The issuer link's wire format: bytes in, messages out, nothing else.
        CrateRule { name: ISO8583, pure: true, may_use: &[DOMAIN, LEDGER, PAYMENTS] },
        CrateRule { name: PAYMENTS, pure: true, may_use: &[DOMAIN, LEDGER, FACE_INDEX, TRANSIT] },
        // The settlement day as files and the check of a bank's file: it reads the store through
        // the payments crate's port, names lines by the wire's references, reads CSV as transit does.
        CrateRule { name: CLEARING, pure: true, may_use: &[DOMAIN, LEDGER, PAYMENTS, TRANSIT, ISO8583] },
        CrateRule {
            name: SIM,
            pure: true,
            may_use: &[DOMAIN, LEDGER, FACE_INDEX, PAYMENTS, TRANSIT, ISO8583],
        },
        CrateRule { name: EVALUATION, pure: true, may_use: &[] },
        CrateRule { name: MODEL_STORE, pure: false, may_use: &[] },
        CrateRule { name: BIOMETRIC, pure: false, may_use: &[DOMAIN, MODEL_STORE] },
        CrateRule { name: VAULT, pure: false, may_use: &[DOMAIN] },
        CrateRule { name: GALLERY, pure: false, may_use: &[DOMAIN, FACE_INDEX, VAULT] },
        // The banks' side of the switch on the wire: it will hold the TCP connections.
        CrateRule { name: ISSUER_LINK, pure: false, may_use: &[DOMAIN, LEDGER, ISO8583, PAYMENTS] },
        // Test support: the suite every store runs, and the crash test that kills child
        // processes; a dev-dependency only.
        CrateRule {
            name: STORE_CONTRACT,
            pure: false,
            may_use: &[DOMAIN, LEDGER, FACE_INDEX, PAYMENTS, VAULT, GALLERY],
        },
        CrateRule { name: STORE_SQLITE, pure: false, may_use: &[DOMAIN, LEDGER, PAYMENTS, VAULT] },
        CrateRule { name: STORE_POSTGRES, pure: false, may_use: &[DOMAIN, LEDGER, PAYMENTS, VAULT] },
        CrateRule { name: WEB, pure: false, may_use: &[] },
        CrateRule {
            name: API,
            pure: false,
            may_use: &[DOMAIN, LEDGER, FACE_INDEX, PAYMENTS, TRANSIT, CLEARING, VAULT, GALLERY, WEB],
        },
        CrateRule {
            name: "facepay",
            pure: false,
            may_use: &[
                DOMAIN,
                LEDGER,
                FACE_INDEX,
                PAYMENTS,
                TRANSIT,
                ISSUER_LINK,
                CLEARING,
                MODEL_STORE,
                BIOMETRIC,
                EVALUATION,
                VAULT,
                GALLERY,
                STORE_SQLITE,
                STORE_POSTGRES,
                WEB,
                API,
            ],
        },
        CrateRule { name: "xtask", pure: false, may_use: &[] },
    ],
    owned: &[
        Ownership { external: "ort", owners: &[BIOMETRIC], why: "only biometric links ONNX Runtime" },
        Ownership { external: "image", owners: &[BIOMETRIC], why: "only biometric sees pixels" },
        Ownership {
            external: "qrcode",
            owners: &[API],
            why: "the payment code's QR image is made where the code is",
        },
        Ownership {
            external: "ureq",
            owners: &[MODEL_STORE, API],
            why: "model-store downloads; api's own client speaks HTTP to a switch",
        },
        Ownership { external: "zip", owners: &[MODEL_STORE], why: "only model-store unpacks archives" },
        Ownership { external: "tar", owners: &[MODEL_STORE], why: "only model-store unpacks archives" },
        Ownership { external: "axum", owners: &[API], why: "only api knows HTTP" },
        Ownership { external: "hyper", owners: &[API], why: "only api knows HTTP" },
        Ownership { external: "tower-http", owners: &[API], why: "only api knows HTTP" },
        Ownership { external: "rusqlite", owners: &[STORE_SQLITE], why: "only the stores know SQL" },
        Ownership {
            external: "sqlx",
            owners: &[STORE_SQLITE, STORE_POSTGRES],
            why: "only the stores know SQL",
        },
        Ownership { external: "tokio-postgres", owners: &[STORE_POSTGRES], why: "only the stores know SQL" },
        Ownership { external: "postgres", owners: &[STORE_POSTGRES], why: "only the stores know SQL" },
        Ownership { external: "aes-gcm", owners: &[VAULT], why: "only vault holds biometric keys" },
        Ownership { external: "chacha20poly1305", owners: &[VAULT], why: "only vault holds biometric keys" },
    ],
    // argon2 and subtle are pure computation (the PIN hash and its constant-time comparison);
    // the salt comes from the injected Rng. png only encodes bytes in memory (the DET plot).
    // pulp picks SIMD instructions at run time, arc-swap publishes the index's generations and
    // crc32fast checks its snapshots: computation only.
    pure_may_use: &[
        "pulp",
        "arc-swap",
        "crc32fast",
        "serde",
        "serde_json",
        // The payment core's checkpoint: its state as compact bytes, encoded in memory.
        "postcard",
        "thiserror",
        "zeroize",
        "rand_core",
        "rand_chacha",
        "argon2",
        "subtle",
        "sha2",
        "png",
    ],
};
