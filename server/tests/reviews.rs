//! The human review workflow over the real database (SQLite and
//! PostgreSQL): approve, modify, reject and expiry with their effects on
//! the session, the task, the ledger and the logs; exactly-once under
//! concurrent and repeated decisions and across a restart; and the REST
//! routes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod band_rig;
mod common;

use std::collections::BTreeMap;

use band_rig::*;
use chrono::Utc;
use domain::band::{AgentRole, ProviderKind};
use domain::reviews::{Decision, InterventionFilter, InterventionType, NextAction, ReviewError};
use domain::sessions::{ReviewKind, ReviewStatus, SessionStatus};
use domain::tasks::TaskStatus;
use serde_json::json;
use uuid::Uuid;

/// A coder that is unsure of itself: the gate stops the band.
fn unsure(kind: ProviderKind) -> std::sync::Arc<Scripted> {
    Scripted::new(kind, |role| match role {
        AgentRole::Coder => Step::Answer("fn login() { todo!() }\nConfidence: 0.3"),
        other => Step::Answer(good_answer(other)),
    })
}

fn approve() -> Decision {
    Decision::Approve { comment: None }
}

async fn open_review(rig: &Rig, session: Uuid) -> Uuid {
    rig.reviews
        .open_review_of(rig.user, session)
        .await
        .unwrap()
        .id
}

async fn count(rig: &Rig, table: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = rig
        .app
        .db
        .query_one(Statement::from_string(
            rig.app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn task_status(rig: &Rig) -> TaskStatus {
    rig.app
        .services
        .tasks
        .get(rig.user, rig.task)
        .await
        .unwrap()
        .status
}

backends!(
    approving_at_the_gate_synthesises_and_final_approval_completes_the_task,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        assert_eq!(played.status, SessionStatus::AwaitingReview);
        let gate = open_review(&rig, played.session.id).await;

        // Opening it moves it under review, once.
        let detail = rig.reviews.open_review(rig.user, gate).await.unwrap();
        assert_eq!(detail.review.status, ReviewStatus::UnderReview);
        assert_eq!(detail.review.kind, ReviewKind::Gate);
        let roles: Vec<AgentRole> = detail.outputs.iter().map(|o| o.role).collect();
        assert_eq!(
            roles.len(),
            3,
            "the gate shows the whole first round: {roles:?}"
        );
        assert!(!roles.contains(&AgentRole::Conductor));
        let again = rig.reviews.open_review(rig.user, gate).await.unwrap();
        assert_eq!(again.output_hash, detail.output_hash);

        let decided = rig
            .reviews
            .decide(rig.user, gate, approve(), Some(&detail.output_hash))
            .await
            .unwrap();
        assert_eq!(decided.status, ReviewStatus::Approved);
        assert_eq!(decided.next_action, NextAction::Synthesis);
        assert!(!decided.replayed);
        let job = decided.job.expect("the synthesis to run");
        let reserved = rig
            .app
            .services
            .budgets
            .current(rig.user)
            .await
            .unwrap()
            .reserved_tokens;
        assert!(reserved > 0, "the synthesis is reserved with the decision");
        assert_eq!(
            rig.conductor.run(job).await.unwrap(),
            SessionStatus::AwaitingReview
        );

        let (session, calls, reviews) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::AwaitingReview);
        assert!(session.resumed_at.is_some());
        assert_eq!(calls.last().unwrap().role, AgentRole::Conductor);
        assert_eq!(reviews.len(), 2);
        assert_eq!(reviews[0].status, ReviewStatus::Approved);
        assert_eq!(reviews[1].kind, ReviewKind::FinalApproval);
        let budget = rig.app.services.budgets.current(rig.user).await.unwrap();
        assert_eq!(budget.reserved_tokens, 0, "the synthesis was settled");
        let charged: i64 = calls.iter().map(|c| c.tokens_used).sum();
        assert_eq!(budget.used_this_month, charged);

        let last = reviews[1].id;
        let final_detail = rig.reviews.review(rig.user, last).await.unwrap();
        assert_eq!(final_detail.outputs.len(), 1);
        assert_eq!(final_detail.outputs[0].role, AgentRole::Conductor);
        assert_eq!(task_status(&rig).await, TaskStatus::Todo);
        let done = rig
            .reviews
            .decide(rig.user, last, approve(), Some(&final_detail.output_hash))
            .await
            .unwrap();
        assert_eq!(done.next_action, NextAction::Completed);
        assert!(done.job.is_none());
        let (session, ..) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Completed);
        assert!(session.completed_at.is_some());
        assert_eq!(
            task_status(&rig).await,
            TaskStatus::Todo,
            "the card moves by reaction (tests/reactions.rs), not in the decision"
        );

        let types = event_types(&rig, played.session.id).await;
        let tail: Vec<&str> = types
            .iter()
            .map(String::as_str)
            .skip_while(|t| *t != "HumanReviewStarted")
            .collect();
        assert_eq!(
            tail,
            [
                "HumanReviewStarted",
                "HumanApproved",
                "AISessionStatusChanged",
                "AgentInvoked",
                "AISessionStatusChanged",
                "HumanReviewRequired",
                "HumanApproved",
                "AISessionStatusChanged",
            ]
        );
        let moved = common_events(&rig, "TaskMoved").await;
        assert_eq!(moved, 0);
        let (log, stats) = rig
            .reviews
            .interventions(rig.user, &InterventionFilter::default(), 50)
            .await
            .unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|p| p.kind == InterventionType::Approval));
        // The gate's intervention is about the output that stopped it.
        let gate_point = log
            .iter()
            .find(|p| p.session_id == session.id && p.role != AgentRole::Conductor)
            .unwrap();
        assert_eq!(gate_point.role, AgentRole::Coder);
        assert!(gate_point.confidence < 0.85);
        assert_eq!(gate_point.suggestion.len(), 3);
        assert_eq!(stats.per_agent.len(), 1);
        assert_eq!(stats.per_agent[0].total, 2);
    }
);

