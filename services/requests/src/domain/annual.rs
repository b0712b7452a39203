//! Tables 三 and 四 of the annual report (RULES §5; 2021 template).
//!
//! Both tables are pure counts over facts, so a unit's report can be rebuilt
//! for any year from the request history and checked before it is published:
//! the template's consistency rules (勾稽关系) are what reviewers test first.

use chrono::{Datelike, NaiveDate};

use super::categories::{AppealKind, AppealOutcome, ApplicantType, ReplyCategory, ReplyGroup};

/// What table 三 needs of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFacts {
    pub applicant: ApplicantType,
    pub received: NaiveDate,
    /// When and how it was concluded (see `Request::concluded`).
    pub concluded: Option<(NaiveDate, ReplyCategory)>,
}

/// A column of table 三: the six applicant types, then 总计.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Applicant(ApplicantType),
    Total,
}

const COLUMNS: usize = 7;

impl Column {
    pub const ALL: [Column; COLUMNS] = [
        Column::Applicant(ApplicantType::NaturalPerson),
        Column::Applicant(ApplicantType::Commercial),
        Column::Applicant(ApplicantType::Research),
        Column::Applicant(ApplicantType::PublicInterest),
        Column::Applicant(ApplicantType::LegalService),
        Column::Applicant(ApplicantType::OtherOrg),
        Column::Total,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Column::Applicant(t) => t.label(),
            Column::Total => "总计",
        }
    }

    fn index(self) -> usize {
        match self {
            Column::Applicant(t) => applicant_index(t),
            Column::Total => COLUMNS - 1,
        }
    }
}

fn applicant_index(t: ApplicantType) -> usize {
    match t {
        ApplicantType::NaturalPerson => 0,
        ApplicantType::Commercial => 1,
        ApplicantType::Research => 2,
        ApplicantType::PublicInterest => 3,
        ApplicantType::LegalService => 4,
        ApplicantType::OtherOrg => 5,
    }
}

/// A row of table 三, in template order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    /// 一、本年新收: received in the year.
    New,
    /// 二、上年结转: received before the year, not concluded before it.
    CarriedIn,
    /// 三、本年度办理结果, one leaf row per category: concluded in the year.
    Result(ReplyCategory),
    /// 三（七）总计.
    ResultTotal,
    /// 四、结转下年度继续办理: received by Dec 31, not concluded by then.
    CarriedOut,
}

const ROWS: usize = 2 + ReplyCategory::ALL.len() + 2;

const GROUP_NUMERALS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "七"];

impl Row {
    pub const ALL: [Row; ROWS] = {
        let mut rows = [Row::New; ROWS];
        rows[1] = Row::CarriedIn;
        let mut i = 0;
        while i < ReplyCategory::ALL.len() {
            rows[2 + i] = Row::Result(ReplyCategory::ALL[i]);
            i += 1;
        }
        rows[ROWS - 2] = Row::ResultTotal;
        rows[ROWS - 1] = Row::CarriedOut;
        rows
    };

    fn index(self) -> usize {
        match self {
            Row::New => 0,
            Row::CarriedIn => 1,
            Row::Result(c) => 2 + c as usize,
            Row::ResultTotal => ROWS - 2,
            Row::CarriedOut => ROWS - 1,
        }
    }

    /// The row's own cell text in the template, e.g. "（一）予以公开" or
    /// "1.属于国家秘密" (a sub-row under its group).
    pub fn label(self) -> String {
        match self {
            Row::New => "一、本年新收政府信息公开申请数量".into(),
            Row::CarriedIn => "二、上年结转政府信息公开申请数量".into(),
            Row::Result(ReplyCategory::Partly) => {
                "（二）部分公开（区分处理的，只计这一情形，不计其他情形）".into()
            }
            Row::Result(c) if single_leaf(c.group()) => group_heading(c.group()),
            Row::Result(c) => {
                let n = ReplyCategory::ALL
                    .iter()
                    .filter(|x| x.group() == c.group())
                    .position(|x| *x == c)
                    .unwrap_or(0);
                format!("{}.{}", n + 1, c.label())
            }
            Row::ResultTotal => "（七）总计".into(),
            Row::CarriedOut => "四、结转下年度继续办理".into(),
        }
    }

