//! A shopper's personal fields between the wire and the core. The core keeps them only sealed
//! under the shopper's personal key, or as that key's digests; this module fetches the key from
//! the vault (through the `Faces` port, off the async workers), seals what a command carries,
//! and opens a field only for whom it is shown to: the masked name for the terminal that
//! identified the shopper, the bank reference for the bank, the rest for the shopper, the
//! dispute notes for the dispute's parties. Once the shopper deleted everything the key is
//! gone, and so is every field: an answer then leaves it out.

use std::collections::HashMap;
use std::sync::Arc;

use facepay_domain::{Sealed, ShopperId};
use facepay_payments::IssuerMessage;
use facepay_vault::{PersonalField, PersonalKey};

use crate::error::ApiError;
use crate::switch::Switch;
use crate::wire::PaymentOut;

/// A payment as a command or the read model left it, whose shopper's masked name is still
/// sealed: `Switch::named` opens it.
pub struct Unnamed {
    pub(crate) out: PaymentOut,
    pub(crate) name: Option<(ShopperId, Sealed)>,
}

/// The personal keys of several shoppers; those who deleted everything have none.
pub(crate) struct PersonalKeys(HashMap<ShopperId, PersonalKey>);

impl PersonalKeys {
    /// The field's text, or `None` when its shopper's key is gone or it does not open.
    pub(crate) fn open(&self, shopper: ShopperId, field: PersonalField, sealed: &Sealed) -> Option<String> {
        self.0.get(&shopper)?.open_text(field, sealed).ok()
    }

    pub(crate) fn get(&self, shopper: ShopperId) -> Option<&PersonalKey> {
        self.0.get(&shopper)
    }
}

impl Switch {
    /// The shopper's personal key, made now if they have none (at sign-up).
    pub(crate) async fn personal_key_or_new(
        self: &Arc<Self>,
        shopper: ShopperId,
    ) -> Result<PersonalKey, ApiError> {
        let faces = self.faces.clone();
        tokio::task::spawn_blocking(move || faces.personal_key_or_new(shopper))
            .await
            .map_err(|_| ApiError::internal("the vault task failed"))?
            .map_err(ApiError::from)
    }

    /// The shopper's personal key; none once they deleted everything.
    pub(crate) async fn personal_key(
        self: &Arc<Self>,
        shopper: ShopperId,
    ) -> Result<Option<PersonalKey>, ApiError> {
        let mut keys = self.personal_keys(vec![shopper]).await?;
        Ok(keys.0.remove(&shopper))
    }

    /// The account reference an authorization or an account's verification asks the bank
    /// about, opened; none for other messages and once its shopper deleted everything. For a
    /// bank link sending it.
    pub async fn bank_reference(
        self: &Arc<Self>,
        message: &IssuerMessage,
    ) -> Result<Option<String>, ApiError> {
        let (IssuerMessage::Authorize { shopper, reference, .. }
        | IssuerMessage::VerifyAccount { shopper, reference, .. }) = message
        else {
            return Ok(None);
        };
        let keys = self.personal_keys(vec![*shopper]).await?;
        Ok(keys.open(*shopper, PersonalField::BankReference, reference))
    }

    /// The personal keys of `shoppers`, each read once.
    pub(crate) async fn personal_keys(
        self: &Arc<Self>,
        mut shoppers: Vec<ShopperId>,
    ) -> Result<PersonalKeys, ApiError> {
        shoppers.sort_unstable();
        shoppers.dedup();
        if shoppers.is_empty() {
            return Ok(PersonalKeys(HashMap::new()));
        }
        let faces = self.faces.clone();
        let keys = tokio::task::spawn_blocking(move || {
            let mut keys = HashMap::new();
            for shopper in shoppers {
                if let Some(key) = faces.personal_key(shopper)? {
                    keys.insert(shopper, key);
                }
            }
            Ok::<_, facepay_gallery::GalleryError>(keys)
        })
        .await
        .map_err(|_| ApiError::internal("the vault task failed"))??;
        Ok(PersonalKeys(keys))
    }

    /// The payment with its shopper's masked name opened, for the terminal that identified them.
    pub(crate) async fn named(self: &Arc<Self>, unnamed: Unnamed) -> Result<PaymentOut, ApiError> {
        Ok(self.named_all(vec![unnamed]).await?.pop().expect("one in, one out"))
    }

    /// The same for several payments, each shopper's key read once.
    pub(crate) async fn named_all(
        self: &Arc<Self>,
        unnamed: Vec<Unnamed>,
    ) -> Result<Vec<PaymentOut>, ApiError> {
        let shoppers = unnamed.iter().filter_map(|u| u.name.as_ref().map(|(shopper, _)| *shopper)).collect();
        let keys = self.personal_keys(shoppers).await?;
        Ok(unnamed
            .into_iter()
            .map(|Unnamed { mut out, name }| {
                out.shopper =
                    name.and_then(|(shopper, sealed)| keys.open(shopper, PersonalField::MaskedName, &sealed));
                out
            })
            .collect())
    }
}
