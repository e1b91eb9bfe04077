//! How migration files are named: `NNNN_name.sql` in `src/db/migrations/`, versions from 0001
//! with no gaps. The build script (which embeds the files) and `wsctl migrate new` (which
//! creates the next one) share these rules, so they cannot disagree.

/// `NNNN_name.sql` → (version, name). Anything else is refused with the rule, so a misnamed
/// file fails the build instead of being skipped.
pub fn parse_file_name(file: &str) -> Result<(i32, &str), String> {
    let rule = || {
        format!(
            "{file} must be named NNNN_name.sql: four digits, '_', then lowercase letters, \
             digits and '_' (e.g. 0004_add_due_dates.sql)"
        )
    };
    let stem = file.strip_suffix(".sql").ok_or_else(rule)?;
    let (number, name) = stem.split_once('_').ok_or_else(rule)?;
    if number.len() != 4 || !number.bytes().all(|b| b.is_ascii_digit()) || !valid_name(name) {
        return Err(rule());
    }
    number.parse().map(|v| (v, name)).map_err(|_| rule())
}

/// A migration's name: what `wsctl migrate new NAME` accepts (hyphens become '_').
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 60
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks that `versions` (sorted) run 1, 2, 3, … and names the first one out of place.
pub fn check_dense(files: &[(i32, String)]) -> Result<(), String> {
    for (i, (version, name)) in files.iter().enumerate() {
        let expected = i32::try_from(i + 1).unwrap_or(i32::MAX);
        if *version != expected {
            return Err(format!(
                "expected migration {expected:04} next but found {version:04}_{name}.sql: versions \
                 start at 0001 and have no gaps or duplicates"
            ));
        }
    }
    Ok(())
}