    /// The label with the headings above it, unambiguous on its own, e.g.
    /// "三、本年度办理结果（三）不予公开 1.属于国家秘密"; used in messages.
    pub fn path(self) -> String {
        match self {
            Row::Result(c) if !single_leaf(c.group()) => format!(
                "三、本年度办理结果{} {}",
                group_heading(c.group()),
                self.label()
            ),
            Row::Result(_) | Row::ResultTotal => format!("三、本年度办理结果{}", self.label()),
            _ => self.label(),
        }
    }
}

fn single_leaf(group: ReplyGroup) -> bool {
    matches!(group, ReplyGroup::Disclosed | ReplyGroup::Partly)
}

fn group_heading(group: ReplyGroup) -> String {
    let n = ReplyGroup::ALL
        .iter()
        .position(|g| *g == group)
        .unwrap_or(0);
    format!("（{}）{}", GROUP_NUMERALS[n], group.label())
}

/// Table 三 for one unit and year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableThree {
    pub year: i32,
    cells: [[u64; COLUMNS]; ROWS],
}

impl TableThree {
    /// An all-zero table, e.g. to key in figures by hand and `check` them.
    pub fn empty(year: i32) -> Self {
        Self {
            year,
            cells: [[0; COLUMNS]; ROWS],
        }
    }

    pub fn cell(&self, row: Row, column: Column) -> u64 {
        self.cells[row.index()][column.index()]
    }

    pub fn set(&mut self, row: Row, column: Column, value: u64) {
        self.cells[row.index()][column.index()] = value;
    }

    /// The rows with their labels and values, in template order.
    pub fn rows(&self) -> impl Iterator<Item = (Row, [u64; COLUMNS])> + '_ {
        Row::ALL
            .into_iter()
            .map(|row| (row, self.cells[row.index()]))
    }

    fn bump(&mut self, row: Row, applicant: ApplicantType) {
        let cells = &mut self.cells[row.index()];
        cells[applicant_index(applicant)] += 1;
        cells[Column::Total.index()] += 1;
    }
}

/// Counts table 三 of `year`. A conclusion dated before receipt (which the
/// lifecycle never produces) is taken as the day of receipt, so the table
/// still balances.
pub fn table_three(year: i32, facts: &[RequestFacts]) -> TableThree {
    let mut table = TableThree::empty(year);
    for fact in facts {
        let received = fact.received.year();
        if received > year {
            continue;
        }
        let concluded = fact
            .concluded
            .map(|(day, category)| (day.max(fact.received).year(), category));
        if received == year {
            table.bump(Row::New, fact.applicant);
        } else if concluded.is_none_or(|(y, _)| y >= year) {
            table.bump(Row::CarriedIn, fact.applicant);
        }
        match concluded {
            Some((y, category)) if y == year => {
                table.bump(Row::Result(category), fact.applicant);
                table.bump(Row::ResultTotal, fact.applicant);
            }
            Some((y, _)) if y < year => {}
            _ => table.bump(Row::CarriedOut, fact.applicant),
        }
    }
    table
}

