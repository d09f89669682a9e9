//! Stores, API accounts and their scopes.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The five read-only scopes commerce-link asks for, by the parameter name BigCommerce uses.
///
/// Written apart from `shared::bigcommerce::Scope` on purpose: the sandbox emulates BigCommerce
/// from its documentation, so a misreading in the client's scope table (a wrong name, a scope
/// granting the wrong endpoint) shows up as a failing test instead of being shared by both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Orders.
    #[serde(rename = "store_v2_orders_read_only")]
    Orders,
    /// Order transactions.
    #[serde(rename = "store_v2_transactions_read_only")]
    Transactions,
    /// Products.
    #[serde(rename = "store_v2_products_read_only")]
    Products,
    /// Information & settings.
    #[serde(rename = "store_v2_information_read_only")]
    Information,
    /// Customers.
    #[serde(rename = "store_v2_customers_read_only")]
    Customers,
}

impl Scope {
    /// All five.
    pub const ALL: [Scope; 5] =
        [Scope::Orders, Scope::Transactions, Scope::Products, Scope::Information, Scope::Customers];

    /// The scope parameter name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Orders => "store_v2_orders_read_only",
            Scope::Transactions => "store_v2_transactions_read_only",
            Scope::Products => "store_v2_products_read_only",
            Scope::Information => "store_v2_information_read_only",
            Scope::Customers => "store_v2_customers_read_only",
        }
    }
}

/// A store API account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account name shown in the control panel.
    pub name: String,
    /// Client ID.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The `X-Auth-Token`.
    pub access_token: String,
    /// Granted scopes.
    pub scopes: BTreeSet<Scope>,
    /// A revoked account's token answers 401.
    #[serde(default)]
    pub revoked: bool,
}

/// How big a generated store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Orders.
    pub orders: u32,
    /// Products.
    pub products: u32,
    /// Registered customers.
    pub customers: u32,
    /// Categories.
    pub categories: u32,
}

impl Default for Sizes {
    fn default() -> Self {
        Self { orders: 500, products: 60, customers: 120, categories: 12 }
    }
}

/// One store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreConfig {
    /// Store hash (the `{store_hash}` of API paths).
    pub hash: String,
    /// Store name.
    pub name: String,
    /// Data seed.
    pub seed: u64,
    /// Data sizes.
    pub sizes: Sizes,
    /// ISO 4217 currency of prices.
    pub currency: String,
    /// Requests per window.
    pub quota: u32,
    /// Window length.
    #[serde(with = "millis")]
    pub window: Duration,
    /// API accounts.
    pub accounts: Vec<Account>,
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

fn derived(seed: u64, label: &str, len: usize) -> String {
    let digest = Sha256::digest(format!("{seed}:{label}").as_bytes());
    hex::encode(digest)[..len].to_string()
}

impl StoreConfig {
    /// A store generated from `seed`, with BigCommerce's default quota (150 per 30 s) and two
    /// accounts: `full` (all five scopes) and `no-customers` (customers scope missing).
    pub fn from_seed(seed: u64, sizes: Sizes) -> Self {
        let account = |label: &str, scopes: BTreeSet<Scope>| Account {
            name: format!("commerce-link {label}"),
            client_id: derived(seed, &format!("{label}:client"), 31),
            client_secret: derived(seed, &format!("{label}:secret"), 48),
            access_token: derived(seed, &format!("{label}:token"), 31),
            scopes,
            revoked: false,
        };
        let all: BTreeSet<Scope> = Scope::ALL.into_iter().collect();
        let mut no_customers = all.clone();
        no_customers.remove(&Scope::Customers);
        Self {
            hash: derived(seed, "hash", 10),
            name: format!("Sandbox Outdoor Co {seed}"),
            seed,
            sizes,
            currency: "USD".into(),
            quota: 150,
            window: Duration::from_secs(30),
            accounts: vec![account("full", all), account("no-customers", no_customers)],
        }
    }

    /// The API Path a merchant pastes for this store (production form).
    pub fn api_path(&self) -> String {
        format!("https://api.bigcommerce.com/stores/{}/v3/", self.hash)
    }

    /// The credentials text file BigCommerce downloads when an account is created.
    pub fn credentials_file(&self, account: &Account) -> String {
        format!(
            "ACCESS TOKEN: {}\nCLIENT NAME: {}\nAPI PATH: {}\nCLIENT ID: {}\nCLIENT SECRET: {}\nNAME: {}\n",
            account.access_token,
            account.name,
            self.api_path(),
            account.client_id,
            account.client_secret,
            account.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_are_deterministic_per_seed() {
        let a = StoreConfig::from_seed(7, Sizes::default());
        let b = StoreConfig::from_seed(7, Sizes::default());
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.accounts, b.accounts);
        assert_ne!(a.hash, StoreConfig::from_seed(8, Sizes::default()).hash);
        assert_eq!(a.hash.len(), 10);
        let file = a.credentials_file(&a.accounts[0]);
        assert!(file.contains(&format!("API PATH: https://api.bigcommerce.com/stores/{}/v3/\n", a.hash)));
        assert!(file.starts_with(&format!("ACCESS TOKEN: {}\n", a.accounts[0].access_token)));
    }
}
