//! 发文字号 (document numbers) in the one spelling GB/T 9704-2012 §7.2.4
//! gives them: 机关代字, the year in full in 六角括号 〔〕, the sequence
//! number without 第 and without padding (1, not 01), then 号 — as in
//! 宜政办发〔2017〕6号. A number is unique within its unit; typed with
//! other brackets, full-width digits, spaces, a 第 or a padded sequence it
//! must still be recognised as the same number, so it is kept in this
//! spelling.

/// Brackets typed in place of 〔 and 〕 around the year.
const OPENING: &[char] = &['〔', '[', '［', '【', '(', '（', '﹝', '〖', '{', '｛'];
const CLOSING: &[char] = &['〕', ']', '］', '】', ')', '）', '﹞', '〗', '}', '｝'];

/// `raw` in the standard spelling; text that is not a year in brackets
/// followed by a sequence is kept as typed (without its spaces).
pub fn normalize(raw: &str) -> String {
    let chars: Vec<char> = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(half_width_digit)
        .collect();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < chars.len() {
        let year = chars.get(i + 1..i + 5);
        let bracketed_year = OPENING.contains(&chars[i])
            && year.is_some_and(|y| y.iter().all(char::is_ascii_digit))
            && chars.get(i + 5).is_some_and(|c| CLOSING.contains(c));
        if !bracketed_year {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        out.push('〔');
        out.extend(&chars[i + 1..i + 5]);
        out.push('〕');
        i += 6;
        // The sequence: 第 dropped, leading zeros too.
        let mut j = i;
        if chars.get(j) == Some(&'第') && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
        let start = j;
        while chars.get(j).is_some_and(char::is_ascii_digit) {
            j += 1;
        }
        if j > start {
            let digits: String = chars[start..j].iter().collect();
            let trimmed = digits.trim_start_matches('0');
            out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
            i = j;
        }
    }
    out
}

fn half_width_digit(c: char) -> char {
    match c {
        '０'..='９' => {
            char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
        }
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn variants_of_one_number_meet() {
        for typed in [
            "宜政办发〔2017〕6号",
            "宜政办发[2017]6号",
            "宜政办发［2017］6号",
            "宜政办发【2017】6号",
            "宜政办发（2017）6号",
            "宜政办发(2017)6号",
            "宜政办发﹝2017﹞6号",
            "宜政办发〔2017〕 6号",
            " 宜政办发 〔2017〕6 号 ",
            "宜政办发〔２０１７〕６号",
            "宜政办发〔2017〕第6号",
            "宜政办发〔2017〕06号",
            "宜政办发[2017〕006号",
            "宜政办发\u{3000}〔2017〕6号",
        ] {
            assert_eq!(normalize(typed), "宜政办发〔2017〕6号", "{typed:?}");
        }
    }

    #[test]
    fn different_numbers_stay_different() {
        assert_eq!(normalize("宜政办发〔2017〕60号"), "宜政办发〔2017〕60号");
        assert_eq!(normalize("宜政办发〔2016〕6号"), "宜政办发〔2016〕6号");
        assert_eq!(normalize("宜政发〔2017〕6号"), "宜政发〔2017〕6号");
        assert_eq!(normalize("南教〔2026〕0号"), "南教〔2026〕0号");
    }

    #[test]
    fn text_without_a_bracketed_year_is_kept() {
        // Not four digits, or no closing bracket: nothing to recognise.
        assert_eq!(normalize("国务院令第711号"), "国务院令第711号");
        assert_eq!(normalize("办发(17)6号"), "办发(17)6号");
        assert_eq!(normalize("〔"), "〔");
        assert_eq!(normalize(""), "");
    }
}