/// The template's consistency rules; every breach is reported, each naming
/// its row and column.
pub fn check(table: &TableThree) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    for column in Column::ALL {
        let get = |row| table.cell(row, column);
        let (new, carried_in) = (get(Row::New), get(Row::CarriedIn));
        let (results, carried_out) = (get(Row::ResultTotal), get(Row::CarriedOut));
        if new + carried_in != results + carried_out {
            errors.push(format!(
                "{}: 一 + 二 = {new} + {carried_in} = {}, but 三（七） + 四 = {results} + \
                 {carried_out} = {}",
                column.label(),
                new + carried_in,
                results + carried_out
            ));
        }
        let leaves: u64 = ReplyCategory::ALL
            .iter()
            .map(|c| get(Row::Result(*c)))
            .sum();
        if leaves != results {
            errors.push(format!(
                "{}: {} is {results}, but its sub-rows sum to {leaves}",
                column.label(),
                Row::ResultTotal.path()
            ));
        }
    }
    for (row, values) in table.rows() {
        let types: u64 = values[..COLUMNS - 1].iter().sum();
        let total = values[Column::Total.index()];
        if types != total {
            errors.push(format!(
                "{}: 总计 is {total}, but the applicant types sum to {types}",
                row.path()
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What table 四 needs of one appeal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppealFacts {
    pub kind: AppealKind,
    /// The outcome as it stands now (尚未审结 while pending).
    pub outcome: AppealOutcome,
    pub filed: NaiveDate,
}

/// A column within each appeal kind of table 四.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeColumn {
    Outcome(AppealOutcome),
    Total,
}

impl OutcomeColumn {
    pub const ALL: [OutcomeColumn; 5] = [
        OutcomeColumn::Outcome(AppealOutcome::Upheld),
        OutcomeColumn::Outcome(AppealOutcome::Corrected),
        OutcomeColumn::Outcome(AppealOutcome::Other),
        OutcomeColumn::Outcome(AppealOutcome::Pending),
        OutcomeColumn::Total,
    ];

    pub fn label(self) -> &'static str {
        match self {
            OutcomeColumn::Outcome(o) => o.label(),
            OutcomeColumn::Total => "总计",
        }
    }

    fn index(self) -> usize {
        match self {
            OutcomeColumn::Outcome(AppealOutcome::Upheld) => 0,
            OutcomeColumn::Outcome(AppealOutcome::Corrected) => 1,
            OutcomeColumn::Outcome(AppealOutcome::Other) => 2,
            OutcomeColumn::Outcome(AppealOutcome::Pending) => 3,
            OutcomeColumn::Total => 4,
        }
    }
}

fn kind_index(kind: AppealKind) -> usize {
    match kind {
        AppealKind::Reconsideration => 0,
        AppealKind::LitigationDirect => 1,
        AppealKind::LitigationAfterReconsideration => 2,
    }
}

/// Table 四 for one unit and year: appeals filed in the year, per kind and
/// outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFour {
    pub year: i32,
    cells: [[u64; 5]; 3],
}

impl TableFour {
    pub fn empty(year: i32) -> Self {
        Self {
            year,
            cells: [[0; 5]; 3],
        }
    }

    pub fn cell(&self, kind: AppealKind, column: OutcomeColumn) -> u64 {
        self.cells[kind_index(kind)][column.index()]
    }

    pub fn set(&mut self, kind: AppealKind, column: OutcomeColumn, value: u64) {
        self.cells[kind_index(kind)][column.index()] = value;
    }
}

pub fn table_four(year: i32, appeals: &[AppealFacts]) -> TableFour {
    let mut table = TableFour::empty(year);
    for appeal in appeals.iter().filter(|a| a.filed.year() == year) {
        let row = &mut table.cells[kind_index(appeal.kind)];
        row[OutcomeColumn::Outcome(appeal.outcome).index()] += 1;
        row[OutcomeColumn::Total.index()] += 1;
    }
    table
}

/// Each kind's 总计 equals the sum of its outcomes.
pub fn check_four(table: &TableFour) -> Result<(), Vec<String>> {
    let errors: Vec<String> = AppealKind::ALL
        .iter()
        .filter_map(|&kind| {
            let total = table.cell(kind, OutcomeColumn::Total);
            let sum: u64 = OutcomeColumn::ALL[..4]
                .iter()
                .map(|c| table.cell(kind, *c))
                .sum();
            (total != sum).then(|| {
                format!(
                    "{}: 总计 is {total}, but the outcomes sum to {sum}",
                    kind.label()
                )
            })
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use ApplicantType as A;
    use ReplyCategory as C;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn fact(applicant: A, received: &str, concluded: Option<(&str, C)>) -> RequestFacts {
        RequestFacts {
            applicant,
            received: d(received),
            concluded: concluded.map(|(day, c)| (d(day), c)),
        }
    }

    fn col(t: A) -> Column {
        Column::Applicant(t)
    }

    fn golden_facts() -> Vec<RequestFacts> {
        vec![
            // 1. carried in, disclosed in January.
            fact(
                A::NaturalPerson,
                "2025-12-20",
                Some(("2026-01-10", C::Disclosed)),
            ),
            // 2. concluded in 2025: absent from 2026.
            fact(
                A::NaturalPerson,
                "2025-11-01",
                Some(("2025-12-01", C::Disclosed)),
            ),
            // 3. new, partly disclosed.
            fact(A::Commercial, "2026-03-01", Some(("2026-03-20", C::Partly))),
            // 4. new, still open: carried out.
            fact(A::Commercial, "2026-12-28", None),
            // 5. new, concluded in 2027: carried out.
            fact(A::Research, "2026-05-05", Some(("2027-01-05", C::NotHeld))),
            // 6. from 2024, still open: carried in and out.
            fact(A::LegalService, "2024-06-01", None),
            // 7. new, withheld.
            fact(
                A::PublicInterest,
                "2026-07-01",
                Some(("2026-07-02", C::WithheldStateSecret)),
            ),
            // 8. new, withdrawn on Dec 31 (counted in the year).
            fact(A::OtherOrg, "2026-08-01", Some(("2026-12-31", C::Other))),
            // 9. new, refused as repeated.
            fact(
                A::NaturalPerson,
                "2026-02-01",
                Some(("2026-02-10", C::Repeated)),
            ),
            // 10. received in 2027: absent from 2026.
            fact(A::NaturalPerson, "2027-01-02", None),
        ]
    }

    #[test]
    fn golden_2026() {
        let t = table_three(2026, &golden_facts());
        check(&t).unwrap();
        // By hand: new = #3, #4, #5, #7, #8, #9.
        let row = |r: Row| -> Vec<u64> { Column::ALL.iter().map(|c| t.cell(r, *c)).collect() };
        assert_eq!(row(Row::New), [1, 2, 1, 1, 0, 1, 6]);
        // Carried in: #1 (natural person), #6 (legal service).
        assert_eq!(row(Row::CarriedIn), [1, 0, 0, 0, 1, 0, 2]);
        assert_eq!(row(Row::Result(C::Disclosed)), [1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(row(Row::Result(C::Partly)), [0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(
            row(Row::Result(C::WithheldStateSecret)),
            [0, 0, 0, 1, 0, 0, 1]
        );
        assert_eq!(row(Row::Result(C::Repeated)), [1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(row(Row::Result(C::Other)), [0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(row(Row::Result(C::NotHeld)), [0; 7]);
        assert_eq!(row(Row::ResultTotal), [2, 1, 0, 1, 0, 1, 5]);
        // Carried out: #4, #5, #6.
        assert_eq!(row(Row::CarriedOut), [0, 1, 1, 0, 1, 0, 3]);
        // 6 + 2 = 5 + 3.

        let next = table_three(2027, &golden_facts());
        check(&next).unwrap();
        assert_eq!(next.cell(Row::CarriedIn, Column::Total), 3);
        assert_eq!(next.cell(Row::New, col(A::NaturalPerson)), 1);
        assert_eq!(next.cell(Row::Result(C::NotHeld), col(A::Research)), 1);
        assert_eq!(next.cell(Row::CarriedOut, Column::Total), 3);
        let before = table_three(2025, &golden_facts());
        assert_eq!(before.cell(Row::New, Column::Total), 2);
        assert_eq!(before.cell(Row::CarriedOut, Column::Total), 2);
        check(&before).unwrap();
    }

    #[test]
    fn row_labels_follow_the_template() {
        let labels: Vec<String> = Row::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), 25);
        assert_eq!(labels[0], "一、本年新收政府信息公开申请数量");
        assert_eq!(labels[1], "二、上年结转政府信息公开申请数量");
        assert_eq!(labels[2], "（一）予以公开");
        assert_eq!(
            labels[3],
            "（二）部分公开（区分处理的，只计这一情形，不计其他情形）"
        );
        assert_eq!(labels[4], "1.属于国家秘密");
        assert_eq!(labels[6], "3.危及\"三安全一稳定\"");
        assert_eq!(labels[11], "8.属于行政查询事项");
        assert_eq!(labels[12], "1.本机关不掌握相关政府信息");
        assert_eq!(labels[15], "1.信访举报投诉类申请");
        assert_eq!(labels[19], "5.要求行政机关确认或重新出具已获取信息");
        assert_eq!(
            labels[20],
            "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"
        );
        assert_eq!(labels[22], "3.其他");
        assert_eq!(labels[23], "（七）总计");
        assert_eq!(labels[24], "四、结转下年度继续办理");
        assert_eq!(
            Row::Result(C::WithheldStateSecret).path(),
            "三、本年度办理结果（三）不予公开 1.属于国家秘密"
        );
        assert_eq!(
            Row::Result(C::Other).path(),
            "三、本年度办理结果（六）其他处理 3.其他"
        );
        assert_eq!(Row::ResultTotal.path(), "三、本年度办理结果（七）总计");
        assert_eq!(
            Row::Result(C::Disclosed).path(),
            "三、本年度办理结果（一）予以公开"
        );
        assert_eq!(Row::New.path(), Row::New.label());
        let columns: Vec<_> = Column::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(
            columns,
            [
                "自然人",
                "商业企业",
                "科研机构",
                "社会公益组织",
                "法律服务机构",
                "其他",
                "总计"
            ]
        );
        // Indexes agree with the order of ALL.
        for (i, row) in Row::ALL.iter().enumerate() {
            assert_eq!(row.index(), i);
        }
        for (i, c) in Column::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn check_names_row_and_column() {
        let mut t = table_three(2026, &golden_facts());
        t.set(Row::New, col(A::Commercial), 3);
        let errors = check(&t).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("商业企业: 一 + 二 = 3 + 0 = 3, but 三（七） + 四 = 1 + 1 = 2"),
            "{errors:?}"
        );
        assert_eq!(
            errors[1],
            "一、本年新收政府信息公开申请数量: 总计 is 6, but the applicant types sum to 7"
        );

        let mut t = table_three(2026, &golden_facts());
        t.set(Row::Result(C::Publication), Column::Total, 1);
        let errors = check(&t).unwrap_err();
        assert_eq!(
            errors,
            [
                "总计: 三、本年度办理结果（七）总计 is 5, but its sub-rows sum to 6",
                "三、本年度办理结果（五）不予处理 3.要求提供公开出版物: 总计 is 1, but the \
                 applicant types sum to 0"
            ]
        );
        assert_eq!(check(&TableThree::empty(2026)), Ok(()));
    }

    #[test]
    fn conclusion_before_receipt_is_clamped() {
        let facts = [fact(
            A::Research,
            "2026-01-05",
            Some(("2025-12-30", C::Disclosed)),
        )];
        let t = table_three(2026, &facts);
        check(&t).unwrap();
        assert_eq!(t.cell(Row::Result(C::Disclosed), Column::Total), 1);
        let t = table_three(2025, &facts);
        assert_eq!(t, TableThree::empty(2025));
    }

    #[test]
    fn table_four_golden() {
        let appeal = |kind, outcome, filed: &str| AppealFacts {
            kind,
            outcome,
            filed: d(filed),
        };
        let appeals = [
            appeal(
                AppealKind::Reconsideration,
                AppealOutcome::Upheld,
                "2026-02-01",
            ),
            appeal(
                AppealKind::Reconsideration,
                AppealOutcome::Upheld,
                "2026-12-31",
            ),
            appeal(
                AppealKind::Reconsideration,
                AppealOutcome::Corrected,
                "2026-05-01",
            ),
            appeal(
                AppealKind::LitigationDirect,
                AppealOutcome::Pending,
                "2026-06-01",
            ),
            appeal(
                AppealKind::LitigationAfterReconsideration,
                AppealOutcome::Other,
                "2026-07-01",
            ),
            appeal(
                AppealKind::Reconsideration,
                AppealOutcome::Upheld,
                "2025-12-31",
            ),
            appeal(
                AppealKind::LitigationDirect,
                AppealOutcome::Upheld,
                "2027-01-01",
            ),
        ];
        let t = table_four(2026, &appeals);
        check_four(&t).unwrap();
        let row = |k| -> Vec<u64> { OutcomeColumn::ALL.iter().map(|c| t.cell(k, *c)).collect() };
        assert_eq!(row(AppealKind::Reconsideration), [2, 1, 0, 0, 3]);
        assert_eq!(row(AppealKind::LitigationDirect), [0, 0, 0, 1, 1]);
        assert_eq!(
            row(AppealKind::LitigationAfterReconsideration),
            [0, 0, 1, 0, 1]
        );
        let labels: Vec<_> = OutcomeColumn::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
        );

        let mut bad = t.clone();
        bad.set(AppealKind::LitigationDirect, OutcomeColumn::Total, 2);
        assert_eq!(
            check_four(&bad).unwrap_err(),
            ["行政诉讼·未经复议直接起诉: 总计 is 2, but the outcomes sum to 1"]
        );
    }

    fn any_fact() -> impl Strategy<Value = RequestFacts> {
        // Receipt over 2024-01-01 ..= 2027-12-31 (1,461 days); a conclusion
        // 0–800 days later or none.
        (
            0..ApplicantType::ALL.len(),
            0i64..1461,
            prop::option::of((0u64..800, 0..ReplyCategory::ALL.len())),
        )
            .prop_map(|(t, offset, concluded)| {
                let received = d("2024-01-01") + chrono::Duration::days(offset);
                RequestFacts {
                    applicant: ApplicantType::ALL[t],
                    received,
                    concluded: concluded.map(|(after, c)| {
                        (received + chrono::Days::new(after), ReplyCategory::ALL[c])
                    }),
                }
            })
    }

    /// Cell values by the definitions, one predicate per row.
    fn brute(year: i32, facts: &[RequestFacts], row: Row, column: Column) -> u64 {
        let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
        let dec31 = NaiveDate::from_ymd_opt(year, 12, 31).unwrap();
        let in_year = |day: NaiveDate| jan1 <= day && day <= dec31;
        facts
            .iter()
            .filter(|f| match column {
                Column::Applicant(t) => f.applicant == t,
                Column::Total => true,
            })
            .filter(|f| match row {
                Row::New => in_year(f.received),
                Row::CarriedIn => {
                    f.received < jan1 && f.concluded.is_none_or(|(day, _)| day >= jan1)
                }
                Row::Result(c) => f.concluded.is_some_and(|(day, x)| x == c && in_year(day)),
                Row::ResultTotal => f.concluded.is_some_and(|(day, _)| in_year(day)),
                Row::CarriedOut => {
                    f.received <= dec31 && f.concluded.is_none_or(|(day, _)| day > dec31)
                }
            })
            .count() as u64
    }

    proptest! {
        #[test]
        fn tables_balance_and_carry_over(facts in prop::collection::vec(any_fact(), 0..120)) {
            for year in 2023..=2029 {
                let t = table_three(year, &facts);
                prop_assert_eq!(check(&t), Ok(()), "year {}", year);
                let next = table_three(year + 1, &facts);
                for column in Column::ALL {
                    prop_assert_eq!(
                        next.cell(Row::CarriedIn, column),
                        t.cell(Row::CarriedOut, column)
                    );
                    for row in Row::ALL {
                        prop_assert_eq!(
                            t.cell(row, column),
                            brute(year, &facts, row, column),
                            "{} {} {}", year, row.path(), column.label()
                        );
                    }
                }
            }
            // Every request is new in exactly one year, and concluded in at
            // most one.
            let years: Vec<TableThree> = (2024..=2030).map(|y| table_three(y, &facts)).collect();
            let new: u64 = years.iter().map(|t| t.cell(Row::New, Column::Total)).sum();
            prop_assert_eq!(new, facts.len() as u64);
            let done: u64 = years.iter().map(|t| t.cell(Row::ResultTotal, Column::Total)).sum();
            prop_assert_eq!(done, facts.iter().filter(|f| f.concluded.is_some()).count() as u64);
        }

        #[test]
        fn table_four_counts(
            appeals in prop::collection::vec(
                (0..3usize, 0..4usize, 0i64..1461).prop_map(|(k, o, offset)| AppealFacts {
                    kind: AppealKind::ALL[k],
                    outcome: AppealOutcome::ALL[o],
                    filed: d("2024-01-01") + chrono::Duration::days(offset),
                }),
                0..60,
            )
        ) {
            let mut total = 0;
            for year in 2024..=2027 {
                let t = table_four(year, &appeals);
                prop_assert_eq!(check_four(&t), Ok(()));
                for kind in AppealKind::ALL {
                    for outcome in AppealOutcome::ALL {
                        let expected = appeals
                            .iter()
                            .filter(|a| a.kind == kind && a.outcome == outcome && a.filed.year() == year)
                            .count() as u64;
                        prop_assert_eq!(t.cell(kind, OutcomeColumn::Outcome(outcome)), expected);
                    }
                    total += t.cell(kind, OutcomeColumn::Total);
                }
            }
            prop_assert_eq!(total, appeals.len() as u64);
        }
    }
}
