//! Group commit: one writer owns a node's `JournaledCore` and many callers hand it commands.
//! Whatever has queued up while the last batch was being made durable goes into the next one, so
//! a disk that can fsync a thousand times a second can acknowledge many thousand commands a
//! second, each still durable before its caller hears the answer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::sync::{Mutex, PoisonError};

use facepay_domain::Timestamp;

use crate::command::{Command, Reply};
use crate::engine::CoreError;
use crate::journal::{Journal, JournalError, JournaledCore};

/// The answer a caller waits for: the store failed (outcome unknown), or the core's reply.
pub type Answer = Result<Result<Reply, CoreError>, JournalError>;

/// A caller's command, with where to send the answer.
#[derive(Debug)]
pub struct Submission {
    pub command: Command,
    pub at: Timestamp,
    pub answer: Sender<Answer>,
}

/// How callers reach the writer; clone it for each caller.
#[derive(Debug, Clone)]
pub struct Submitter(SyncSender<Submission>);

impl Submitter {
    /// Hands `command` to the writer and waits until it is durable (or refused).
    pub fn submit(&self, command: Command, at: Timestamp) -> Answer {
        let (answer, answered) = std::sync::mpsc::channel();
        let gone = || JournalError::Unavailable("the writer has stopped".into());
        self.0.send(Submission { command, at, answer }).map_err(|_| gone())?;
        answered.recv().map_err(|_| gone())?
    }
}

/// A queue of at most `queue` waiting commands (callers block beyond it) and its receiving end,
/// for `write_batches`.
pub fn group_commit_queue(queue: usize) -> (Submitter, Receiver<Submission>) {
    let (sender, receiver) = sync_channel(queue);
    (Submitter(sender), receiver)
}

/// The writer's loop: takes every waiting submission (up to `max_batch`), runs them under one
/// commit, answers each, and returns when every `Submitter` is gone. The node is locked for one
/// batch at a time, so readers see it between commits. Waking the callers is left to a thread
/// of its own, so the writer starts the next batch while the last one's callers are woken one
/// by one (a wake-up is a system call, and a batch has as many callers as it has commands).
///
/// A panic while running a batch (a broken invariant in the core or a store) stops the writer:
/// the batch's callers hear `core_halted` (their commands were not acknowledged, so retrying
/// them elsewhere is safe), later callers hear that the writer stopped, and the loop returns the
/// panic's message so the node can report itself not ready and exit, never serving on as a
/// zombie whose every write fails.
pub fn write_batches<J: Journal>(
    node: &Mutex<JournaledCore<J>>,
    submissions: Receiver<Submission>,
    max_batch: usize,
) -> Result<(), String> {
    let (answered, to_answer) = std::sync::mpsc::channel::<Vec<(Sender<Answer>, Answer)>>();
    // Moved in, so the answering thread ends (and the scope can end) once the loop is done.
    std::thread::scope(move |scope| {
        scope.spawn(move || {
            for batch in to_answer {
                for (answer, said) in batch {
                    // A caller that stopped waiting is no reason to stop the others.
                    let _ = answer.send(said);
                }
            }
        });
        let answer_all = |answers: Vec<Sender<Answer>>, said: &mut dyn FnMut() -> Answer| {
            let batch = answers.into_iter().map(|answer| (answer, said())).collect();
            answered.send(batch).expect("the answering thread outlives the writer");
        };
        while let Ok(first) = submissions.recv() {
            let mut batch = vec![first];
            batch.extend(submissions.try_iter().take(max_batch.saturating_sub(1)));
            let (commands, answers): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|submission| ((submission.command, submission.at), submission.answer))
                .unzip();
            let executed = catch_unwind(AssertUnwindSafe(|| {
                node.lock().unwrap_or_else(PoisonError::into_inner).execute_all(commands)
            }));
            match executed {
                Ok(Ok(replies)) => {
                    let mut replies = replies.into_iter();
                    answer_all(answers, &mut || Ok(replies.next().expect("one reply per command")));
                }
                Ok(Err(failed)) => answer_all(answers, &mut || Err(failed.clone())),
                Err(panic) => {
                    let reason = panic_message(panic.as_ref());
                    answer_all(answers, &mut || Err(JournalError::CoreHalted(reason.clone())));
                    return Err(reason);
                }
            }
        }
        Ok(())
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_owned(),
        (_, Some(text)) => text.clone(),
        _ => "a panic without a message".to_owned(),
    }
}
