//! The closed vocabularies of disclosure on request (RULES §2): applicant
//! types, channels, reply categories with their exact annual-report wording,
//! and appeals.
//!
//! Every vocabulary has a stable snake_case `code()` (stored, sent over the
//! wire, never translated) and the exact Chinese `label()` the annual report
//! prints. Labels are legal text: a changed character changes the report, so
//! tests pin every one of them.

/// A code or label that names no member of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of: {expected}")]
pub struct UnknownCode {
    pub what: &'static str,
    pub value: String,
    /// The valid codes, comma-separated, so the message alone fixes the input.
    pub expected: String,
}

impl UnknownCode {
    pub(crate) fn new<'a>(
        what: &'static str,
        value: &str,
        codes: impl Iterator<Item = &'a str>,
    ) -> Self {
        Self {
            what,
            value: value.to_owned(),
            expected: codes.collect::<Vec<_>>().join(", "),
        }
    }
}

/// Declares a closed vocabulary: the enum, `ALL` in declaration order,
/// `code()`, `label()`, `parse()` (code or label), `Display` (the label) and
/// serde as the code, so storage never depends on variant names.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, $label:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every member, in the order of the annual report.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// Stable snake_case code, for storage and the wire.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code,)+ }
            }

            /// Exact Chinese wording.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// Accepts the code or the exact label (surrounding blanks ignored).
            pub fn parse(code_or_label: &str) -> Result<Self, $crate::domain::categories::UnknownCode> {
                let s = code_or_label.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == s || v.label() == s)
                    .ok_or_else(|| $crate::domain::categories::UnknownCode::new(
                        $what,
                        s,
                        Self::ALL.iter().map(|v| v.code()),
                    ))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.label())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// Who asks (RULES §2): a natural person, or a legal person or other
    /// organization in one of five kinds. The order is the column order of
    /// annual table 三.
    pub enum ApplicantType("applicant type") {
        NaturalPerson = "natural_person", "自然人";
        Commercial = "commercial", "商业企业";
        Research = "research", "科研机构";
        PublicInterest = "public_interest", "社会公益组织";
        LegalService = "legal_service", "法律服务机构";
        OtherOrg = "other_org", "其他";
    }
}

vocabulary! {
    /// How a request arrived. It decides the day of receipt (Art. 31): in
    /// person the day submitted, by post the day signed for, online or by fax
    /// the day both sides confirm. The caller supplies that day; the channel
    /// is kept so the choice can be audited.
    pub enum Channel("channel") {
        InPerson = "in_person", "当面提交";
        Post = "post", "邮寄";
        Online = "online", "网络";
        Fax = "fax", "传真";
    }
}

vocabulary! {
    /// The six groups of results in annual table 三.
    pub enum ReplyGroup("reply group") {
        Disclosed = "disclosed", "予以公开";
        Partly = "partly", "部分公开";
        Withheld = "withheld", "不予公开";
        CannotProvide = "cannot_provide", "无法提供";
        NotProcessed = "not_processed", "不予处理";
        Other = "other", "其他处理";
    }
}

vocabulary! {
    /// How a request was concluded: the 21 leaf rows of annual table 三, in
    /// row order. Labels are the template's wording (RULES §2, §5).
    pub enum ReplyCategory("reply category") {
        Disclosed = "disclosed", "予以公开";
        /// Counted only here even when some parts were withheld.
        Partly = "partly", "部分公开";
        WithheldStateSecret = "withheld.state_secret", "属于国家秘密";
        WithheldProhibitedByLaw = "withheld.prohibited_by_law", "其他法律行政法规禁止公开";
        WithheldSecurityStability = "withheld.security_stability", "危及\"三安全一稳定\"";
        WithheldThirdPartyRights = "withheld.third_party_rights", "保护第三方合法权益";
        WithheldInternalAffairs = "withheld.internal_affairs", "属于三类内部事务信息";
        WithheldProcessInfo = "withheld.process_info", "属于四类过程性信息";
        WithheldEnforcementFile = "withheld.enforcement_file", "属于行政执法案卷";
        WithheldAdministrativeQuery = "withheld.administrative_query", "属于行政查询事项";
        NotHeld = "cannot_provide.not_held", "本机关不掌握相关政府信息";
        NeedsCreation = "cannot_provide.needs_creation", "没有现成信息需要另行制作";
        UnclearAfterCorrection = "cannot_provide.unclear_after_correction", "补正后申请内容仍不明确";
        Petition = "not_processed.petition", "信访举报投诉类申请";
        Repeated = "not_processed.repeated", "重复申请";
        Publication = "not_processed.publication", "要求提供公开出版物";
        Excessive = "not_processed.excessive", "无正当理由大量反复申请";
        ConfirmOrReissue = "not_processed.confirm_or_reissue", "要求行政机关确认或重新出具已获取信息";
        CorrectionOverdue = "other.correction_overdue", "申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请";
        FeeUnpaid = "other.fee_unpaid", "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请";
        Other = "other.other", "其他";
    }
}

