//! The review workflow: draft → submitted → approved | rejected → published
//! → (revised …) → abolished. Abolished documents stay visible, marked.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Draft,
    Submitted,
    Approved,
    Rejected,
    Published,
    Abolished,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Draft,
        State::Submitted,
        State::Approved,
        State::Rejected,
        State::Published,
        State::Abolished,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Published => "published",
            State::Abolished => "abolished",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the public may see it (published, or abolished and marked).
    pub fn is_public(self) -> bool {
        matches!(self, State::Published | State::Abolished)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Edit,
    Submit,
    Approve,
    Reject,
    Publish,
    Revise,
    Abolish,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Edit => "edit",
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Publish => "publish",
            Action::Revise => "revise",
            Action::Abolish => "abolish",
        }
    }
}

/// A step refused in the current state; the message names that state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a document that is {state}{hint}")]
pub struct TransitionError {
    pub action: &'static str,
    pub state: State,
    pub hint: &'static str,
}

/// The state after `action` from `from`, or why not.
pub fn transition(from: State, action: Action) -> Result<State, TransitionError> {
    use Action as A;
    use State as S;
    let to = match (from, action) {
        (S::Draft | S::Rejected, A::Edit) => S::Draft,
        (S::Draft | S::Rejected, A::Submit) => S::Submitted,
        (S::Submitted, A::Approve) => S::Approved,
        (S::Submitted, A::Reject) => S::Rejected,
        (S::Approved, A::Publish) => S::Published,
        (S::Published, A::Revise) => S::Published,
        (S::Published, A::Abolish) => S::Abolished,
        _ => {
            let hint = match (from, action) {
                (S::Submitted | S::Approved, A::Edit) => " (reject it first to edit)",
                (S::Draft, A::Publish | A::Approve | A::Reject) => " (submit it for review first)",
                (S::Submitted, A::Publish) => " (it needs a reviewer's approval)",
                (S::Published, A::Edit) => " (revise it instead)",
                (S::Abolished, _) => " (abolished documents stay as they are)",
                _ => "",
            };
            return Err(TransitionError {
                action: action.as_str(),
                state: from,
                hint,
            });
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action as A;
    use State as S;

    #[test]
    fn the_happy_path() {
        let mut s = S::Draft;
        for a in [A::Submit, A::Approve, A::Publish, A::Revise, A::Abolish] {
            s = transition(s, a).unwrap();
        }
        assert_eq!(s, S::Abolished);
    }

    #[test]
    fn rejection_goes_back_to_editing() {
        let s = transition(S::Submitted, A::Reject).unwrap();
        assert_eq!(s, S::Rejected);
        assert_eq!(transition(s, A::Edit).unwrap(), S::Draft);
        assert_eq!(transition(s, A::Submit).unwrap(), S::Submitted);
    }

    #[test]
    fn every_other_pair_is_refused_naming_the_state() {
        let allowed = [
            (S::Draft, A::Edit),
            (S::Rejected, A::Edit),
            (S::Draft, A::Submit),
            (S::Rejected, A::Submit),
            (S::Submitted, A::Approve),
            (S::Submitted, A::Reject),
            (S::Approved, A::Publish),
            (S::Published, A::Revise),
            (S::Published, A::Abolish),
        ];
        let actions = [
            A::Edit,
            A::Submit,
            A::Approve,
            A::Reject,
            A::Publish,
            A::Revise,
            A::Abolish,
        ];
        for s in S::ALL {
            for a in actions {
                let r = transition(s, a);
                if allowed.contains(&(s, a)) {
                    assert!(r.is_ok(), "{s} {a:?}");
                } else {
                    let e = r.unwrap_err();
                    assert!(e.to_string().contains(s.as_str()), "{e}");
                }
            }
        }
    }

    #[test]
    fn publishing_a_draft_says_what_to_do() {
        let e = transition(S::Draft, A::Publish).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot publish a document that is draft (submit it for review first)"
        );
    }

    #[test]
    fn states_round_trip() {
        for s in S::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("deleted"), None);
    }
}
