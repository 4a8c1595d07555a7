//! Laravel's Redis queue driver (`Illuminate\Queue\RedisQueue` and its `LuaScripts`), with our own Lua scripts.
//!
//! Keys for queue `Q` under the connection prefix `{P}`: `{P}queues:Q` (ready list),
//! `{P}queues:Q:delayed` and `{P}queues:Q:reserved` (sorted sets scored by unix seconds) and
//! `{P}queues:Q:notify` (wake-up tokens). PHP workers and larq can share these keys: every state
//! change is one atomic script with the same effect as Laravel's.
//!
//! The connection underneath is a [`RedisConnection`]: one server, or a Redis Cluster where each
//! queue's keys share a slot through a hash-tagged queue name (`{default}`); see [`connection`].
//!
//! Where ours differs from Laravel's scripts, on purpose:
//!
//! * **Reserve counts the attempt in place.** Laravel's pop script decodes the payload with cjson,
//!   adds one to `attempts` and re-encodes it, which reorders keys, turns `[]` into `{}` and cuts
//!   numbers to 14 digits. Ours finds the single top-level `"attempts":N` and rewrites just the
//!   digits, so the reserved copy differs from the original only there. It falls back to cjson when
//!   the field is not exactly one plain integer at top level. PHP reads `attempts` back with
//!   `json_decode` and deletes by the reserved string *its own* script returned, so mixing workers
//!   stays correct.
//! * **No payload is lost on reserve.** Laravel's script pops first and then fails on a payload
//!   without a numeric `attempts`, dropping the job. Ours parks such a payload untouched in
//!   `:reserved` and reports it as [`Reservation::Invalid`], so the worker can fail it to
//!   failed_jobs.
//! * **Release only moves a job it still holds.** If the reservation already expired and the job was
//!   migrated back to the ready list, re-adding it to `:delayed` would queue it twice; our release
//!   returns `false` instead.
//! * **One round trip per worker pass**: the finished jobs' deletes, the migration (at most once a
//!   second) and the reserve of several jobs go in one script ([`RedisQueue::delete_migrate_reserve`]),
//!   deletes first, so a finished job is never migrated back because its delete waited.
//! * **The search for `attempts` is bounded** (see `COUNT_ATTEMPT_LUA`): no payload makes the
//!   reserve cost more than a small factor of Laravel's own pop in Redis.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use redis::Script;
use tokio::sync::Mutex;

use super::{now, QueueError, Reservation, ReservedJob};

pub mod connection;

pub use self::connection::{RedisConnection, RedisEndpoint};

/// How one Redis queue connection behaves (`config/queue.php` → `connections.redis`).
#[derive(Debug, Clone)]
pub struct RedisQueueOptions {
    /// Key prefix `{P}` (`database.redis.options.prefix`).
    pub prefix: String,
    /// Seconds a reservation lasts before the job is handed out again.
    pub retry_after: u64,
    /// Seconds to block on the notify list when a queue is empty; `None` polls.
    pub block_for: Option<u64>,
    /// 9.x's `migration_batch_size`: at most this many due jobs per migration; `None` = all.
    pub migration_batch_size: Option<u64>,
    /// Connection name stored in failed_jobs (`redis`).
    pub connection_name: String,
}

impl Default for RedisQueueOptions {
    fn default() -> Self {
        RedisQueueOptions {
            prefix: "laravel_database_".to_owned(),
            retry_after: 90,
            block_for: None,
            migration_batch_size: None,
            connection_name: "redis".to_owned(),
        }
    }
}

/// KEYS: ready list, notify list. ARGV: payload. Both pushes in one step so a worker never sees a
/// token without its job.
static PUSH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"redis.call('rpush', KEYS[1], ARGV[1])
redis.call('rpush', KEYS[2], 1)
return redis.call('llen', KEYS[1])",
    )
});