impl ReplyCategory {
    pub fn group(self) -> ReplyGroup {
        use ReplyCategory as C;
        match self {
            C::Disclosed => ReplyGroup::Disclosed,
            C::Partly => ReplyGroup::Partly,
            C::WithheldStateSecret
            | C::WithheldProhibitedByLaw
            | C::WithheldSecurityStability
            | C::WithheldThirdPartyRights
            | C::WithheldInternalAffairs
            | C::WithheldProcessInfo
            | C::WithheldEnforcementFile
            | C::WithheldAdministrativeQuery => ReplyGroup::Withheld,
            C::NotHeld | C::NeedsCreation | C::UnclearAfterCorrection => ReplyGroup::CannotProvide,
            C::Petition | C::Repeated | C::Publication | C::Excessive | C::ConfirmOrReissue => {
                ReplyGroup::NotProcessed
            }
            C::CorrectionOverdue | C::FeeUnpaid | C::Other => ReplyGroup::Other,
        }
    }

    /// Whether the reply must state its legal reason (Art. 36): withheld and
    /// refused replies, and a partial disclosure for the part withheld.
    pub fn needs_legal_basis(self) -> bool {
        matches!(
            self.group(),
            ReplyGroup::Withheld | ReplyGroup::NotProcessed | ReplyGroup::Partly
        )
    }
}

/// Upper bounds on reply texts, in characters: enough for any real notice,
/// small enough that a pasted document is caught before it is stored.
pub const MAX_LEGAL_BASIS_CHARS: usize = 2_000;
pub const MAX_RESPONSIBLE_BODY_CHARS: usize = 200;
pub const MAX_REPLY_TEXT_CHARS: usize = 50_000;

/// The decision sent to the applicant (告知书).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    pub category: ReplyCategory,
    /// The article(s) relied on; required where [`ReplyCategory::needs_legal_basis`].
    #[serde(default)]
    pub legal_basis: String,
    /// For 本机关不掌握相关政府信息: the body that holds the information, when
    /// known (Art. 36(5)). `None` when unknown.
    #[serde(default)]
    pub responsible_body: Option<String>,
    /// The notice itself.
    pub text: String,
}

/// A rule a value breaks, naming the field so a form can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct FieldError {
    pub field: &'static str,
    pub rule: String,
}

impl FieldError {
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn too_long(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    let n = s.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("at most {max} characters, got {n}"),
        ));
    }
    Ok(())
}

/// Checks a reply before it is sent (RULES §2, Art. 36).
pub fn validate_reply(reply: &Reply) -> Result<(), FieldError> {
    let category = reply.category;
    if is_blank(&reply.text) {
        return Err(FieldError::new(
            "reply.text",
            "must not be empty: the applicant is told the decision in writing",
        ));
    }
    too_long("reply.text", &reply.text, MAX_REPLY_TEXT_CHARS)?;
    if category.needs_legal_basis() && is_blank(&reply.legal_basis) {
        let why = match category.group() {
            ReplyGroup::Partly => {
                "a partial disclosure must state the legal basis for the part withheld"
            }
            ReplyGroup::NotProcessed => "a refusal to process must state its legal reason",
            _ => "a withheld reply must state its legal reason",
        };
        return Err(FieldError::new(
            "reply.legal_basis",
            format!("{why} ({})", category.label()),
        ));
    }
    too_long(
        "reply.legal_basis",
        &reply.legal_basis,
        MAX_LEGAL_BASIS_CHARS,
    )?;
    if let Some(body) = &reply.responsible_body {
        if category != ReplyCategory::NotHeld {
            return Err(FieldError::new(
                "reply.responsible_body",
                format!(
                    "only a {} reply names the responsible body, not {}",
                    ReplyCategory::NotHeld.label(),
                    category.label()
                ),
            ));
        }
        if is_blank(body) {
            return Err(FieldError::new(
                "reply.responsible_body",
                "when given, must name the body; leave it out when unknown",
            ));
        }
        too_long("reply.responsible_body", body, MAX_RESPONSIBLE_BODY_CHARS)?;
    }
    Ok(())
}

vocabulary! {
    /// The three appeal routes of annual table 四, in column order.
    pub enum AppealKind("appeal kind") {
        Reconsideration = "reconsideration", "行政复议";
        LitigationDirect = "litigation_direct", "行政诉讼·未经复议直接起诉";
        LitigationAfterReconsideration = "litigation_after_reconsideration", "行政诉讼·复议后起诉";
    }
}