async fn common_events(rig: &Rig, kind: &str) -> usize {
    server::outbound::db::read_events(&rig.app.db, rig.user)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == kind)
        .count()
}

backends!(
    a_modification_feeds_the_human_edit_to_the_synthesis,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let edit = "pub fn login(email: &str, password: &str) -> bool { verify(email, password) }";
        let modify = Decision::Modify {
            outputs: BTreeMap::from([(AgentRole::Coder, edit.to_owned())]),
            comment: Some("use the real verifier".into()),
        };
        let decided = rig
            .reviews
            .decide(rig.user, gate, modify.clone(), None)
            .await
            .unwrap();
        assert_eq!(decided.status, ReviewStatus::Modified);
        rig.conductor.run(decided.job.unwrap()).await.unwrap();
        let (_, calls, _) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        let synthesis = calls.last().unwrap();
        assert_eq!(synthesis.role, AgentRole::Conductor);
        assert!(
            synthesis.prompt.contains(edit),
            "the conductor works from the human's version"
        );
        assert!(!synthesis.prompt.contains("todo!()"));

        let detail = rig.reviews.review(rig.user, gate).await.unwrap();
        assert_eq!(detail.decision.unwrap().decision, modify);
        let (log, _) = rig
            .reviews
            .interventions(
                rig.user,
                &InterventionFilter {
                    kind: Some(InterventionType::Modification),
                    agent: None,
                    session_id: None,
                },
                10,
            )
            .await
            .unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].context.modifications[&AgentRole::Coder], edit);
        assert_eq!(log[0].reason, "use the real verifier");

        // An edit of an output the review does not show is refused.
        let final_review = open_review(&rig, played.session.id).await;
        let wrong = Decision::Modify {
            outputs: BTreeMap::from([(AgentRole::Designer, "x".to_owned())]),
            comment: None,
        };
        let e = rig
            .reviews
            .decide(rig.user, final_review, wrong, None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::InvalidField(ref f) if f.field == "modifications"));
    }
);

