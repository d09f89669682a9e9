//! The due index (`gsi2` over the data status items): when each (connection, data type) next
//! syncs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::item::{DUE_PK, classify, condition_ok, due_key, parse_due_key, s, seen_due_key, status_key};
use super::{DUE_INDEX, DynamoStore};
use crate::codat::timestamp;
use crate::domain::DataType;
use crate::error::StoreError;
use crate::ports::{DueSync, ScheduleStore};

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn schedule_sync(
        &self,
        company: Uuid,
        connection: Uuid,
        data_type: DataType,
        due: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(company, connection, data_type)))
            .update_expression("SET gsi2pk = :due_pk, gsi2sk = :due_key")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":due_pk", s(DUE_PK))
            .expression_attribute_values(":due_key", s(due_key(due, company, connection, data_type)))
            .send()
            .await
            .map_err(classify);
        // No status (the company was deleted meanwhile): nothing to schedule.
        condition_ok(updated).map(drop)
    }

    async fn due_syncs(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<DueSync>, StoreError> {
        // '$' sorts right after '#': every key due at `now` or earlier.
        let bound = format!("{}$", timestamp(now));
        let mut due = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("gsi2pk = :due_pk AND gsi2sk < :bound")
                .expression_attribute_values(":due_pk", s(DUE_PK))
                .expression_attribute_values(":bound", s(bound.clone()))
                .projection_expression("gsi2sk")
                .limit((limit - due.len()).min(1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                if let Some(entry) = item.get("gsi2sk").and_then(|v| v.as_s().ok()).and_then(|k| parse_due_key(k)) {
                    due.push(entry);
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() && due.len() < limit => start = Some(next),
                _ => return Ok(due),
            }
        }
    }

    async fn claim_due(&self, seen: &DueSync, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(seen.company, seen.connection, seen.data_type)))
            .update_expression("SET gsi2sk = :next")
            .condition_expression("gsi2sk = :seen")
            .expression_attribute_values(":seen", s(seen_due_key(seen)))
            .expression_attribute_values(":next", s(due_key(until, seen.company, seen.connection, seen.data_type)))
            .send()
            .await
            .map_err(classify);
        condition_ok(claimed)
    }

    async fn unschedule(&self, seen: &DueSync) -> Result<(), StoreError> {
        let removed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(status_key(seen.company, seen.connection, seen.data_type)))
            .update_expression("REMOVE gsi2pk, gsi2sk")
            .condition_expression("gsi2sk = :seen")
            .expression_attribute_values(":seen", s(seen_due_key(seen)))
            .send()
            .await
            .map_err(classify);
        condition_ok(removed).map(drop)
    }
}