/// Lua shared by [`MIGRATE`] and [`RESERVE_MANY`]: `migrate(from, ready, notify, now, limit)` moves
/// every member of the sorted set `from` (`:delayed` or `:reserved`) due by `now` to the ready
/// list's tail with one notify token each, at most `limit` of them (0 = all), and returns how many
/// moved. The members read are exactly the lowest ranks, so removing by rank removes them (the
/// script is atomic).
const MIGRATE_LUA: &str = r"local function migrate(from, ready, notify, now, limit)
  local due
  if limit > 0 then
    due = redis.call('zrangebyscore', from, '-inf', now, 'limit', 0, limit)
  else
    due = redis.call('zrangebyscore', from, '-inf', now)
  end
  local n = #due
  if n > 0 then
    redis.call('zremrangebyrank', from, 0, n - 1)
    for i = 1, n, 100 do
      local last = math.min(i + 99, n)
      redis.call('rpush', ready, unpack(due, i, last))
      local ones = {}
      for j = i, last do ones[#ones + 1] = 1 end
      redis.call('rpush', notify, unpack(ones))
    end
  end
  return n
end
";

/// KEYS: source sorted set (`:delayed` or `:reserved`), ready list, notify list.
/// ARGV: now, batch limit (0 = all). [`MIGRATE_LUA`] once; returns how many moved.
static MIGRATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{MIGRATE_LUA}return migrate(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]))"
    ))
});

/// Lua shared by the reserve scripts: `count_attempt(job)` returns `reserved, attempts, mode, edit`
/// with mode 1 = `"attempts":N` edited in place, 2 = cjson re-encode (the field is not one plain
/// top-level integer), 0 = invalid payload kept untouched (no numeric `attempts` or not JSON).
/// In mode 1, `edit` is `"<1-based position of the digits>:<the original digits>"`: the scripts
/// send it instead of the original payload, which differs from `reserved` only there, so a
/// reserve sends the payload's bytes once, not twice ([`restore_original`] rebuilds it).
///
/// Fast path first (the scan below costs ~5x Laravel's cjson round trip on a 640-byte payload),
/// decided from the payload's two ends alone: it is `{...,"attempts":N}` with at most 9 digits
/// and no backslash before that quote. Laravel writes `attempts` last. In valid JSON the final `}`
/// closes the top-level object, so the number before it is not inside a string, the quoted word
/// before that is a real key, and it is the top-level one (invalid JSON fails in the worker
/// either way). It is the *last* top-level `attempts` if a hostile payload repeats the key, which
/// is the one PHP's `json_decode` reads. No search through the whole payload: a search for the
/// key costs ~13 ns per quote byte in Redis, and a payload of quotes made that ~10x Laravel's
/// pop (`tests/integration/reliability_faults.rs`). Anything else takes the full scan.
///
/// The full scan is bounded, because it runs inside Redis and blocks every other client of the
/// server (the PHP app's too) while it runs: it may take at most 4,096 steps plus one per 256
/// bytes of payload (a step is one bracket, one string, or one escape inside a string), and it
/// gives up at nesting depth 512. A payload that needs more (only hostile or non-Laravel ones
/// do: Laravel writes `attempts` last, which the fast path takes) goes to the cjson round trip,
/// which is exactly what Laravel's own pop script does, so its cost in Redis stays within a
/// small factor of Laravel's on any payload (`tests/integration/reliability_faults.rs` measures both).
const COUNT_ATTEMPT_LUA: &str = r#"local function fast_attempts(job)
  if string.byte(job, 1) ~= 123 then return nil end
  local s, de, digits = string.find(job, '"attempts":(%-?%d+)}$', math.max(1, #job - 32))
  if not s or #digits > 9 then return nil end
  if s > 1 and string.byte(job, s - 1) == 92 then return nil end
  return s + 11, de - 1, tonumber(digits)
end
local function count_attempt(job)
  local fs, fe, fnum = fast_attempts(job)
  if fs then
    local attempts = fnum + 1
    return string.sub(job, 1, fs - 1) .. string.format('%d', attempts) .. string.sub(job, fe + 1), attempts, 1,
      string.format('%d:', fs) .. string.sub(job, fs, fe)
  end
  local depth, pos, len = 0, 1, #job
  local count, ok, ns, ne, num = 0, true, 0, 0, nil
  local budget = 4096 + math.floor(len / 256)
  while pos <= len do
    budget = budget - 1
    if budget < 0 or depth > 512 then ok = false; break end
    local i = string.find(job, '[{}%[%]"]', pos)
    if not i then break end
    local c = string.byte(job, i)
    if c == 34 then
      local j = i + 1
      while true do
        local k = string.find(job, '["\\]', j)
        if not k then ok = false; break end
        if string.byte(job, k) == 92 then
          j = k + 2
          budget = budget - 1
          if budget < 0 then ok = false; break end
        else
          j = k; break
        end
      end
      if not ok then break end
      if depth == 1 and j - i == 9 and string.sub(job, i + 1, j - 1) == 'attempts' then
        count = count + 1
        local s, e, digits = string.find(job, '^[ \t\r\n]*:[ \t\r\n]*(%-?%d+)', j + 1)
        local nextc = s and string.sub(job, e + 1, e + 1) or ''
        if s and #digits <= 9 and nextc ~= '.' and nextc ~= 'e' and nextc ~= 'E' then
          ns = e - #digits + 1; ne = e; num = tonumber(digits)
        else
          ok = false
        end
      end
      pos = j + 1
    elseif c == 123 or c == 91 then
      depth = depth + 1; pos = i + 1
    else
      depth = depth - 1; pos = i + 1
    end
  end
  local reserved, attempts, mode, edit
  if ok and count == 1 and num then
    attempts = num + 1
    reserved = string.sub(job, 1, ns - 1) .. string.format('%d', attempts) .. string.sub(job, ne + 1)
    mode = 1
    edit = string.format('%d:', ns) .. string.sub(job, ns, ne)
  else
    local decoded_ok, decoded = pcall(cjson.decode, job)
    if decoded_ok and type(decoded) == 'table' and type(decoded['attempts']) == 'number' then
      decoded['attempts'] = decoded['attempts'] + 1
      attempts = decoded['attempts']
      reserved = cjson.encode(decoded)
      mode = 2
    else
      reserved = job
      attempts = 0
      mode = 0
    end
  end
  -- Redis turns a Lua number into its integer reply with a C cast, which is undefined outside
  -- the 64-bit range: a hostile "attempts" of 9.3e18 came back as the most negative integer and
  -- ran under any --tries. Kept inside the range it still exceeds every tries, as in PHP, where
  -- such a number is a float larger than maxTries. NaN (cjson reads it; PHP's json_decode does
  -- not, so the worker fails that payload as undecodable) becomes 0.
  if attempts ~= attempts then attempts = 0
  elseif attempts > 9e18 then attempts = 9e18
  elseif attempts < -9e18 then attempts = -9e18 end
  return reserved, attempts, mode, edit
end
"#;

/// KEYS: ready list, reserved set, notify list. ARGV: reservation expiry (now + retry_after).
/// Returns {original, reserved, attempts, mode} (modes as in [`COUNT_ATTEMPT_LUA`]), with
/// `reserved` false when it is the original untouched (mode 0) and `original` replaced by the
/// edit in mode 1, so the bytes are never sent twice; {false, false, 0, 0} when the list is empty.
static RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{COUNT_ATTEMPT_LUA}
local job = redis.call('lpop', KEYS[1])
if not job then return {{false, false, 0, 0}} end
local reserved, attempts, mode, edit = count_attempt(job)
redis.call('zadd', KEYS[2], ARGV[1], reserved)
redis.call('lpop', KEYS[3])
if mode == 0 then reserved = false elseif mode == 1 then job = edit end
return {{job, reserved, attempts, mode}}"
    ))
});

