//! Password hashing: argon2id PHC strings, made and checked off the async
//! runtime and never more at once than the machine can afford.
//!
//! It owns the hashing parameters, the bound on concurrent hashes (each
//! argon2id hash holds 19 MiB, so a thousand simultaneous sign-ins must
//! queue rather than exhaust memory), the "does this stored hash need
//! upgrading" rule, and the dummy verification that makes an unknown account
//! cost as much as a known one. It must not decide which passwords are
//! acceptable (`password_policy` does), count failed attempts, or touch the
//! database; and it must not implement any cryptography itself.

use std::sync::Arc;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Argon2, Block, Params};
use tokio::sync::{OnceCell, Semaphore};
use zeroize::Zeroize as _;
use zeroize::Zeroizing;

/// The password the dummy hash is made from. It is public on purpose: the
/// dummy hash exists to cost time, not to protect anything.
const DUMMY_PASSWORD: &str = "egov-id dummy password for unknown accounts";

/// Upper bounds on the cost of a stored hash we agree to verify. The stored
/// string comes from our own database, but a corrupted or planted row with
/// `m=4000000` would otherwise allocate gigabytes per sign-in attempt.
const MAX_STORED_M_KIB: u32 = 256 * 1024;
const MAX_STORED_T: u32 = 16;
const MAX_STORED_P: u32 = 16;

/// What went wrong while hashing or verifying. A wrong password is not an
/// error: it is `Verification { valid: false, .. }`.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the stored password hash is not a valid PHC string")]
    MalformedHash,
    #[error("the stored password hash uses an unsupported algorithm or parameters")]
    UnsupportedHash,
    #[error("argon2 failed")]
    Hashing(#[source] argon2::password_hash::Error),
    #[error("the password hasher no longer accepts work")]
    Closed,
    #[error("the password hashing task did not complete")]
    TaskFailed,
}

/// Salt length in bytes (the PHC recommendation, argon2's default).
const SALT_LEN: usize = 16;

/// Runs argon2 in `memory`, grown to the size the parameters need, and
/// wipes what the hash left there.
fn hash_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> Result<(), argon2::password_hash::Error> {
    let needed = argon2.params().block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::default());
    }
    let result = argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..needed]);
    for block in &mut memory[..needed] {
        block.zeroize();
    }
    Ok(result?)
}

/// A job for the hashing threads; it gets the thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The threads that run argon2: exactly as many as hashes may run at once,
/// and always the same ones, each with its own argon2 memory (19 MiB at the
/// OWASP parameters), allocated once and reused. Allocating it per hash
/// costs thousands of page faults each time, and the C allocator keeps
/// freed blocks of that size around (the server grew to 450 MiB under
/// sign-in load). They end when the last clone of the hasher is gone.
struct HashThreads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashThreads {
    fn start(count: usize) -> HashThreads {
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..count {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("egov-argon2-{n}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = receiver
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = job else { return };
                        // A panicking job loses its answer (the caller sees
                        // `TaskFailed`), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "Could not start a password hashing thread");
            }
        }
        HashThreads {
            jobs: std::sync::Mutex::new(sender),
        }
    }

    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| PasswordError::Closed)
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password matches the hash.
    pub valid: bool,
    /// The hash was made with other parameters than the current ones, so a
    /// successful sign-in should store a fresh hash of the password.
    pub needs_rehash: bool,
}

