//! The OpenAPI document, generated from the routes' own annotations and wire types so it cannot
//! drift from them; served at `/openapi.json` and checked by schemathesis in CI.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    audit, console, disputes, gates, issuer, limits, merchant, operator, settlement, shopper, system,
    terminal, transit,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "facepay", description = "A self-hosted face-payment switch. Terminals sign every request \
        (Ed25519 over method, path, timestamp, nonce and body hash: see `x-facepay-*` headers); every other \
        role sends its API key as a bearer token. Errors are `{\"error\": {code, message, request_id}}`."),
    paths(
        system::health, system::ready, system::metrics, system::openapi,
        terminal::activate, terminal::heartbeat, terminal::challenge, terminal::pay, terminal::phone_digits, terminal::pin,
        terminal::confirm, terminal::void, terminal::refund, terminal::status,
        merchant::register_terminal, merchant::replace_terminal, merchant::suspend_terminal,
        merchant::revoke_terminal, merchant::terminal, merchant::payment, merchant::refund,
        operator::create_merchant, operator::set_merchant_status, operator::emergency_switch, operator::top_up,
        operator::device_templates,
        limits::read_policy, limits::set_policy, limits::rate_merchant, limits::rate_shopper, audit::search, console::dashboard, console::merchants, console::disputes,
        operator::register_issuer, operator::settlement, operator::list_risk_events, operator::acknowledge_risk_events,
        issuer::accounts, issuer::messages, issuer::acknowledge, issuer::answer, issuer::verify, issuer::settlement,
        settlement::day, settlement::operator_file, settlement::issuer_file,
        shopper::consent, shopper::sign_up, shopper::me, shopper::enroll_face, shopper::set_pin,
        shopper::pause, shopper::payment_code, shopper::delete_everything, shopper::bind_bank_account,
        shopper::choose_default, shopper::unbind, shopper::set_limit,
        disputes::open, disputes::read, disputes::add_evidence, disputes::resolve, disputes::charge_back,
        disputes::fund_reserve,
        gates::setup, gates::decide_passage, gates::report_passages, gates::offline_pack,
        transit::set_scheme, transit::place_gate, transit::deny_list, transit::rider_trips, transit::my_trips,
        transit::claim, transit::travel_pass,
    ),
    modifiers(&Security, &IdPatterns),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("fpk_<id>_<secret>").build(),
            ),
        );
        components.add_security_scheme(
            "terminal_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::auth::HEADER_SIGNATURE,
                "base64 Ed25519 signature of `facepay-v1\\n{METHOD}\\n{path?query}\\n{x-facepay-timestamp}\\n\
                 {x-facepay-nonce}\\n{hex sha256(body)}`, with x-facepay-terminal naming the terminal",
            ))),
        );
    }
}

/// Every id in a path in its printed form (`trm_<32 hex>`, ...), so that clients and fuzzers
/// know the shape the routes parse; one place instead of an attribute on every route.
struct IdPatterns;

/// Each path parameter's prefix, by name.
const ID_PREFIXES: [(&str, &str); 5] = [
    ("terminal_id", "trm_"),
    ("payment_id", "pay_"),
    ("merchant_id", "mer_"),
    ("dispute_id", "dsp_"),
    ("shopper_id", "shp_"),
];

impl Modify for IdPatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let prefix = ID_PREFIXES.iter().find(|(name, _)| *name == parameter.name);
                    if let (ParameterIn::Path, Some((_, prefix))) = (&parameter.parameter_in, prefix) {
                        let pattern = format!("^{prefix}[0-9a-f]{{32}}$");
                        let schema = ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
                        parameter.schema = Some(RefOr::T(Schema::Object(schema.build())));
                    }
                }
            }
        }
    }
}