/// KEYS: ready list, reserved set, notify list, delayed set. ARGV: reservation expiry, at most
/// how many jobs, migration time (0: no migration), migration batch limit (0: all), then the
/// reserved bytes of finished jobs to delete first.
///
/// In this order, in one atomic call: a `ZREM` of each finished job (Laravel's delete, one per
/// job); then, when asked, the migration of due delayed jobs and expired reservations (what
/// Laravel's pop runs first); then the same as running [`RESERVE`] that many times (each job
/// popped, counted, added to `:reserved` with one notify token consumed).
///
/// The deletes come before the migration on purpose: a finished job whose reservation expired
/// while its delete waited (a Redis stall longer than `retry_after`) is still in `:reserved`, and
/// must leave it as done, not be migrated back to the ready list to run again. PHP's worker gets
/// the same order by deleting each job before its next pop.
///
/// Returns one 0/1 per deleted job (1: it was still reserved), then {original, reserved,
/// attempts, mode} flattened, four entries per job (`reserved` false in mode 0 and `original` the
/// edit in mode 1, as in [`RESERVE`]), stopping early when the list is empty.
static RESERVE_MANY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{MIGRATE_LUA}{COUNT_ATTEMPT_LUA}
local out = {{}}
for i = 5, #ARGV do
  out[#out + 1] = redis.call('zrem', KEYS[2], ARGV[i])
end
if tonumber(ARGV[3]) > 0 then
  migrate(KEYS[4], KEYS[1], KEYS[3], ARGV[3], tonumber(ARGV[4]))
  migrate(KEYS[2], KEYS[1], KEYS[3], ARGV[3], tonumber(ARGV[4]))
end
for _ = 1, tonumber(ARGV[2]) do
  local job = redis.call('lpop', KEYS[1])
  if not job then break end
  local reserved, attempts, mode, edit = count_attempt(job)
  redis.call('zadd', KEYS[2], ARGV[1], reserved)
  redis.call('lpop', KEYS[3])
  if mode == 1 then out[#out + 1] = edit else out[#out + 1] = job end
  if mode == 0 then out[#out + 1] = false else out[#out + 1] = reserved end
  out[#out + 1] = attempts
  out[#out + 1] = mode
end
return out"
    ))
});

/// KEYS: delayed set, reserved set. ARGV: reserved bytes, available-at. Moves the job only if it is
/// still reserved; returns 1 if moved.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local removed = redis.call('zrem', KEYS[2], ARGV[1])
if removed == 1 then redis.call('zadd', KEYS[1], ARGV[2], ARGV[1]) end
return removed",
    )
});