backends!(
    a_rejection_needs_a_reason_and_stops_the_session,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let e = rig
            .reviews
            .decide(
                rig.user,
                gate,
                Decision::Reject { reason: " ".into() },
                None,
            )
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::InvalidField(ref f) if f.field == "reason"));
        assert_eq!(count(&rig, "human_reviews").await, 0, "nothing was written");

        let reason = "it leaves the password unchecked";
        let decided = rig
            .reviews
            .decide(
                rig.user,
                gate,
                Decision::Reject {
                    reason: reason.into(),
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(decided.next_action, NextAction::Stopped);
        assert!(decided.job.is_none());
        let (session, ..) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Failed);
        assert!(session.failure.unwrap().contains(reason));
        assert_eq!(task_status(&rig).await, TaskStatus::Todo);
        let (log, stats) = rig
            .reviews
            .interventions(rig.user, &InterventionFilter::default(), 10)
            .await
            .unwrap();
        assert_eq!(log[0].kind, InterventionType::Rejection);
        assert_eq!(log[0].reason, reason);
        assert_eq!(stats.per_agent[0].rejected, 1);
        assert_eq!(common_events(&rig, "HumanRejected").await, 1);

        // A different decision afterwards is refused; nothing changes.
        let e = rig
            .reviews
            .decide(rig.user, gate, approve(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(
            e,
            ReviewError::AlreadyDecided {
                status: ReviewStatus::Rejected
            }
        ));
    }
);

backends!(
    concurrent_and_repeated_decisions_take_effect_once,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let hash = rig
            .reviews
            .review(rig.user, gate)
            .await
            .unwrap()
            .output_hash;

        // Twelve tabs approve at once, two others reject.
        let mut tasks = Vec::new();
        for i in 0..14 {
            let conductor = rig.reviews.clone();
            let (user, hash) = (rig.user, hash.clone());
            tasks.push(tokio::spawn(async move {
                let decision = if i % 7 == 3 {
                    Decision::Reject {
                        reason: "no".into(),
                    }
                } else {
                    approve()
                };
                conductor.decide(user, gate, decision, Some(&hash)).await
            }));
        }
        let mut effects = 0;
        let mut jobs = Vec::new();
        let mut outcomes = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(d) => {
                    if !d.replayed {
                        effects += 1;
                    }
                    outcomes.push(d.status);
                    jobs.extend(d.job);
                }
                Err(ReviewError::AlreadyDecided { .. }) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(effects, 1, "exactly one decision took effect");
        let winner = outcomes[0];
        assert!(outcomes.iter().all(|s| *s == winner), "{outcomes:?}");
        assert_eq!(
            jobs.len(),
            usize::from(winner == ReviewStatus::Approved),
            "at most one synthesis is set going"
        );
        assert_eq!(count(&rig, "human_reviews").await, 1);
        assert_eq!(count(&rig, "human_intervention_points").await, 1);
        let decisions =
            common_events(&rig, "HumanApproved").await + common_events(&rig, "HumanRejected").await;
        assert_eq!(decisions, 1);

        // A retry after a timeout: the same decision is a replay.
        let same = if winner == ReviewStatus::Approved {
            approve()
        } else {
            Decision::Reject {
                reason: "no".into(),
            }
        };
        let replay = rig
            .reviews
            .decide(rig.user, gate, same, Some(&hash))
            .await
            .unwrap();
        assert!(replay.replayed && replay.job.is_none());
        assert_eq!(count(&rig, "human_reviews").await, 1);
        for job in jobs {
            rig.conductor.run(job).await.unwrap();
        }
    }
);

backends!(
    a_decision_on_other_outputs_than_shown_is_refused,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let e = rig
            .reviews
            .decide(rig.user, gate, approve(), Some("0".repeat(64).as_str()))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::Stale));
        let detail = rig.reviews.review(rig.user, gate).await.unwrap();
        assert!(detail.review.status.is_open());
        assert!(detail.decision.is_none());
        // Someone else's review does not exist for this user.
        let e = rig
            .reviews
            .decide(Uuid::new_v4(), gate, approve(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::NotFound));
    }
);

