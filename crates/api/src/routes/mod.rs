//! The routes, one module per role, plus the node's own (`system`).

pub mod audit;
pub mod console;
pub mod disputes;
pub mod gates;
pub mod issuer;
pub mod limits;
pub mod merchant;
pub mod operator;
pub mod settlement;
pub mod shopper;
pub mod system;
pub mod terminal;
pub mod transit;