/// KEYS: delayed set, reserved set. ARGV: reserved bytes, original bytes, available-at. Swaps a
/// reserved job for its untouched original in `:delayed` (the attempt is not counted); 1 if moved.
static HAND_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local removed = redis.call('zrem', KEYS[2], ARGV[1])
if removed == 1 then redis.call('zadd', KEYS[1], ARGV[3], ARGV[2]) end
return removed",
    )
});

/// KEYS: ready, delayed, reserved. Counts every job the queue holds.
static SIZE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"return redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])",
    )
});

/// KEYS: ready, delayed, reserved, notify. Deletes the queue, returning how many jobs it held.
static CLEAR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local size = redis.call('llen', KEYS[1]) + redis.call('zcard', KEYS[2]) + redis.call('zcard', KEYS[3])
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return size",
    )
});

/// How many jobs a queue holds, by state (what `larq size` prints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSizes {
    /// In the ready list, waiting for a worker.
    pub ready: u64,
    /// In `:delayed`, waiting for their time (released or dispatched with a delay).
    pub delayed: u64,
    /// In `:reserved`, held by a worker (or by one that died, until `retry_after`).
    pub reserved: u64,
}

impl QueueSizes {
    /// Laravel's `size()`: all three together.
    pub fn total(&self) -> u64 {
        self.ready + self.delayed + self.reserved
    }
}

/// Escape Redis glob characters so a prefix is matched literally by `SCAN MATCH`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The original payload and the reserved copy from a reserve script's reply, where the bytes
/// travel once: mode 0 sends no reserved copy (it is the original), mode 1 sends the edit
/// (`"<position>:<original digits>"`, see [`COUNT_ATTEMPT_LUA`]) instead of the original.
/// `None` when the reply does not fit together.
fn original_and_reserved(
    first: Vec<u8>,
    reserved: Option<Vec<u8>>,
    attempts: i64,
    mode: i64,
) -> Option<(Vec<u8>, Vec<u8>)> {
    match (mode, reserved) {
        (0, None) => {
            let reserved = first.clone();
            Some((first, reserved))
        }
        (1, Some(reserved)) => {
            let original = restore_original(&first, &reserved, attempts)?;
            Some((original, reserved))
        }
        (0 | 1, _) => None,
        (_, reserved) => Some((first, reserved?)),
    }
}