vocabulary! {
    /// Outcomes of an appeal, in the column order of annual table 四.
    pub enum AppealOutcome("appeal outcome") {
        Upheld = "upheld", "结果维持";
        Corrected = "corrected", "结果纠正";
        Other = "other", "其他结果";
        Pending = "pending", "尚未审结";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applicant_types_are_the_table_columns() {
        let labels: Vec<_> = ApplicantType::ALL.iter().map(|t| t.label()).collect();
        assert_eq!(
            labels,
            [
                "自然人",
                "商业企业",
                "科研机构",
                "社会公益组织",
                "法律服务机构",
                "其他"
            ]
        );
        let codes: Vec<_> = ApplicantType::ALL.iter().map(|t| t.code()).collect();
        assert_eq!(
            codes,
            [
                "natural_person",
                "commercial",
                "research",
                "public_interest",
                "legal_service",
                "other_org"
            ]
        );
    }

    #[test]
    fn parse_accepts_code_and_label_and_names_the_choices() {
        for t in ApplicantType::ALL {
            assert_eq!(ApplicantType::parse(t.code()), Ok(t));
            assert_eq!(ApplicantType::parse(t.label()), Ok(t));
            assert_eq!(ApplicantType::parse(&format!(" {} ", t.code())), Ok(t));
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.code()), Ok(c));
            assert_eq!(Channel::parse(c.label()), Ok(c));
        }
        for k in AppealKind::ALL {
            assert_eq!(AppealKind::parse(k.code()), Ok(k));
            assert_eq!(AppealKind::parse(k.label()), Ok(k));
        }
        for o in AppealOutcome::ALL {
            assert_eq!(AppealOutcome::parse(o.code()), Ok(o));
            assert_eq!(AppealOutcome::parse(o.label()), Ok(o));
        }
        for c in ReplyCategory::ALL {
            assert_eq!(ReplyCategory::parse(c.code()), Ok(c));
            assert_eq!(ReplyCategory::parse(c.label()), Ok(c));
        }
        for g in ReplyGroup::ALL {
            assert_eq!(ReplyGroup::parse(g.code()), Ok(g));
        }
        let err = ApplicantType::parse("person").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown applicant type \"person\"; expected one of: natural_person, commercial, \
             research, public_interest, legal_service, other_org"
        );
        assert!(ReplyCategory::parse("").is_err());
        assert!(ReplyCategory::parse("Disclosed").is_err());
        assert!(Channel::parse("email").is_err());
        assert!(AppealOutcome::parse("维持").is_err());
    }

    #[test]
    fn codes_and_labels_are_unique() {
        fn unique<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) {
            let mut seen = std::collections::HashSet::new();
            for &x in all {
                assert!(seen.insert(f(x)), "duplicate {}", f(x));
            }
        }
        unique(&ReplyCategory::ALL, ReplyCategory::code);
        unique(&ReplyCategory::ALL, ReplyCategory::label);
        unique(&ApplicantType::ALL, ApplicantType::code);
        unique(&ApplicantType::ALL, ApplicantType::label);
        unique(&Channel::ALL, Channel::code);
        unique(&AppealKind::ALL, AppealKind::code);
        unique(&AppealOutcome::ALL, AppealOutcome::code);
        unique(&ReplyGroup::ALL, ReplyGroup::code);
        for c in ReplyCategory::ALL {
            let code = c.code();
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'),
                "{code}"
            );
        }
    }

    #[test]
    fn reply_categories_are_the_21_rows_in_order_with_exact_wording() {
        let rows: Vec<(&str, &str)> = ReplyCategory::ALL
            .iter()
            .map(|c| (c.group().label(), c.label()))
            .collect();
        let expected = [
            ("予以公开", "予以公开"),
            ("部分公开", "部分公开"),
            ("不予公开", "属于国家秘密"),
            ("不予公开", "其他法律行政法规禁止公开"),
            ("不予公开", "危及\"三安全一稳定\""),
            ("不予公开", "保护第三方合法权益"),
            ("不予公开", "属于三类内部事务信息"),
            ("不予公开", "属于四类过程性信息"),
            ("不予公开", "属于行政执法案卷"),
            ("不予公开", "属于行政查询事项"),
            ("无法提供", "本机关不掌握相关政府信息"),
            ("无法提供", "没有现成信息需要另行制作"),
            ("无法提供", "补正后申请内容仍不明确"),
            ("不予处理", "信访举报投诉类申请"),
            ("不予处理", "重复申请"),
            ("不予处理", "要求提供公开出版物"),
            ("不予处理", "无正当理由大量反复申请"),
            ("不予处理", "要求行政机关确认或重新出具已获取信息"),
            (
                "其他处理",
                "申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
            ),
            (
                "其他处理",
                "申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
            ),
            ("其他处理", "其他"),
        ];
        assert_eq!(rows, expected);
        // The group of each code is its prefix, so codes sort into their rows.
        for c in ReplyCategory::ALL {
            let prefix = c.code().split('.').next().unwrap_or_default();
            assert_eq!(prefix, c.group().code(), "{}", c.code());
        }
        // Groups are contiguous and in table order.
        let mut groups: Vec<ReplyGroup> = ReplyCategory::ALL.iter().map(|c| c.group()).collect();
        groups.dedup();
        assert_eq!(groups, ReplyGroup::ALL);
    }

    #[test]
    fn appeal_labels() {
        let kinds: Vec<_> = AppealKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(
            kinds,
            [
                "行政复议",
                "行政诉讼·未经复议直接起诉",
                "行政诉讼·复议后起诉"
            ]
        );
        let outcomes: Vec<_> = AppealOutcome::ALL.iter().map(|o| o.label()).collect();
        assert_eq!(outcomes, ["结果维持", "结果纠正", "其他结果", "尚未审结"]);
    }

    #[test]
    fn serde_uses_codes() {
        let json = serde_json::to_string(&ReplyCategory::WithheldStateSecret).unwrap();
        assert_eq!(json, "\"withheld.state_secret\"");
        let back: ReplyCategory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ReplyCategory::WithheldStateSecret);
        let err = serde_json::from_str::<ApplicantType>("\"nobody\"").unwrap_err();
        assert!(err.to_string().contains("unknown applicant type"), "{err}");
        assert_eq!(ApplicantType::Research.to_string(), "科研机构");
    }

    fn reply(category: ReplyCategory) -> Reply {
        Reply {
            category,
            legal_basis: String::new(),
            responsible_body: None,
            text: "经审查，现告知如下。".into(),
        }
    }

    #[test]
    fn legal_basis_is_required_exactly_where_the_rules_say() {
        for c in ReplyCategory::ALL {
            let needed = matches!(
                c.group(),
                ReplyGroup::Withheld | ReplyGroup::NotProcessed | ReplyGroup::Partly
            );
            let result = validate_reply(&reply(c));
            if needed {
                let err = result.unwrap_err();
                assert_eq!(err.field, "reply.legal_basis", "{c:?}");
                assert!(err.rule.contains(c.label()), "{err}");
            } else {
                assert_eq!(result, Ok(()), "{c:?}");
            }
            let mut with_basis = reply(c);
            with_basis.legal_basis = "《中华人民共和国政府信息公开条例》第十四条".into();
            assert_eq!(validate_reply(&with_basis), Ok(()), "{c:?}");
            with_basis.legal_basis = " \t".into();
            assert_eq!(validate_reply(&with_basis).is_err(), needed, "{c:?}");
        }
        let err = validate_reply(&reply(ReplyCategory::Partly)).unwrap_err();
        assert!(err.rule.contains("part withheld"), "{err}");
        let err = validate_reply(&reply(ReplyCategory::Repeated)).unwrap_err();
        assert!(err.rule.contains("refusal"), "{err}");
    }

    #[test]
    fn responsible_body_only_for_not_held_and_never_blank() {
        let mut r = reply(ReplyCategory::NotHeld);
        r.responsible_body = Some("某市自然资源局".into());
        assert_eq!(validate_reply(&r), Ok(()));
        r.responsible_body = Some("  ".into());
        assert_eq!(
            validate_reply(&r).unwrap_err().field,
            "reply.responsible_body"
        );
        r.responsible_body = Some("局".repeat(MAX_RESPONSIBLE_BODY_CHARS + 1));
        let err = validate_reply(&r).unwrap_err();
        assert_eq!(err.field, "reply.responsible_body");
        assert!(err.rule.contains("at most 200"), "{err}");
        r.responsible_body = Some("局".repeat(MAX_RESPONSIBLE_BODY_CHARS));
        assert_eq!(validate_reply(&r), Ok(()));
        let mut other = reply(ReplyCategory::Disclosed);
        other.responsible_body = Some("某局".into());
        assert_eq!(
            validate_reply(&other).unwrap_err().field,
            "reply.responsible_body"
        );
    }

    #[test]
    fn lengths_are_bounded_in_characters() {
        let mut r = reply(ReplyCategory::Disclosed);
        r.text = "字".repeat(MAX_REPLY_TEXT_CHARS);
        assert_eq!(validate_reply(&r), Ok(()));
        r.text.push('字');
        assert_eq!(validate_reply(&r).unwrap_err().field, "reply.text");
        r.text = " ".into();
        assert_eq!(validate_reply(&r).unwrap_err().field, "reply.text");
        let mut w = reply(ReplyCategory::WithheldStateSecret);
        w.legal_basis = "条".repeat(MAX_LEGAL_BASIS_CHARS + 1);
        assert_eq!(validate_reply(&w).unwrap_err().field, "reply.legal_basis");
    }
}