backends!(
    reviews_expire_unanswered_and_fail_their_sessions,
    |url: String| async move {
        let mut rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        rig.conductor.settings.review_ttl = chrono::Duration::minutes(5);
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let now = Utc::now();
        assert_eq!(rig.reviews.expire_overdue(now).await.unwrap(), 0);
        let later = now + chrono::Duration::minutes(6);
        assert_eq!(rig.reviews.expire_overdue(later).await.unwrap(), 1);
        assert_eq!(rig.reviews.expire_overdue(later).await.unwrap(), 0);
        let detail = rig.reviews.review(rig.user, gate).await.unwrap();
        assert_eq!(detail.review.status, ReviewStatus::Expired);
        assert_eq!(detail.session.status, SessionStatus::Failed);
        assert!(detail.session.failure.unwrap().contains("expired"));
        assert_eq!(common_events(&rig, "ReviewExpired").await, 1);
        let e = rig
            .reviews
            .decide(rig.user, gate, approve(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::Expired));
        assert!(rig.reviews.open_reviews(rig.user).await.unwrap().is_empty());

        // A review already past its time expires when someone decides.
        rig.conductor.settings.review_ttl = chrono::Duration::zero();
        let second = play(&rig).await;
        let review = open_review(&rig, second.session.id).await;
        let e = rig
            .reviews
            .decide(rig.user, review, approve(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::Expired));
        let detail = rig.reviews.review(rig.user, review).await.unwrap();
        assert_eq!(detail.review.status, ReviewStatus::Expired);
    }
);

backends!(
    a_restart_between_decision_and_synthesis_fails_the_session_once,
    |url: String| async move {
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        let decided = rig
            .reviews
            .decide(rig.user, gate, approve(), None)
            .await
            .unwrap();
        // The server stops before the synthesis runs: the job is lost.
        drop(decided.job);
        let budgets = &rig.app.services.budgets;
        assert!(budgets.current(rig.user).await.unwrap().reserved_tokens > 0);

        // Recently resumed: a live run could still be playing it.
        let now = Utc::now();
        assert_eq!(rig.conductor.fail_abandoned(now).await.unwrap(), 0);
        // A retry of the decision does not set a second synthesis going.
        let retry = rig
            .reviews
            .decide(rig.user, gate, approve(), None)
            .await
            .unwrap();
        assert!(retry.replayed && retry.job.is_none());
        let later = now + rig.conductor.longest_run() + chrono::Duration::seconds(1);
        assert_eq!(rig.conductor.fail_abandoned(later).await.unwrap(), 1);
        let (session, calls, _) = rig
            .conductor
            .session(rig.user, played.session.id)
            .await
            .unwrap();
        assert_eq!(session.status, SessionStatus::Failed);
        assert!(!calls.iter().any(|c| c.role == AgentRole::Conductor));
        assert_eq!(
            budgets.current(rig.user).await.unwrap().reserved_tokens,
            0,
            "the synthesis's reservation was returned"
        );
    }
);