/// Rebuild the original payload from its reserved copy and the edit the script made: the new
/// count's digits at `position` (1-based) replaced by the original digits.
fn restore_original(edit: &[u8], reserved: &[u8], attempts: i64) -> Option<Vec<u8>> {
    let colon = edit.iter().position(|&b| b == b':')?;
    let position: usize = std::str::from_utf8(&edit[..colon]).ok()?.parse().ok()?;
    let digits = &edit[colon + 1..];
    let written = attempts.to_string();
    let start = position.checked_sub(1)?;
    let end = start.checked_add(written.len())?;
    if reserved.get(start..end)? != written.as_bytes() {
        return None;
    }
    let mut original = Vec::with_capacity(reserved.len() - written.len() + digits.len());
    original.extend_from_slice(&reserved[..start]);
    original.extend_from_slice(digits);
    original.extend_from_slice(&reserved[end..]);
    Some(original)
}

fn reservation_mode(mode: i64) -> Reservation {
    match mode {
        1 => Reservation::InPlace,
        2 => Reservation::Reencoded,
        _ => Reservation::Invalid,
    }
}

/// One Laravel Redis queue connection.
pub struct RedisQueue {
    conn: RedisConnection,
    endpoint: RedisEndpoint,
    blocking: Mutex<Option<RedisConnection>>,
    options: RedisQueueOptions,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connect to the Redis server at `url`.
    pub async fn connect(url: &str, options: RedisQueueOptions) -> Result<RedisQueue, QueueError> {
        Self::connect_to(&RedisEndpoint::node(url), options).await
    }

    /// Connect to a Redis server or a Redis Cluster.
    pub async fn connect_to(
        endpoint: &RedisEndpoint,
        options: RedisQueueOptions,
    ) -> Result<RedisQueue, QueueError> {
        let conn = endpoint.connect().await?;
        Ok(RedisQueue {
            conn,
            endpoint: endpoint.clone(),
            blocking: Mutex::new(None),
            options,
        })
    }

    /// Whether the queue lives on a Redis Cluster (queue names then need hash tags).
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// Refuse a queue whose keys would span Redis Cluster slots ([`QueueError::CrossSlot`]), so
    /// a worker fails at start with advice instead of on its first script. Always fine on a
    /// single server.
    pub fn check_queue(&self, queue: &str) -> Result<(), QueueError> {
        if !self.is_cluster() || connection::queue_keys_share_a_slot(&self.options.prefix, queue) {
            return Ok(());
        }
        Err(QueueError::CrossSlot {
            queue: queue.to_owned(),
            prefix: self.options.prefix.clone(),
        })
    }

    /// The options this queue was opened with.
    pub fn options(&self) -> &RedisQueueOptions {
        &self.options
    }

    /// The connection name failed_jobs records (`redis`).
    pub fn connection_name(&self) -> &str {
        &self.options.connection_name
    }

    /// The physical ready-list key of `queue`: `{P}queues:Q`.
    pub fn key(&self, queue: &str) -> String {
        format!("{}queues:{queue}", self.options.prefix)
    }