/// Hashes and verifies passwords with argon2id.
///
/// Clones share the concurrency limit and the dummy hash, so one hasher is
/// made at start-up and cloned into every place that needs it.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    max_concurrent: usize,
    permits: Arc<Semaphore>,
    threads: Arc<HashThreads>,
    dummy_hash: Arc<OnceCell<String>>,
    /// Runs inside the blocking section, while a permit is held; tests use
    /// it to hold hashes in flight and count them.
    #[cfg(test)]
    test_hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("max_concurrent", &self.max_concurrent)
            .field("available_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// The production hasher: argon2id with OWASP's recommended
    /// m = 19456 KiB, t = 2, p = 1, and at most `max_concurrent` hashes at
    /// once (the number of cores; 0 is taken as 1).
    pub fn new(max_concurrent: usize) -> PasswordHasher {
        // `Params::DEFAULT` is exactly OWASP's first argon2id recommendation
        // (19 MiB, 2 passes, 1 lane); a test pins the numbers.
        PasswordHasher::from_params(Params::DEFAULT, max_concurrent)
    }

    /// A hasher with explicit costs, for tests that need speed (for example
    /// `with_params(1024, 1, 1, 2)`). Production always uses [`Self::new`]:
    /// cheap parameters make stolen hashes cheap to crack.
    ///
    /// Values below argon2's minimums are raised to them (t and p to 1,
    /// m to 8 KiB per lane).
    pub fn with_params(m_kib: u32, t: u32, p: u32, max_concurrent: usize) -> PasswordHasher {
        let p = p.clamp(Params::MIN_P_COST, Params::MAX_P_COST);
        let t = t.max(Params::MIN_T_COST);
        let m_kib = m_kib.max(Params::MIN_M_COST).max(8 * p);
        // After the clamping above `Params::new` cannot fail; should argon2
        // ever tighten its rules, falling back to the production parameters
        // errs on the safe side.
        let params = Params::new(m_kib, t, p, None).unwrap_or(Params::DEFAULT);
        PasswordHasher::from_params(params, max_concurrent)
    }

    fn from_params(params: Params, max_concurrent: usize) -> PasswordHasher {
        let max_concurrent = max_concurrent.max(1);
        PasswordHasher {
            params,
            max_concurrent,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            threads: Arc::new(HashThreads::start(max_concurrent)),
            dummy_hash: Arc::new(OnceCell::new()),
            #[cfg(test)]
            test_hook: None,
        }
    }

    /// How many hashes may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How many more hashes could start right now without queueing.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, self.params.clone())
    }

    /// Runs `work` on a hashing thread once a permit is free.
    ///
    /// The permit moves into the blocking closure, so it is released when
    /// the computation ends, not when the caller stops waiting: a sign-in
    /// request dropped mid-hash (client gone, timeout) still counts until
    /// its 19 MiB are freed.
    async fn run_limited<R, F>(&self, work: F) -> Result<R, PasswordError>
    where
        F: FnOnce(&mut Vec<Block>) -> R + Send + 'static,
        R: Send + 'static,
    {
        // The semaphore is never closed, so acquiring cannot fail today;
        // should that change, it is an error, not a panic.
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Closed)?;
        #[cfg(test)]
        let hook = self.test_hook.clone();
        let (answer, result) = tokio::sync::oneshot::channel();
        self.threads.submit(Box::new(move |memory| {
            #[cfg(test)]
            if let Some(hook) = hook {
                hook();
            }
            let result = work(memory);
            // The permit goes back before the answer, so whoever reads the
            // answer can already start the next hash.
            drop(permit);
            let _ = answer.send(result);
        }))?;
        result.await.map_err(|_| PasswordError::TaskFailed)
    }

    /// Hashes a password with a fresh random salt into a PHC string
    /// (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let argon2 = self.argon2();
        let password = Zeroizing::new(password.as_bytes().to_vec());
        self.run_limited(move |memory| {
            let mut salt = [0_u8; SALT_LEN];
            rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
            let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
            hash_into(&argon2, &password, &salt, &mut out, memory).map_err(PasswordError::Hashing)?;
            let phc = PasswordHash {
                algorithm: argon2::Algorithm::Argon2id.ident(),
                version: Some(argon2::Version::V0x13.into()),
                params: ParamsString::try_from(argon2.params()).map_err(PasswordError::Hashing)?,
                salt: Some(Salt::new(&salt).map_err(|error| PasswordError::Hashing(error.into()))?),
                hash: Some(Output::new(&out).map_err(|error| PasswordError::Hashing(error.into()))?),
            };
            Ok(phc.to_string())
        })
        .await?
    }

    /// Checks a password against a stored PHC string.
    ///
    /// Any argon2 variant is verified with the parameters stored in the
    /// string; `needs_rehash` says whether they differ from the current
    /// ones. A string that is not PHC, not argon2, or asks for absurd costs
    /// is an error.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<Verification, PasswordError> {
        // Parsed before taking a permit: a malformed row must not wait in
        // the queue only to fail.
        let stored = PasswordHash::new(phc).map_err(|_| PasswordError::MalformedHash)?;
        let stored_algorithm =
            argon2::Algorithm::new(stored.algorithm.as_str()).map_err(|_| PasswordError::UnsupportedHash)?;
        let stored_params = Params::try_from(&stored).map_err(|_| PasswordError::MalformedHash)?;
        let stored_version = match stored.version {
            None => argon2::Version::default(),
            Some(version) => argon2::Version::try_from(version).map_err(|_| PasswordError::UnsupportedHash)?,
        };
        if stored_params.m_cost() > MAX_STORED_M_KIB
            || stored_params.t_cost() > MAX_STORED_T
            || stored_params.p_cost() > MAX_STORED_P
        {
            return Err(PasswordError::UnsupportedHash);
        }
        if stored.salt.is_none() || stored.hash.is_none() {
            return Err(PasswordError::MalformedHash);
        }

        let needs_rehash = stored_algorithm != argon2::Algorithm::Argon2id
            || stored_version != argon2::Version::V0x13
            || stored_params.m_cost() != self.params.m_cost()
            || stored_params.t_cost() != self.params.t_cost()
            || stored_params.p_cost() != self.params.p_cost()
            || stored_params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN);

        // Algorithm, version and costs come from the stored hash, not from
        // this instance; the outputs are compared in constant time.
        let argon2 = Argon2::new(stored_algorithm, stored_version, stored_params);
        let salt = stored.salt.ok_or(PasswordError::MalformedHash)?;
        let expected = stored.hash.ok_or(PasswordError::MalformedHash)?;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let valid = self
            .run_limited(move |memory| {
                let mut out = Zeroizing::new(vec![0_u8; expected.len()]);
                hash_into(&argon2, &password, &salt, &mut out, memory).map_err(PasswordError::Hashing)?;
                Ok::<_, PasswordError>(bool::from(subtle::ConstantTimeEq::ct_eq(
                    out.as_slice(),
                    expected.as_bytes(),
                )))
            })
            .await??;
        Ok(Verification { valid, needs_rehash })
    }

    /// Spends the work of one real verification and throws the result away.
    ///
    /// Sign-in calls this when the account does not exist, so that "no such
    /// user" takes as long as "wrong password" and response times do not
    /// reveal which identifiers are registered. The dummy hash is made once
    /// per hasher (shared by its clones), with the current parameters.
    pub async fn verify_dummy(&self, password: &str) {
        let dummy_hash = self.dummy_hash.get_or_try_init(|| self.hash(DUMMY_PASSWORD)).await;
        match dummy_hash {
            Ok(dummy_hash) => {
                // The outcome is meaningless (and the password essentially
                // never matches); only the time spent matters.
                if let Err(error) = self.verify(password, dummy_hash).await {
                    tracing::warn!(%error, "dummy password verification failed");
                }
            }
            Err(error) => tracing::warn!(%error, "could not make the dummy password hash"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    /// Cheap parameters: tests must not spend 19 MiB and a second per hash.
    fn cheap(max_concurrent: usize) -> PasswordHasher {
        PasswordHasher::with_params(1024, 1, 1, max_concurrent)
    }

    #[tokio::test]
    async fn the_right_password_verifies_and_a_wrong_one_does_not() {
        let hasher = cheap(2);
        let phc = hasher.hash("Bầu trời Hà Nội mùa thu").await.expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        let right = hasher.verify("Bầu trời Hà Nội mùa thu", &phc).await.expect("verifies");
        assert_eq!(
            right,
            Verification {
                valid: true,
                needs_rehash: false
            }
        );
        for wrong in ["Bau troi Ha Noi mua thu", "Bầu trời Hà Nội mùa thu ", ""] {
            let outcome = hasher.verify(wrong, &phc).await.expect("verifies");
            assert!(!outcome.valid, "{wrong:?}");
        }
    }

    #[tokio::test]
    async fn the_same_password_gets_a_different_salt_each_time() {
        let hasher = cheap(2);
        let first = hasher.hash("mật khẩu dài dài").await.expect("hashes");
        let second = hasher.hash("mật khẩu dài dài").await.expect("hashes");
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_needs_rehash() {
        let old = PasswordHasher::with_params(512, 1, 1, 1);
        let phc = old.hash("correct horse battery").await.expect("hashes");
        let current = cheap(1);
        let outcome = current.verify("correct horse battery", &phc).await.expect("verifies");
        assert_eq!(
            outcome,
            Verification {
                valid: true,
                needs_rehash: true
            }
        );
        let wrong = current.verify("wrong horse", &phc).await.expect("verifies");
        assert!(!wrong.valid);
    }

    #[tokio::test]
    async fn another_argon2_variant_verifies_and_needs_rehash() {
        let params = Params::new(1024, 1, 1, None).expect("valid params");
        let argon2i = Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params);
        let phc = argon2i.hash_password(b"legacy password").expect("hashes").to_string();
        assert!(phc.starts_with("$argon2i$"));
        let outcome = cheap(1).verify("legacy password", &phc).await.expect("verifies");
        assert_eq!(
            outcome,
            Verification {
                valid: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn our_hashes_and_the_argon2_crates_hashes_verify_each_other() {
        let hasher = cheap(1);
        let ours = hasher.hash("Hoa-sen-no-2026").await.expect("hashes");
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(hasher.argon2().verify_password(b"Hoa-sen-no-2026", &parsed).is_ok());
        assert!(hasher.argon2().verify_password(b"Hoa-sen-no-2025", &parsed).is_err());

        let theirs = hasher
            .argon2()
            .hash_password(b"Hoa-sen-no-2026")
            .expect("hashes")
            .to_string();
        let verify = |password, phc: &str| {
            let hasher = hasher.clone();
            let phc = phc.to_owned();
            async move { hasher.verify(password, &phc).await.expect("verifies").valid }
        };
        assert!(verify("Hoa-sen-no-2026", &theirs).await);
        assert!(!verify("Hoa-sen-no-2025", &theirs).await);
        // Two hashes of one password differ (fresh salts), and the thread's
        // reused memory does not leak one hash into the next.
        let again = hasher.hash("Hoa-sen-no-2026").await.expect("hashes");
        assert_ne!(ours, again);
        assert!(verify("Hoa-sen-no-2026", &again).await);
    }

    #[tokio::test]
    async fn a_malformed_or_foreign_hash_is_an_error() {
        let hasher = cheap(1);
        let malformed = [
            "",
            "not a hash",
            "$argon2id$v=19$m=1024,t=1,p=1$",
            "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=19$m=abc,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ];
        for phc in malformed {
            assert!(
                matches!(hasher.verify("password", phc).await, Err(PasswordError::MalformedHash)),
                "{phc:?}"
            );
        }
        let foreign = [
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$argon2id$v=17$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=4000000,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ];
        for phc in foreign {
            assert!(
                matches!(
                    hasher.verify("password", phc).await,
                    Err(PasswordError::UnsupportedHash)
                ),
                "{phc:?}"
            );
        }
    }

    #[tokio::test]
    async fn the_dummy_verification_does_real_work_once_hashed() {
        let hasher = cheap(1);
        hasher.verify_dummy("anything").await;
        let dummy = hasher.dummy_hash.get().expect("the dummy hash was made");
        assert!(dummy.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        // Clones share the one dummy hash instead of making their own.
        let clone = hasher.clone();
        clone.verify_dummy("something else").await;
        assert_eq!(clone.dummy_hash.get(), Some(dummy));
        assert_eq!(hasher.available_permits(), 1);
    }

    #[tokio::test]
    async fn the_production_parameters_are_owasps() {
        let hasher = PasswordHasher::new(4);
        assert_eq!(hasher.max_concurrent(), 4);
        assert_eq!(
            (hasher.params.m_cost(), hasher.params.t_cost(), hasher.params.p_cost()),
            (19456, 2, 1)
        );
        let phc = hasher.hash("Bầu trời Hà Nội mùa thu 2026").await.expect("hashes");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let outcome = hasher
            .verify("Bầu trời Hà Nội mùa thu 2026", &phc)
            .await
            .expect("verifies");
        assert_eq!(
            outcome,
            Verification {
                valid: true,
                needs_rehash: false
            }
        );
    }

    #[test]
    fn parameters_below_the_minimums_are_raised_and_zero_concurrency_is_one() {
        let hasher = PasswordHasher::with_params(0, 0, 0, 0);
        assert_eq!(
            (hasher.params.m_cost(), hasher.params.t_cost(), hasher.params.p_cost()),
            (8, 1, 1)
        );
        assert_eq!(hasher.max_concurrent(), 1);
        assert_eq!(hasher.available_permits(), 1);
    }

    /// Holds jobs inside the blocking section until opened, counting how
    /// many are in there at once.
    #[derive(Default)]
    struct Gate {
        state: Mutex<GateState>,
        changed: Condvar,
    }

    #[derive(Default)]
    struct GateState {
        open: bool,
        in_flight: usize,
        peak: usize,
    }

    impl Gate {
        fn enter(&self) {
            let mut state = self.state.lock().expect("gate lock");
            state.in_flight += 1;
            state.peak = state.peak.max(state.in_flight);
            self.changed.notify_all();
            while !state.open {
                state = self.changed.wait(state).expect("gate lock");
            }
            state.in_flight -= 1;
            self.changed.notify_all();
        }

        /// Waits until `condition` holds or `timeout` passes; says which.
        fn wait_for(&self, timeout: Duration, condition: impl Fn(&GateState) -> bool) -> bool {
            let state = self.state.lock().expect("gate lock");
            let (state, _) = self
                .changed
                .wait_timeout_while(state, timeout, |state| !condition(state))
                .expect("gate lock");
            condition(&state)
        }

        fn open(&self) {
            self.state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .open = true;
            self.changed.notify_all();
        }
    }

    /// Opens the gate when dropped. The runtime waits for blocking jobs when
    /// it shuts down, so without this a failing assertion would leave the
    /// held jobs, and the test, waiting forever instead of failing.
    struct OpenOnDrop(Arc<Gate>);

    impl Drop for OpenOnDrop {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    fn gated(max_concurrent: usize) -> (PasswordHasher, Arc<Gate>, OpenOnDrop) {
        let gate = Arc::new(Gate::default());
        let mut hasher = cheap(max_concurrent);
        let hook_gate = Arc::clone(&gate);
        hasher.test_hook = Some(Arc::new(move || hook_gate.enter()));
        let open_on_drop = OpenOnDrop(Arc::clone(&gate));
        (hasher, gate, open_on_drop)
    }

    async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
        tokio::task::spawn_blocking(work).await.expect("no panic")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_max_concurrent_hashes_run_at_once() {
        // Eight hashes start on a hasher limited to two. Every job that gets
        // past the limit is held inside the blocking section by the gate, so
        // while the gate is closed the number of jobs in there is exactly the
        // number running at once. Without the semaphore, spawn_blocking would
        // start all eight within milliseconds and the second wait below
        // would see more than two; with it, a third can never enter, so the
        // bounded wait for that times out. The timeout only decides how long
        // we look for a violation, never the order of events.
        let (hasher, gate, _open_on_drop) = gated(2);
        let jobs: Vec<_> = (0..8)
            .map(|n| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&format!("password number {n}")).await })
            })
            .collect();

        let gate_view = Arc::clone(&gate);
        let two_running =
            blocking(move || gate_view.wait_for(Duration::from_secs(30), |state| state.in_flight >= 2)).await;
        assert!(two_running, "two hashes should start");
        assert_eq!(hasher.available_permits(), 0);

        let gate_view = Arc::clone(&gate);
        let more_than_two =
            blocking(move || gate_view.wait_for(Duration::from_millis(300), |state| state.in_flight > 2)).await;
        assert!(!more_than_two, "a third hash ran while two held the permits");

        gate.open();
        for job in jobs {
            let phc = job.await.expect("no panic").expect("hashes");
            assert!(phc.starts_with("$argon2id$"));
        }
        assert_eq!(gate.state.lock().expect("gate lock").peak, 2);
        assert_eq!(hasher.available_permits(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_hash_keeps_its_permit_until_the_work_is_done() {
        let (hasher, gate, _open_on_drop) = gated(1);
        let job = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("abandoned by the client").await }
        });
        let gate_view = Arc::clone(&gate);
        let running = blocking(move || gate_view.wait_for(Duration::from_secs(30), |state| state.in_flight == 1)).await;
        assert!(running);

        // The request goes away, but its 19 MiB are still in use.
        job.abort();
        assert!(job.await.is_err_and(|error| error.is_cancelled()));
        assert_eq!(hasher.available_permits(), 0);

        // Once the work ends the permit comes back, so the next hash can
        // take it and complete.
        gate.open();
        hasher.hash("the next sign-in").await.expect("hashes");
        assert_eq!(hasher.available_permits(), 1);
    }
}