backends!(
    an_approval_the_month_cannot_pay_for_leaves_the_review_open,
    |url: String| async move {
        use sea_orm::{ConnectionTrait, Statement};
        let rig = rig(&url, vec![unsure(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let gate = open_review(&rig, played.session.id).await;
        rig.app
            .db
            .execute(Statement::from_string(
                rig.app.db.get_database_backend(),
                "UPDATE token_budgets SET used_this_month = monthly_limit - 10",
            ))
            .await
            .unwrap();
        let e = rig
            .reviews
            .decide(rig.user, gate, approve(), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(e, ReviewError::Budget(_)), "{e:?}");
        let detail = rig.reviews.review(rig.user, gate).await.unwrap();
        assert!(detail.review.status.is_open());
        assert_eq!(detail.session.status, SessionStatus::AwaitingReview);
        assert_eq!(count(&rig, "human_reviews").await, 0);
        // Rejecting costs nothing and still works.
        rig.reviews
            .decide(
                rig.user,
                gate,
                Decision::Reject {
                    reason: "too expensive".into(),
                },
                None,
            )
            .await
            .unwrap();
    }
);

backends!(
    the_rest_routes_list_show_and_decide,
    |url: String| async move {
        let mut rig = rig(&url, vec![Scripted::good(ProviderKind::Claude)]).await;
        let played = play(&rig).await;
        let c = &mut rig.client;

        let pending = c.get("/api/v1/reviews/pending").await;
        assert_eq!(pending.status, 200, "{}", pending.text);
        let list = pending.body["reviews"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["kind"], "final_approval");
        let id = list[0]["id"].as_str().unwrap().to_owned();

        let shown = c.get(&format!("/api/v1/reviews/{id}")).await;
        assert_eq!(shown.status, 200);
        assert_eq!(shown.body["outputs"].as_array().unwrap().len(), 1);
        assert_eq!(shown.body["outputs"][0]["role"], "conductor");
        let hash = shown.body["output_hash"].as_str().unwrap().to_owned();

        let stale = c
            .post(
                &format!("/api/v1/reviews/{id}/approve"),
                json!({"output_hash": "00"}),
            )
            .await;
        assert_eq!(stale.status, 409);
        assert_eq!(stale.code(), "stale_review");
        let no_reason = c
            .post(
                &format!("/api/v1/ai/session/{}/reject", played.session.id),
                json!({"reason": ""}),
            )
            .await;
        assert_eq!(no_reason.status, 422);
        assert_eq!(no_reason.field(), "reason");

        let body = json!({
            "modifications": {"conductor": "Ship src/login.rs inside the card."},
            "comment": "tightened",
            "output_hash": hash,
        });
        let approved = c
            .post(&format!("/api/v1/reviews/{id}/approve"), body.clone())
            .await;
        assert_eq!(approved.status, 200, "{}", approved.text);
        assert_eq!(approved.body["status"], "modified");
        assert_eq!(approved.body["next_action"], "completed");
        assert_eq!(approved.body["replayed"], false);
        assert_eq!(
            approved.body["session_id"],
            played.session.id.to_string().as_str()
        );
        let again = c.post(&format!("/api/v1/reviews/{id}/approve"), body).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body["replayed"], true);
        let other = c
            .post(
                &format!("/api/v1/reviews/{id}/reject"),
                json!({"reason": "changed my mind"}),
            )
            .await;
        assert_eq!(other.status, 409);
        assert_eq!(other.code(), "already_decided");
        // The session has no open review left.
        let none = c
            .post(
                &format!("/api/v1/ai/session/{}/approve", played.session.id),
                json!({}),
            )
            .await;
        assert_eq!(none.status, 404);

        let log = c
            .get("/api/v1/interventions?type=modification&agent=claude")
            .await;
        assert_eq!(log.status, 200, "{}", log.text);
        assert_eq!(log.body["interventions"].as_array().unwrap().len(), 1);
        assert_eq!(log.body["stats"]["per_agent"][0]["modified"], 1);
        // Bad parameters are refused in the API's error shape, naming them.
        let bad = c.get("/api/v1/interventions?type=whim").await;
        assert_eq!(bad.status, 422, "{}", bad.text);
        assert_eq!(bad.field(), "type", "{}", bad.text);
        for query in ["limit=0", "limit=1001", "limit=many"] {
            let bad = c.get(&format!("/api/v1/interventions?{query}")).await;
            assert_eq!(bad.status, 422, "{query}: {}", bad.text);
            assert_eq!(bad.field(), "limit", "{query}: {}", bad.text);
        }
        assert_eq!(
            c.get("/api/v1/reviews/pending").await.body["reviews"],
            json!([])
        );

        let mut stranger = rig.app.client();
        stranger.sign_up("stranger@example.com").await;
        assert_eq!(
            stranger.get(&format!("/api/v1/reviews/{id}")).await.status,
            404
        );
        let anonymous = rig.app.client().get("/api/v1/reviews/pending").await;
        assert_eq!(anonymous.status, 401);
    }
);
