//! Sync settings: per data type, whether to fetch on first link, how often (hours) and in which
//! order. Stored per company; data types a company has not set use the defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DataType;

/// Most hours between scheduled syncs (one year).
pub const MAX_SYNC_SCHEDULE_HOURS: u64 = 8760;
/// Default hours between scheduled syncs.
pub const DEFAULT_SYNC_SCHEDULE_HOURS: u32 = 24;

/// One data type's settings, in Codat's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncSetting {
    /// The data type.
    pub data_type: DataType,
    /// Queue a sync when the connection is first linked.
    pub fetch_on_first_link: bool,
    /// Hours between scheduled syncs.
    pub sync_schedule: u32,
    /// Lower syncs first.
    pub sync_order: u32,
    /// Earliest record date to fetch on the first sync.
    #[serde(default)]
    pub sync_from_utc: Option<DateTime<Utc>>,
    /// Days of history to fetch on the first sync, instead of `sync_from_utc`.
    #[serde(default)]
    pub sync_from_window: Option<u32>,
    /// Months of history to fetch on the first sync.
    #[serde(default)]
    pub months_to_sync: Option<u32>,
    /// Locked settings cannot be changed by the company.
    #[serde(default)]
    pub is_locked: bool,
}

impl SyncSetting {
    /// The default for a data type: supported types sync daily from first link, orders first
    /// (what a platform waits on; they claim payments and transactions and are readable once
    /// listed), then the rest in [`DataType::ALL`] order; unsupported types are not fetched.
    pub fn default_for(data_type: DataType) -> Self {
        let order = match data_type {
            DataType::Orders => 0,
            _ => {
                DataType::ALL.iter().filter(|d| **d != DataType::Orders).position(|d| *d == data_type).unwrap_or(0) + 1
            }
        };
        Self {
            data_type,
            fetch_on_first_link: data_type.supported(),
            sync_schedule: DEFAULT_SYNC_SCHEDULE_HOURS,
            sync_order: u32::try_from(order).unwrap_or(u32::MAX),
            sync_from_utc: None,
            sync_from_window: None,
            months_to_sync: None,
            is_locked: false,
        }
    }
}

/// A company's stored settings: the data types it set explicitly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncSettings {
    /// Explicit settings, at most one per data type.
    pub settings: Vec<SyncSetting>,
    /// Codat's `overridesDefaults` flag as last set.
    pub overrides_defaults: bool,
}

impl SyncSettings {
    /// The data types synced when a connection is first linked (and by `POST /data/all`).
    pub fn fetched_on_first_link(&self) -> Vec<DataType> {
        self.effective().iter().filter(|s| s.fetch_on_first_link).map(|s| s.data_type).collect()
    }

    /// These settings over `defaults`: this set's explicit entries, then the defaults' entries
    /// for the data types this set does not name (the built-in defaults fill the rest).
    pub fn over(mut self, defaults: &SyncSettings) -> SyncSettings {
        for setting in &defaults.settings {
            if !self.settings.iter().any(|s| s.data_type == setting.data_type) {
                self.settings.push(setting.clone());
            }
        }
        self
    }

    /// The effective setting of every data type: explicit ones, defaults for the rest, in
    /// sync order.
    pub fn effective(&self) -> Vec<SyncSetting> {
        let mut all: Vec<SyncSetting> = DataType::ALL
            .into_iter()
            .map(|d| {
                self.settings.iter().find(|s| s.data_type == d).cloned().unwrap_or_else(|| SyncSetting::default_for(d))
            })
            .collect();
        all.sort_by_key(|s| (s.sync_order, s.data_type));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_settings_win_over_the_profile_defaults() {
        let setting = |d: DataType, hours: u32| SyncSetting { sync_schedule: hours, ..SyncSetting::default_for(d) };
        let own = SyncSettings { settings: vec![setting(DataType::Orders, 2)], overrides_defaults: true };
        let profile = SyncSettings {
            settings: vec![setting(DataType::Orders, 48), setting(DataType::Products, 72)],
            overrides_defaults: false,
        };
        let effective = own.over(&profile).effective();
        let hours = |d: DataType| effective.iter().find(|s| s.data_type == d).map(|s| s.sync_schedule);
        assert_eq!(hours(DataType::Orders), Some(2));
        assert_eq!(hours(DataType::Products), Some(72));
        assert_eq!(hours(DataType::Customers), Some(DEFAULT_SYNC_SCHEDULE_HOURS));
    }

    #[test]
    fn defaults_cover_every_commerce_type() {
        let effective = SyncSettings::default().effective();
        assert_eq!(effective.len(), 11);
        assert!(effective.iter().all(|s| s.fetch_on_first_link == s.data_type.supported()));
        assert_eq!(effective[1].data_type, DataType::CompanyInfo, "after the orders");
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn orders_come_first_by_default_and_every_type_has_its_own_place() {
        let effective = SyncSettings::default().effective();
        assert_eq!(effective[0].data_type, DataType::Orders);
        let mut orders: Vec<u32> = effective.iter().map(|s| s.sync_order).collect();
        orders.dedup();
        assert_eq!(orders, (0..DataType::ALL.len() as u32).collect::<Vec<_>>());
    }
}
