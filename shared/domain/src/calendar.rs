//! Dates as a French reader sees them: the civil date in Paris (CET/CEST), computed from the EU
//! summer-time rule, so the domain needs no time-zone database.

use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};

/// The last Sunday of a month, at 01:00 UTC: when EU summer time starts (March) or ends (October).
fn last_sunday_0100_utc(year: i32, month: Month) -> OffsetDateTime {
    let days = month.length(year);
    let mut day = Date::from_calendar_date(year, month, days).unwrap_or(Date::MIN);
    while day.weekday() != Weekday::Sunday {
        day = day.previous_day().unwrap_or(day);
    }
    day.with_hms(1, 0, 0).map(|dt| dt.assume_utc()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The UTC offset of Paris at an instant (+1 in winter, +2 in summer).
pub fn paris_offset(at: OffsetDateTime) -> UtcOffset {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    let start = last_sunday_0100_utc(utc.year(), Month::March);
    let end = last_sunday_0100_utc(utc.year(), Month::October);
    let hours = if utc >= start && utc < end { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The civil date in Paris at an instant. Total: at the very edge of the calendar (year 9999,
/// where Paris is already in year 10000) it gives the UTC date rather than overflowing.
pub fn paris_date(at: OffsetDateTime) -> Date {
    let utc = at.checked_to_offset(UtcOffset::UTC).unwrap_or(at);
    utc.checked_to_offset(paris_offset(utc)).map(|t| t.date()).unwrap_or(utc.date())
}

/// `21/11/2026`.
/// The instant a Paris wall-clock time of a day stands for (06:00 and 18:00 are never in a
/// daylight-saving change, which happens at 02:00–03:00).
pub fn paris_instant(d: Date, hour: u8, minute: u8) -> OffsetDateTime {
    let wall = time::PrimitiveDateTime::new(d, time::Time::from_hms(hour, minute, 0).unwrap_or(time::Time::MIDNIGHT));
    let offset = paris_offset(wall.assume_utc());
    wall.assume_offset(offset).checked_to_offset(UtcOffset::UTC).unwrap_or(wall.assume_utc())
}

pub fn french_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

/// A date as a language writes it: `21/11/2026` (fr, es, it), `21.11.2026` (de, pl),
/// `21-11-2026` (nl), `2026-11-21` (en, unambiguous).
pub fn local_date(lang: crate::seller::Language, d: Date) -> String {
    use crate::seller::Language;
    let (day, month, year) = (d.day(), u8::from(d.month()), d.year());
    match lang {
        Language::Fr | Language::Es | Language::It => format!("{day:02}/{month:02}/{year:04}"),
        Language::De | Language::Pl => format!("{day:02}.{month:02}.{year:04}"),
        Language::Nl => format!("{day:02}-{month:02}-{year:04}"),
        Language::En => iso_date(d),
    }
}

/// A calendar month, `2026-11`: the month of usage counters, fee invoices, statements and
/// the export page's presets. Months are counted in Paris ([`YearMonth::in_paris`]): at
/// 2026-03-31T22:30Z it is already April.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    // Field order gives the calendar order.
    year: i32,
    month: u8,
}

/// Text that is not a month `YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a month is written YYYY-MM; got {0:?}")]
pub struct YearMonthError(String);

impl YearMonth {
    pub fn new(year: i32, month: Month) -> YearMonth {
        YearMonth { year, month: u8::from(month) }
    }

    /// The month of a day.
    pub fn of(d: Date) -> YearMonth {
        YearMonth::new(d.year(), d.month())
    }

    /// The month of an instant in Paris.
    pub fn in_paris(at: OffsetDateTime) -> YearMonth {
        YearMonth::of(paris_date(at))
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> Month {
        Month::try_from(self.month).unwrap_or(Month::January)
    }

    /// The month before (January's is December of the year before).
    pub fn previous(self) -> YearMonth {
        match self.month() {
            Month::January => YearMonth::new(self.year - 1, Month::December),
            m => YearMonth::new(self.year, m.previous()),
        }
    }

    /// The month after (December's is January of the year after).
    pub fn next(self) -> YearMonth {
        match self.month() {
            Month::December => YearMonth::new(self.year + 1, Month::January),
            m => YearMonth::new(self.year, m.next()),
        }
    }

    /// The first month of its quarter (January, April, July, October).
    pub fn quarter_start(self) -> YearMonth {
        YearMonth { month: (self.month - 1) / 3 * 3 + 1, ..self }
    }

    /// Its first day (total: a month beyond the calendar's range gives its edge).
    pub fn first_day(self) -> Date {
        Date::from_calendar_date(self.year, self.month(), 1).unwrap_or(if self.year < 0 {
            Date::MIN
        } else {
            Date::MAX
        })
    }

    /// Its last day.
    pub fn last_day(self) -> Date {
        let first = self.first_day();
        first.replace_day(self.month().length(self.year)).unwrap_or(first)
    }

    /// `202611`, as in a fee invoice's reference.
    pub fn compact(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
    }
}

impl std::fmt::Display for YearMonth {
    /// `2026-11`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl std::str::FromStr for YearMonth {
    type Err = YearMonthError;

    /// `2026-11`, exactly (four-digit year, two-digit month).
    fn from_str(text: &str) -> Result<YearMonth, YearMonthError> {
        let bad = || YearMonthError(text.chars().take(20).collect());
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month = m.parse::<u8>().ok().and_then(|m| Month::try_from(m).ok()).ok_or_else(bad)?;
        Ok(YearMonth::new(year, month))
    }
}

/// `2026-11-21`.
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// `20261121` (the CII date format 102).
pub fn compact_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn paris_is_utc_plus_one_in_winter_and_two_in_summer() {
        assert_eq!(paris_offset(datetime!(2026-01-15 12:00 UTC)).whole_hours(), 1);
        assert_eq!(paris_offset(datetime!(2026-07-15 12:00 UTC)).whole_hours(), 2);
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(paris_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(), 1);
        assert_eq!(paris_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(), 2);
        assert_eq!(paris_offset(datetime!(2026-10-25 00:59 UTC)).whole_hours(), 2);
        assert_eq!(paris_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(), 1);
    }

    #[test]
    fn the_edges_of_the_calendar_do_not_overflow() {
        assert_eq!(iso_date(paris_date(datetime!(9999-12-31 23:30 UTC))), "9999-12-31");
        assert_eq!(iso_date(paris_date(datetime!(9999-12-31 23:30 -5))), "9999-12-31");
        assert_eq!(iso_date(paris_date(datetime!(-9999-01-01 00:00 UTC))), "-9999-01-01");
    }

    #[test]
    fn months_follow_the_calendar_in_paris() {
        let april = YearMonth::in_paris(datetime!(2026-03-31 22:30 UTC));
        assert_eq!(april.to_string(), "2026-04");
        assert_eq!(april.previous().to_string(), "2026-03");
        assert_eq!("2026-01".parse::<YearMonth>().unwrap().previous().to_string(), "2025-12");
        assert_eq!("2025-12".parse::<YearMonth>().unwrap().next().to_string(), "2026-01");
        assert_eq!(YearMonth::new(2028, Month::February).last_day(), time::macros::date!(2028 - 02 - 29));
        assert_eq!(YearMonth::new(2026, Month::November).quarter_start().to_string(), "2026-10");
        assert_eq!(YearMonth::new(2026, Month::March).quarter_start().to_string(), "2026-01");
        assert_eq!(YearMonth::new(2026, Month::November).compact(), "202611");
        assert!(YearMonth::new(2025, Month::December) < YearMonth::new(2026, Month::January));
        for bad in ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "2026-11-01", ""] {
            assert!(bad.parse::<YearMonth>().is_err(), "{bad}");
        }
    }

    #[test]
    fn late_evening_utc_is_already_tomorrow_in_paris() {
        let d = paris_date(datetime!(2026-12-31 23:30 UTC));
        assert_eq!(iso_date(d), "2027-01-01");
        assert_eq!(french_date(d), "01/01/2027");
        assert_eq!(compact_date(d), "20270101");
    }
}
