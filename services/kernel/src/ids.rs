//! Identity-number checks shared by the services: resident ID numbers
//! (GB 11643-1999, RULES §7) and the Luhn check of bank card numbers.

/// Weights of the first 17 digits (GB 11643-1999).
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for `sum mod 11`.
const ID_CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Result of checking a resident ID number (GB 11643-1999).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdCheck {
    Valid18,
    Valid15,
    BadLength,
    BadDigits,
    BadBirthDate,
    BadChecksum,
}

/// Checks length, digits, birth date and (for 18 characters) the check
/// character, in that order. A lowercase `x` is accepted as check character.
pub fn check_resident_id(s: &str) -> IdCheck {
    let b = s.as_bytes();
    match s.chars().count() {
        18 => {
            if b.len() != 18
                || !b[..17].iter().all(u8::is_ascii_digit)
                || !(b[17].is_ascii_digit() || b[17] == b'X' || b[17] == b'x')
            {
                return IdCheck::BadDigits;
            }
            if !valid_birth_date(
                digits_value(&b[6..10]),
                digits_value(&b[10..12]),
                digits_value(&b[12..14]),
            ) {
                return IdCheck::BadBirthDate;
            }
            match id_check_char(&s[..17]) {
                Some(c) if c == char::from(b[17].to_ascii_uppercase()) => IdCheck::Valid18,
                _ => IdCheck::BadChecksum,
            }
        }
        15 => {
            if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
                return IdCheck::BadDigits;
            }
            // Old numbers only carry YYMMDD; they were issued to people born in 19xx.
            let year = 1900 + digits_value(&b[6..8]);
            if !valid_birth_date(year, digits_value(&b[8..10]), digits_value(&b[10..12])) {
                return IdCheck::BadBirthDate;
            }
            IdCheck::Valid15
        }
        _ => IdCheck::BadLength,
    }
}

/// Check character for the first 17 digits of an 18-digit resident ID, or
/// `None` unless `first17` is exactly 17 ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ID_CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// Old 15-digit number converted to 18 digits: "19" inserted after the area
/// code and the check character appended. `None` unless `old` is 15 ASCII
/// digits; the birth date is not checked (use [`check_resident_id`]).
pub fn upgrade_15_to_18(old: &str) -> Option<String> {
    let b = old.as_bytes();
    if b.len() != 15 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut new = String::with_capacity(18);
    new.push_str(&old[..6]);
    new.push_str("19");
    new.push_str(&old[6..]);
    let check = id_check_char(&new)?;
    new.push(check);
    Some(new)
}

/// Luhn (mod 10) check; false for an empty string or any non-digit, so callers
/// strip separators first.
pub fn luhn_valid(digits: &str) -> bool {
    let b = digits.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let dd = d * 2;
                if dd > 9 { dd - 9 } else { dd }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Value of a short run of ASCII digits (callers have checked the digits).
fn digits_value(b: &[u8]) -> u32 {
    b.iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

fn valid_birth_date(year: u32, month: u32, day: u32) -> bool {
    if !(1900..=2100).contains(&year) {
        return false;
    }
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}
