//! Keyset pages. A list asks the store for one row more than the page holds, so the page knows whether another
//! follows: the last page names no cursor, as the documents promise. (Judging by a full page, a full last page
//! named one, and the next call came back empty.)

/// The page of at most `limit` rows out of the up to `limit + 1` the store returned, and the cursor of the next
/// page (`key` of its last row) when a row was left over.
pub fn keyset_page<T>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::keyset_page;

    #[test]
    fn only_a_row_left_over_names_a_next_page() {
        assert_eq!(keyset_page(vec![1, 2, 3], 2, |r| *r), (vec![1, 2], Some(2)), "more behind");
        assert_eq!(keyset_page(vec![1, 2], 2, |r| *r), (vec![1, 2], None), "a full last page is the last");
        assert_eq!(keyset_page(vec![1], 2, |r| *r), (vec![1], None));
        assert_eq!(keyset_page(Vec::<i64>::new(), 2, |r| *r), (vec![], None));
    }
}