    fn err<'q>(
        op: &'static str,
        queue: &'q str,
    ) -> impl FnOnce(redis::RedisError) -> QueueError + 'q {
        move |source| QueueError::Redis {
            op,
            queue: queue.to_owned(),
            source,
        }
    }

    /// Push a payload to the end of the ready list with its wake-up token; returns the list length.
    pub async fn push(&self, queue: &str, payload: &[u8]) -> Result<u64, QueueError> {
        let key = self.key(queue);
        PUSH.key(&key)
            .key(format!("{key}:notify"))
            .arg(payload)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("push", queue))
    }

    /// Schedule a payload to become ready `delay` seconds from now (Laravel's `later`: no token).
    pub async fn later(&self, queue: &str, delay: u64, payload: &[u8]) -> Result<(), QueueError> {
        let key = self.key(queue);
        redis::cmd("ZADD")
            .arg(format!("{key}:delayed"))
            .arg(now() + delay)
            .arg(payload)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("later", queue))
    }

    /// Move due delayed jobs and expired reservations back to the ready list; returns how many
    /// moved. Laravel runs this before every pop; a worker may run it once per loop iteration.
    pub async fn migrate(&self, queue: &str) -> Result<u64, QueueError> {
        let key = self.key(queue);
        let now = now();
        let limit = self.options.migration_batch_size.unwrap_or(0);
        let mut moved = 0;
        for from in ["delayed", "reserved"] {
            let n: u64 = MIGRATE
                .key(format!("{key}:{from}"))
                .key(&key)
                .key(format!("{key}:notify"))
                .arg(now)
                .arg(limit)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(Self::err("migrate", queue))?;
            moved += n;
        }
        Ok(moved)
    }

    /// Atomically take the first ready job, count the attempt and reserve it until
    /// now + retry_after. Does not migrate (see [`RedisQueue::pop`]).
    pub async fn reserve(&self, queue: &str) -> Result<Option<ReservedJob>, QueueError> {
        let key = self.key(queue);
        let sent = Instant::now();
        let reply: (Option<Vec<u8>>, Option<Vec<u8>>, i64, i64) = RESERVE
            .key(&key)
            .key(format!("{key}:reserved"))
            .key(format!("{key}:notify"))
            .arg(now() + self.options.retry_after)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("reserve", queue))?;
        match reply {
            (None, _, _, _) => Ok(None),
            (Some(first), reserved, attempts, mode) if reserved.is_some() || mode == 0 => {
                let (original, reserved) = original_and_reserved(first, reserved, attempts, mode)
                    .ok_or_else(|| QueueError::Protocol {
                    op: "reserve",
                    queue: queue.to_owned(),
                })?;
                let job = ReservedJob {
                    queue: queue.to_owned(),
                    original,
                    reserved,
                    attempts,
                    reservation: reservation_mode(mode),
                    row_id: None,
                    delivery: None,
                };
                self.renew_if_late(queue, sent, std::slice::from_ref(&job))
                    .await;
                Ok(Some(job))
            }
            _ => Err(QueueError::Protocol {
                op: "reserve",
                queue: queue.to_owned(),
            }),
        }
    }

    /// Reserve up to `n` ready jobs in one atomic call: for each, exactly what
    /// [`RedisQueue::reserve`] does (popped, attempt counted, added to `:reserved`, one notify token
    /// consumed), so PHP workers on the same queue see the same state as after `n` single pops.
    /// Saves a round trip per job when a worker has several free slots. Does not migrate.
    pub async fn reserve_many(
        &self,
        queue: &str,
        n: usize,
    ) -> Result<Vec<ReservedJob>, QueueError> {
        if n <= 1 {
            return Ok(self.reserve(queue).await?.into_iter().collect());
        }
        Ok(self.delete_and_reserve(queue, &[], n).await?.1)
    }

    /// Delete finished jobs of `queue` (exactly as [`RedisQueue::delete`], each by its reserved
    /// bytes) and then reserve up to `n` (exactly as [`RedisQueue::reserve_many`]), in one script
    /// call: a worker that just finished jobs and has free slots pays one round trip instead of
    /// one per delete plus one for the reserve. `n` may be 0 (deletes only). Returns, per finished
    /// job in order, whether it was still reserved, and the reserved jobs. Does not migrate.
    pub async fn delete_and_reserve(
        &self,
        queue: &str,
        finished: &[&[u8]],
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), QueueError> {
        self.delete_migrate_reserve(queue, finished, false, n).await
    }

    /// One round trip of a worker: delete the finished jobs, then (when `migrate`) migrate due
    /// delayed jobs and expired reservations as [`RedisQueue::migrate`] does, then reserve up to
    /// `n`, all in one atomic script. Deleting before migrating keeps a finished job whose
    /// reservation expired while its delete waited from being handed out again (see
    /// `RESERVE_MANY`). Returns what [`RedisQueue::delete_and_reserve`] returns.
    pub async fn delete_migrate_reserve(
        &self,
        queue: &str,
        finished: &[&[u8]],
        migrate: bool,
        n: usize,
    ) -> Result<(Vec<bool>, Vec<ReservedJob>), QueueError> {
        let key = self.key(queue);
        let now = now();
        let mut call = RESERVE_MANY.prepare_invoke();
        call.key(&key)
            .key(format!("{key}:reserved"))
            .key(format!("{key}:notify"))
            .key(format!("{key}:delayed"))
            .arg(now + self.options.retry_after)
            .arg(n)
            .arg(if migrate { now } else { 0 })
            .arg(self.options.migration_batch_size.unwrap_or(0));
        for reserved in finished {
            call.arg(*reserved);
        }
        let sent = Instant::now();
        let reply: Vec<redis::Value> = call
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("reserve", queue))?;
        let protocol = || QueueError::Protocol {
            op: "reserve",
            queue: queue.to_owned(),
        };
        if reply.len() < finished.len() || !(reply.len() - finished.len()).is_multiple_of(4) {
            return Err(protocol());
        }
        let mut items = reply.into_iter();
        let mut deleted = Vec::with_capacity(finished.len());
        for item in items.by_ref().take(finished.len()) {
            match item {
                redis::Value::Int(removed) => deleted.push(removed == 1),
                _ => return Err(protocol()),
            }
        }
        let mut jobs = Vec::with_capacity(items.len() / 4);
        while let (Some(original), Some(reserved), Some(attempts), Some(mode)) =
            (items.next(), items.next(), items.next(), items.next())
        {
            let (redis::Value::Int(attempts), redis::Value::Int(mode)) = (attempts, mode) else {
                return Err(protocol());
            };
            let (original, reserved) = match (original, reserved) {
                (redis::Value::BulkString(first), redis::Value::BulkString(reserved)) => {
                    original_and_reserved(first, Some(reserved), attempts, mode)
                }
                (redis::Value::BulkString(first), redis::Value::Nil) => {
                    original_and_reserved(first, None, attempts, mode)
                }
                _ => None,
            }
            .ok_or_else(protocol)?;
            jobs.push(ReservedJob {
                queue: queue.to_owned(),
                original,
                reserved,
                attempts,
                reservation: reservation_mode(mode),
                row_id: None,
                delivery: None,
            });
        }
        self.renew_if_late(queue, sent, &jobs).await;
        Ok((deleted, jobs))
    }

    /// Renew the reservations of jobs whose reserve call came back late: their expiry was
    /// stamped when the call was sent, so after a stall (a `DEBUG SLEEP`, a slow script, a network
    /// that held the reply) of half `retry_after` or more they would expire while they run, and
    /// the next migration (ours or a PHP worker's) would hand them out a second time. `ZADD XX`
    /// only moves an expiry of a job still reserved. A failure is logged, not returned: the jobs
    /// are reserved either way, and at worst one runs twice, as at-least-once allows.
    async fn renew_if_late(&self, queue: &str, sent: Instant, jobs: &[ReservedJob]) {
        let late = Duration::from_millis(self.options.retry_after.saturating_mul(500))
            .max(Duration::from_millis(500));
        let took = sent.elapsed();
        if jobs.is_empty() || took < late {
            return;
        }
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(format!("{}:reserved", self.key(queue))).arg("XX");
        let expiry = now() + self.options.retry_after;
        for job in jobs {
            cmd.arg(expiry).arg(&job.reserved);
        }
        match cmd.exec_async(&mut self.conn.clone()).await {
            Ok(()) => tracing::warn!(
                queue,
                took_ms = took.as_millis() as u64,
                jobs = jobs.len(),
                "the reserve came back after half of retry_after; renewed the reservations"
            ),
            Err(e) => tracing::warn!(
                queue,
                error = %e,
                "the reserve came back late and its reservations could not be renewed; they may run twice"
            ),
        }
    }

    /// Laravel's `pop`: migrate, reserve, and if the queue is empty and `block_for` is set, wait on
    /// the notify list once and try again.
    pub async fn pop(&self, queue: &str) -> Result<Option<ReservedJob>, QueueError> {
        self.migrate(queue).await?;
        if let Some(job) = self.reserve(queue).await? {
            return Ok(Some(job));
        }
        if let Some(secs) = self.options.block_for {
            if self.wait_for_notify(queue, secs).await? {
                return self.reserve(queue).await;
            }
        }
        Ok(None)
    }

    /// BLPOP one token from the notify list for up to `secs` seconds (0 = forever), on a connection
    /// of its own so other commands are not stuck behind it. True if a token arrived.
    pub async fn wait_for_notify(&self, queue: &str, secs: u64) -> Result<bool, QueueError> {
        let mut slot = self.blocking.lock().await;
        if slot.is_none() {
            let conn = self.endpoint.connect_blocking().await?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Ok(false);
        };
        let reply: Result<Option<(Vec<u8>, Vec<u8>)>, _> = redis::cmd("BLPOP")
            .arg(format!("{}:notify", self.key(queue)))
            .arg(secs)
            .query_async(conn)
            .await;
        match reply {
            Ok(v) => Ok(v.is_some()),
            Err(source) => {
                *slot = None;
                Err(QueueError::Redis {
                    op: "block",
                    queue: queue.to_owned(),
                    source,
                })
            }
        }
    }

    /// Remove a finished job: `ZREM` of its exact reserved bytes. False if it was no longer
    /// reserved (its reservation expired and another worker may have it).
    pub async fn delete(&self, job: &ReservedJob) -> Result<bool, QueueError> {
        let removed: u64 = redis::cmd("ZREM")
            .arg(format!("{}:reserved", self.key(&job.queue)))
            .arg(&job.reserved)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("delete", &job.queue))?;
        Ok(removed == 1)
    }

    /// Put a reserved job back, available `delay` seconds from now (always through `:delayed`,
    /// even for 0, as Laravel does). False if it was no longer reserved.
    pub async fn release(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        let key = self.key(&job.queue);
        let moved: u64 = RELEASE
            .key(format!("{key}:delayed"))
            .key(format!("{key}:reserved"))
            .arg(&job.reserved)
            .arg(now() + delay)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("release", &job.queue))?;
        Ok(moved == 1)
    }

    /// Give a reserved job back untouched: its **original** bytes (attempts as before this reserve)
    /// go to `:delayed`, due `delay` seconds from now, so another worker (PHP) can take it without
    /// an attempt being consumed. False if it was no longer reserved.
    pub async fn hand_back(&self, job: &ReservedJob, delay: u64) -> Result<bool, QueueError> {
        let key = self.key(&job.queue);
        let moved: u64 = HAND_BACK
            .key(format!("{key}:delayed"))
            .key(format!("{key}:reserved"))
            .arg(&job.reserved)
            .arg(&job.original)
            .arg(now() + delay)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("hand back", &job.queue))?;
        Ok(moved == 1)
    }

    /// Jobs the queue holds: ready + delayed + reserved.
    pub async fn size(&self, queue: &str) -> Result<u64, QueueError> {
        let key = self.key(queue);
        SIZE.key(&key)
            .key(format!("{key}:delayed"))
            .key(format!("{key}:reserved"))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("size", queue))
    }

    /// The three parts of [`RedisQueue::size`] (ready, delayed, reserved), read in one atomic
    /// step so they add up to what `size` would have said at that moment.
    pub async fn sizes(&self, queue: &str) -> Result<QueueSizes, QueueError> {
        let key = self.key(queue);
        let (ready, delayed, reserved): (u64, u64, u64) = redis::pipe()
            .atomic()
            .cmd("LLEN")
            .arg(&key)
            .cmd("ZCARD")
            .arg(format!("{key}:delayed"))
            .cmd("ZCARD")
            .arg(format!("{key}:reserved"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("size", queue))?;
        Ok(QueueSizes {
            ready,
            delayed,
            reserved,
        })
    }

    /// Names of the queues that currently hold keys under this connection's prefix (any of the
    /// ready list, `:delayed`, `:reserved`, `:notify`), sorted. Operators use it to see every queue
    /// without knowing their names; it uses `SCAN`, so it never blocks the server (on a Redis
    /// Cluster, every primary is scanned).
    pub async fn queue_names(&self) -> Result<Vec<String>, QueueError> {
        let prefix = self.key("");
        let keys = self
            .conn
            .clone()
            .scan_match(&format!("{}*", glob_escape(&prefix)))
            .await
            .map_err(Self::err("scan", ""))?;
        let mut names = std::collections::BTreeSet::new();
        for key in keys {
            let Some(rest) = key.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            let rest = String::from_utf8_lossy(rest);
            let name = [":delayed", ":reserved", ":notify"]
                .iter()
                .find_map(|suffix| rest.strip_suffix(suffix))
                .unwrap_or(&rest);
            names.insert(name.to_owned());
        }
        Ok(names.into_iter().collect())
    }

    /// Delete every job of the queue (and its tokens); returns how many jobs there were.
    pub async fn clear(&self, queue: &str) -> Result<u64, QueueError> {
        let key = self.key(queue);
        CLEAR
            .key(&key)
            .key(format!("{key}:delayed"))
            .key(format!("{key}:reserved"))
            .key(format!("{key}:notify"))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Self::err("clear", queue))
    }
}
