//! `facepay bench store --nodes K`: what the journal's shared write lock allows across nodes.
//! K processes of this binary, each a node with its own group-commit writer on one PostgreSQL
//! schema, share the terminals between them (terminal t pays on node t mod K); every commit
//! takes the `journal_head` row lock and first replays what the other nodes wrote. The peer is
//! the same K processes committing rows of a journal entry's size in the same batches, with no
//! lock between them. Each child reports when it is ready and starts when every one is, so the
//! wall time is that of the slowest node over the same interval.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command as Process, Stdio};
use std::thread;

use facepay_payments::{Command, JournaledCore, PaymentState, Reply, group_commit_queue, write_batches};
use facepay_store_postgres::PostgresJournal;

use crate::bench_store::{
    MAX_BATCH, StoreBenchArgs, Timed, at, config, fail, payment, time_row_batches, time_terminals, world,
};

/// One node's part, as the parent starts it in a child process.
#[derive(Debug, Clone)]
pub struct NodePart {
    pub node: usize,
    pub nodes: usize,
    pub schema: String,
    /// The raw-row peer instead of the payment core.
    pub peer: bool,
}

/// The peer's and facepay's runs over `nodes` processes, on a scratch schema of their own.
pub fn across_nodes(args: &StoreBenchArgs, url: &str, nodes: usize) -> io::Result<(Timed, Timed)> {
    let schema = format!("facepay_bench_{}_nodes", std::process::id());
    let measured = (|| {
        let mut setup = JournaledCore::open(config(), PostgresJournal::connect(url, &schema).map_err(fail)?)
            .map_err(fail)?;
        let world: Vec<_> = world(args.terminals).into_iter().map(|command| (command, at(0))).collect();
        for reply in setup.execute_all(world).map_err(fail)? {
            reply.map_err(|refused| io::Error::other(format!("the bench's world was refused: {refused}")))?;
        }
        drop(setup);
        facepay_store_postgres::probe::RawInserts::open(url, &schema).map_err(fail)?;
        let peer = in_children(args, url, &schema, nodes, true)?;
        let auth = in_children(args, url, &schema, nodes, false)?;
        Ok((peer, auth))
    })();
    facepay_store_postgres::probe::drop_schema(url, &schema).map_err(fail)?;
    measured
}

/// Starts the children, lets them go together once all are ready, and joins their figures.
fn in_children(
    args: &StoreBenchArgs,
    url: &str,
    schema: &str,
    nodes: usize,
    peer: bool,
) -> io::Result<Timed> {
    let mut children: Vec<Child> = (0..nodes)
        .map(|node| {
            let mut child = Process::new(std::env::current_exe()?);
            child
                .args(["bench", "store", "--postgres", url, "--schema", schema])
                .args(["--node", &node.to_string(), "--nodes", &nodes.to_string()])
                .args(["--terminals", &args.terminals.to_string(), "--payments", &args.payments.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped());
            if peer {
                child.arg("--peer");
            }
            child.spawn()
        })
        .collect::<io::Result<_>>()?;
    let mut readers: Vec<_> =
        children.iter_mut().map(|c| BufReader::new(c.stdout.take().expect("piped"))).collect();
    for reader in &mut readers {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(io::Error::other(format!("a node did not start: {line}")));
        }
    }
    for child in &mut children {
        writeln!(child.stdin.as_mut().expect("piped"), "go")?;
    }
    let mut joined = Timed { wall: std::time::Duration::ZERO, latencies: Vec::new(), authorized: 0 };
    for (mut child, mut reader) in children.into_iter().zip(readers) {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if !child.wait()?.success() {
            return Err(io::Error::other("a node failed"));
        }
        let part: serde_json::Value = serde_json::from_str(&line).map_err(io::Error::other)?;
        let wall = std::time::Duration::from_secs_f64(part["wall_s"].as_f64().unwrap_or(f64::NAN));
        joined.wall = joined.wall.max(wall);
        joined.authorized += part["authorized"].as_u64().unwrap_or(0) as usize;
        joined
            .latencies
            .extend(part["latencies"].as_array().into_iter().flatten().filter_map(|l| l.as_f64()));
    }
    Ok(joined)
}

/// A child's run: its node opened on the shared schema (replaying the world), then, once the
/// parent says go, its share of the terminals paying; its figures as one JSON line.
pub fn node_part(args: &StoreBenchArgs, url: &str, part: &NodePart, out: &mut dyn Write) -> io::Result<bool> {
    let mine: Vec<usize> = (part.node..args.terminals).step_by(part.nodes.max(1)).collect();
    let per_terminal = args.payments / args.terminals;
    let share = StoreBenchArgs { terminals: mine.len(), payments: per_terminal * mine.len(), ..args.clone() };
    let mut go = || -> io::Result<()> {
        writeln!(out, "ready")?;
        out.flush()?;
        io::stdin().lock().read_line(&mut String::new())?;
        Ok(())
    };
    let timed = if part.peer {
        let mut raw = facepay_store_postgres::probe::RawInserts::open(url, &part.schema).map_err(fail)?;
        go()?;
        time_row_batches(&share, move || Ok(move |rows: &[Vec<u8>]| raw.insert_batch(rows).map_err(fail)))?
    } else {
        let node = JournaledCore::open(config(), PostgresJournal::connect(url, &part.schema).map_err(fail)?)
            .map_err(fail)?;
        let (submitter, submissions) = group_commit_queue(share.terminals * 2);
        let writer =
            thread::spawn(move || write_batches(&std::sync::Mutex::new(node), submissions, MAX_BATCH));
        go()?;
        let timed = time_terminals(&share, move |local, k| {
            let terminal = mine[local];
            let id = (terminal * per_terminal + k + 1) as u128;
            let answer =
                submitter.submit(Command::StartPayment(payment(id, terminal as u128)), at(id as i64));
            matches!(answer, Ok(Ok(Reply::Payment(view))) if view.state == PaymentState::Authorized)
        })?;
        writer.join().map_err(|_| io::Error::other("the writer panicked"))?.map_err(io::Error::other)?;
        timed
    };
    let json = serde_json::json!({
        "wall_s": timed.wall.as_secs_f64(), "authorized": timed.authorized, "latencies": timed.latencies,
    });
    writeln!(out, "{json}")?;
    Ok(true)
}
