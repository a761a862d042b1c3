//! The tests of `store::partitions`, in a file of their own so that the module reads alone.

use super::*;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn names_read_back_as_the_times_they_hold() {
    let d = Partition::read(Table::Messages, "messages_d20261130").unwrap();
    assert_eq!((d.from, d.until), (Some(day("2026-11-30")), day("2026-12-01")));
    let m = Partition::read(Table::Logs, "message_logs_m202612").unwrap();
    assert_eq!((m.from, m.until), (Some(day("2026-12-01")), day("2027-01-01")));
    let old = Partition::read(Table::Logs, "message_logs_before_m202611").unwrap();
    assert_eq!((old.from, old.until), (None, day("2026-11-01")));
    assert_eq!(Table::Messages.partition(day("2026-11-30")), "messages_d20261130");
    assert_eq!(Table::Logs.partition(day("2026-11-01")), "message_logs_m202611");
    for stranger in ["messages_x", "messages_d2026", "message_logs_d20261130", "messages_before_m202611"] {
        assert_eq!(Partition::read(Table::Messages, stranger), None, "{stranger}");
    }
}

#[test]
fn today_and_the_days_ahead_are_made_except_where_a_converted_table_reaches() {
    let converted = Partition::read(Table::Messages, "messages_before_d20261127").unwrap();
    let plan = plan(Table::Messages, &[converted], at("2026-11-26T23:59:00Z"), None);
    let expected: Vec<_> =
        (27..=30).map(|d| day(&format!("2026-11-{d}"))).chain((1..=3).map(|d| day(&format!("2026-12-0{d}")))).collect();
    assert_eq!(plan.create, expected);
    let months = plan_logs(&[], "2026-11-26T00:00:00Z");
    assert_eq!(months.create, [day("2026-11-01"), day("2026-12-01"), day("2027-01-01")]);
}

fn plan_logs(existing: &[Partition], now: &str) -> Plan {
    plan(Table::Logs, existing, at(now), None)
}

#[test]
fn a_partition_goes_only_once_its_newest_possible_row_is_past_the_cutoff() {
    let days: Vec<_> = ["messages_before_d20261120", "messages_d20261120", "messages_d20261121"]
        .iter()
        .map(|n| Partition::read(Table::Messages, n).unwrap())
        .collect();
    // Rows of the 20th may be sent until 23:59:59.999; with a 24 h retention they may go from the 22nd.
    let names = |cutoff: &str| -> Vec<String> {
        plan(Table::Messages, &days, at("2026-11-22T00:00:00Z"), Some(at(cutoff)))
            .drop
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(names("2026-11-20T23:59:59Z"), ["messages_before_d20261120"]);
    assert_eq!(names("2026-11-21T00:00:00Z"), ["messages_before_d20261120", "messages_d20261120"]);
}
