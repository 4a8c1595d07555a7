//! Eloquent models in jobs: the `ModelIdentifier` that `SerializesModels` leaves in a command, and
//! a loader that fetches the row(s) it names from the app's database into a Rust struct.
//!
//! A PHP job that `use`s `SerializesModels` does not carry its models: each top-level model
//! property becomes `Illuminate\Contracts\Database\ModelIdentifier` (class, key, loaded relation
//! names, connection), and an Eloquent collection the same with an array of keys. PHP's worker
//! queries the rows back while it unserializes the command; a single model whose row is gone
//! throws `ModelNotFoundException`, and then the job is deleted silently when the class says
//! `deleteWhenMissingModels`, else failed at once whatever its tries. A collection's missing rows
//! are simply left out.
//!
//! In Rust the job struct takes a [`ModelIdentifier`] field and the handler loads what it needs
//! with [`Models`] (reached through [`crate::job::JobContext::models`]); a missing row is a
//! [`ModelError::NotFound`], and a handler that returns it with `?` gets PHP's treatment: delete
//! or fail at once, with PHP's exception class and message in `failed_jobs`. The load runs where
//! the handler asks for it, so a handler should load before it does anything else (PHP has
//! loaded before `handle` starts).
//!
//! ```no_run
//! use larq::job::{Job, JobContext, JobError};
//! use larq::model::{Model, ModelIdentifier};
//! use sqlx::Row;
//!
//! struct User { id: i64, name: String }
//!
//! impl sqlx::FromRow<'_, sqlx::any::AnyRow> for User {
//!     fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
//!         Ok(User { id: row.try_get("id")?, name: row.try_get("name")? })
//!     }
//! }
//!
//! impl Model for User {
//!     const CLASS: &'static str = "App\\Models\\User";
//!     const TABLE: &'static str = "users";
//!     const SELECT: &'static str = "id, name";
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct SendWelcome { user: ModelIdentifier }
//!
//! impl Job for SendWelcome {
//!     const CLASS: &'static str = "App\\Jobs\\SendWelcome";
//!     async fn handle(self, ctx: &mut JobContext) -> Result<(), JobError> {
//!         let user: User = ctx.models()?.find(&self.user).await?;
//!         println!("welcome, {} ({})", user.name, user.id);
//!         Ok(())
//!     }
//! }
//! ```

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{Backend, Database, DbError, Target};

/// The PHP class `SerializesModels` writes in place of a model or an Eloquent collection.
pub const MODEL_IDENTIFIER: &str = "Illuminate\\Contracts\\Database\\ModelIdentifier";

/// The exception PHP's worker fails a job with when a model's row is gone.
pub const MODEL_NOT_FOUND: &str = "Illuminate\\Database\\Eloquent\\ModelNotFoundException";

/// How many keys one `IN (...)` query carries: below SQLite's oldest limit of 999 bound
/// parameters, so a large collection is read in several queries instead of refused.
const KEYS_PER_QUERY: usize = 500;

/// `Illuminate\Contracts\Database\ModelIdentifier`: which row(s) a serialized model or
/// collection stands for.
///
/// Serializes back to the bytes Laravel 9+ writes (five properties; Laravel 8's class has no
/// `collectionClass`, and its `unserialize()` takes the extra property as a dynamic one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Illuminate\\Contracts\\Database\\ModelIdentifier")]
pub struct ModelIdentifier {
    /// The model class (`App\Models\User`; from Laravel 12.50 possibly a morph-map alias).
    /// `None` for an empty collection.
    pub class: Option<String>,
    /// The primary key, or the keys of a collection in its order.
    pub id: ModelId,
    /// Relations that were loaded when the job was dispatched (PHP loads them again).
    #[serde(default)]
    pub relations: Vec<String>,
    /// The database connection the model was read from (`None`: the default).
    #[serde(default)]
    pub connection: Option<String>,
    /// A collection's class when it was not `Illuminate\Database\Eloquent\Collection` (9+).
    #[serde(default, rename = "collectionClass")]
    pub collection_class: Option<String>,
}

impl ModelIdentifier {
    /// The identifier of one model, as `SerializesModels` writes it.
    pub fn one(class: impl Into<String>, key: impl Into<ModelKey>) -> ModelIdentifier {
        ModelIdentifier {
            class: Some(class.into()),
            id: ModelId::One(key.into()),
            relations: Vec::new(),
            connection: None,
            collection_class: None,
        }
    }

    /// The identifier of a collection of `class` models, keys in the collection's order.
    pub fn many<K: Into<ModelKey>>(
        class: impl Into<String>,
        keys: impl IntoIterator<Item = K>,
    ) -> ModelIdentifier {
        ModelIdentifier {
            class: Some(class.into()),
            id: ModelId::Many(keys.into_iter().map(Into::into).collect()),
            relations: Vec::new(),
            connection: None,
            collection_class: None,
        }
    }

    /// The same identifier naming a database connection.
    pub fn on_connection(mut self, connection: impl Into<String>) -> ModelIdentifier {
        self.connection = Some(connection.into());
        self
    }

    /// Whether it stands for a collection (an array of keys) rather than one model.
    pub fn is_collection(&self) -> bool {
        matches!(self.id, ModelId::Many(_))
    }
}

/// A `ModelIdentifier`'s `id`: one key, or a collection's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelId {
    /// A model's primary key.
    One(ModelKey),
    /// A collection's keys, in its order.
    Many(Vec<ModelKey>),
}

/// A primary key: an integer, or a string (UUIDs, ULIDs, natural keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelKey {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl From<i64> for ModelKey {
    fn from(k: i64) -> ModelKey {
        ModelKey::Int(k)
    }
}

impl From<&str> for ModelKey {
    fn from(k: &str) -> ModelKey {
        ModelKey::Str(k.to_owned())
    }
}

impl From<String> for ModelKey {
    fn from(k: String) -> ModelKey {
        ModelKey::Str(k)
    }
}

impl fmt::Display for ModelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelKey::Int(i) => write!(f, "{i}"),
            ModelKey::Str(s) => f.write_str(s),
        }
    }
}

/// A Rust struct that stands for an Eloquent model: where its rows are and how one is read.
///
/// Reading goes through sqlx's `Any` driver, which has no date, time or JSON types: name the
/// columns the struct reads in [`Model::SELECT`] (on PostgreSQL or MySQL, cast such columns to
/// text there: `"id, name, CAST(created_at AS TEXT) AS created_at"`).
pub trait Model: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin + 'static {
    /// The PHP model class (`App\Models\User`), as the identifier names it.
    const CLASS: &'static str;
    /// The table (`$table`, or Laravel's plural snake case of the class name).
    const TABLE: &'static str;
    /// The primary key column (`$primaryKey`).
    const KEY: &'static str = "id";
    /// The select list: `*`, or the columns the struct reads. It must include [`Model::KEY`]
    /// for [`Models::find_all`] to keep the collection's order.
    const SELECT: &'static str = "*";
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The row is gone (PHP's `ModelNotFoundException`, same message). Returned from a handler,
    /// it deletes or fails the job as PHP's worker does (see the module docs).
    #[error("No query results for model [{class}].")]
    NotFound {
        /// The model class.
        class: String,
    },
    /// The identifier names another model class than the struct it is read into.
    #[error("the identifier is a {found} model, not a {expected}")]
    WrongClass {
        /// The struct's class.
        expected: &'static str,
        /// The identifier's class.
        found: String,
    },
    /// `find` was given a collection or `find_all` a single model.
    #[error("the {class} identifier holds {holds}; use {instead}")]
    WrongShape {
        /// The model class.
        class: String,
        /// `one key` or `a collection`.
        holds: &'static str,
        /// The method that reads it.
        instead: &'static str,
    },
    /// The identifier names a database connection larq does not have (larq reaches the one
    /// database the app's `DB_*` settings describe).
    #[error("the {class} model is on database connection {named:?}; larq reaches only {ours:?} (DB_CONNECTION)")]
    OtherConnection {
        /// The model class.
        class: String,
        /// The identifier's connection.
        named: String,
        /// The app's default connection.
        ours: String,
    },
    /// The worker was built without a database for models.
    #[error("no database is configured for loading models (WorkerBuilder::models)")]
    NoDatabase,
    /// The database could not be opened.
    #[error("cannot open the database for models: {0}")]
    Open(#[from] DbError),
    /// The query failed (worth another try: the job is released as after any exception).
    #[error("cannot load {class} from {table}: {source}")]
    Query {
        /// The model class.
        class: &'static str,
        /// The table.
        table: &'static str,
        /// The driver error.
        source: sqlx::Error,
    },
}

/// Where [`Models`] gets its connections.
enum Source {
    Open(Database),
    /// Opened on the first load (a worker whose jobs never load a model never connects), into
    /// a cell the app's other database users share.
    Lazy {
        target: Target,
        cell: Arc<tokio::sync::OnceCell<Database>>,
        max_connections: u32,
        acquire_timeout: std::time::Duration,
    },
}

/// Loads models from the app's database: `restoreModel` / `restoreCollection` of
/// `SerializesModels`, for Rust structs. Cheap to clone.
#[derive(Clone)]
pub struct Models {
    source: Arc<Source>,
    /// The app's default connection name (`DB_CONNECTION`): identifiers naming it, or none,
    /// are read; others are refused.
    connection: Arc<str>,
}

impl fmt::Debug for Models {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Models")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl Models {
    /// Models on an open database whose Laravel connection name is `connection` (`sqlite`,
    /// `mysql`, `pgsql`: the app's `DB_CONNECTION`).
    pub fn new(db: Database, connection: impl Into<String>) -> Models {
        Models {
            source: Arc::new(Source::Open(db)),
            connection: Arc::from(connection.into()),
        }
    }

    /// Models on a database opened at the first load, into `cell` (shared with the app's
    /// other users of the same database).
    pub(crate) fn lazy(
        target: Target,
        cell: Arc<tokio::sync::OnceCell<Database>>,
        connection: &str,
        max_connections: u32,
        acquire_timeout: std::time::Duration,
    ) -> Models {
        Models {
            source: Arc::new(Source::Lazy {
                target,
                cell,
                max_connections,
                acquire_timeout,
            }),
            connection: Arc::from(connection),
        }
    }

    async fn database(&self) -> Result<&Database, ModelError> {
        match &*self.source {
            Source::Open(db) => Ok(db),
            Source::Lazy {
                target,
                cell,
                max_connections,
                acquire_timeout,
            } => Ok(cell
                .get_or_try_init(|| {
                    Database::open(target.clone(), *max_connections, *acquire_timeout)
                })
                .await?),
        }
    }

    /// The model one identifier names (`restoreModel`): [`ModelError::NotFound`] when its row
    /// is gone. Relations are not loaded (a Rust struct has no lazy relations; load them with
    /// their own query).
    pub async fn find<M: Model>(&self, id: &ModelIdentifier) -> Result<M, ModelError> {
        self.check::<M>(id)?;
        let ModelId::One(key) = &id.id else {
            return Err(ModelError::WrongShape {
                class: M::CLASS.to_owned(),
                holds: "a collection",
                instead: "find_all",
            });
        };
        let db = self.database().await?;
        let sql = format!(
            "SELECT {} FROM {} WHERE {} = {} LIMIT 1",
            M::SELECT,
            quote(db.backend(), M::TABLE),
            quote(db.backend(), M::KEY),
            placeholder(db.backend(), 1),
        );
        let row = bind_key(sqlx::query(&sql), key)
            .fetch_optional(db.pool())
            .await
            .map_err(query_err::<M>)?;
        match row {
            Some(row) => M::from_row(&row).map_err(query_err::<M>),
            None => Err(ModelError::NotFound {
                class: id.class.clone().unwrap_or_else(|| M::CLASS.to_owned()),
            }),
        }
    }

    /// The models a collection identifier names, in the collection's order
    /// (`restoreCollection`): rows that are gone are left out, as PHP leaves them out.
    pub async fn find_all<M: Model>(&self, id: &ModelIdentifier) -> Result<Vec<M>, ModelError> {
        let ModelId::Many(keys) = &id.id else {
            return Err(ModelError::WrongShape {
                class: M::CLASS.to_owned(),
                holds: "one key",
                instead: "find",
            });
        };
        // An empty collection has no class (and needs no query).
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.check::<M>(id)?;
        let db = self.database().await?;
        let mut found: std::collections::HashMap<ModelKey, M> =
            std::collections::HashMap::with_capacity(keys.len().min(KEYS_PER_QUERY));
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let marks: Vec<String> = (1..=chunk.len())
                .map(|i| placeholder(db.backend(), i))
                .collect();
            let sql = format!(
                "SELECT {} FROM {} WHERE {} IN ({})",
                M::SELECT,
                quote(db.backend(), M::TABLE),
                quote(db.backend(), M::KEY),
                marks.join(", "),
            );
            let mut query = sqlx::query(&sql);
            for key in chunk {
                query = bind_key(query, key);
            }
            let rows = query.fetch_all(db.pool()).await.map_err(query_err::<M>)?;
            for row in rows {
                let key = row_key(&row, M::KEY).map_err(query_err::<M>)?;
                found.insert(key, M::from_row(&row).map_err(query_err::<M>)?);
            }
        }
        // In the collection's order; a key listed twice gets its row once (PHP's keyBy map
        // gives it twice, but a Rust value cannot be in two places without Clone).
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }

    /// The class and connection checks both loads share.
    fn check<M: Model>(&self, id: &ModelIdentifier) -> Result<(), ModelError> {
        let class = id.class.as_deref().unwrap_or_default();
        if class != M::CLASS {
            return Err(ModelError::WrongClass {
                expected: M::CLASS,
                found: class.to_owned(),
            });
        }
        match id.connection.as_deref() {
            Some(named) if named != &*self.connection => Err(ModelError::OtherConnection {
                class: class.to_owned(),
                named: named.to_owned(),
                ours: self.connection.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

fn query_err<M: Model>(source: sqlx::Error) -> ModelError {
    ModelError::Query {
        class: M::CLASS,
        table: M::TABLE,
        source: crate::db::redact(source),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_key<'q>(query: AnyQuery<'q>, key: &ModelKey) -> AnyQuery<'q> {
    match key {
        ModelKey::Int(i) => query.bind(*i),
        ModelKey::Str(s) => query.bind(s.clone()),
    }
}

/// A row's key, as the type the database gives it (integer columns as [`ModelKey::Int`]).
fn row_key(row: &AnyRow, column: &str) -> Result<ModelKey, sqlx::Error> {
    match row.try_get::<i64, _>(column) {
        Ok(i) => Ok(ModelKey::Int(i)),
        Err(_) => row.try_get::<String, _>(column).map(ModelKey::Str),
    }
}

/// A quoted identifier: `"users"`, or `` `users` `` on MySQL.
fn quote(backend: Backend, name: &str) -> String {
    match backend {
        Backend::Mysql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct User {
        id: i64,
        name: String,
    }

    impl sqlx::FromRow<'_, AnyRow> for User {
        fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
            Ok(User {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
            })
        }
    }

    impl Model for User {
        const CLASS: &'static str = "App\\Models\\User";
        const TABLE: &'static str = "users";
        const SELECT: &'static str = "id, name";
    }

    async fn models() -> (tempfile::TempDir, Models) {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::sqlite_file(&dir.path().join("db.sqlite"));
        let db = Database::open(target, 1, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        for sql in [
            "CREATE TABLE users (id integer primary key, name varchar not null)",
            "INSERT INTO users (id, name) VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Linus')",
        ] {
            sqlx::query(sql).execute(db.pool()).await.unwrap();
        }
        (dir, Models::new(db, "sqlite"))
    }

    #[test]
    fn identifiers_read_and_write_what_serializes_models_does() {
        // The bytes Laravel 9+ writes for a model and for a collection (the shape of the
        // corpus's model_job; the corpus itself is decoded in tests/integration).
        let one = br#"O:45:"Illuminate\Contracts\Database\ModelIdentifier":5:{s:5:"class";s:15:"App\Models\User";s:2:"id";i:1;s:9:"relations";a:0:{}s:10:"connection";s:6:"sqlite";s:15:"collectionClass";N;}"#;
        let id: ModelIdentifier = crate::php::from_bytes(one).unwrap();
        assert_eq!(
            id,
            ModelIdentifier::one("App\\Models\\User", 1).on_connection("sqlite")
        );
        assert_eq!(crate::php::to_vec(&id).unwrap(), one.to_vec());
        let many = ModelIdentifier::many("App\\Models\\User", [3, 2, 1]);
        let bytes = crate::php::to_vec(&many).unwrap();
        let back: ModelIdentifier = crate::php::from_bytes(&bytes).unwrap();
        assert_eq!(back, many);
        assert!(back.is_collection());
        let uuid = ModelIdentifier::one("App\\Models\\Post", "0192-ab");
        let back: ModelIdentifier =
            crate::php::from_bytes(&crate::php::to_vec(&uuid).unwrap()).unwrap();
        assert_eq!(back.id, ModelId::One(ModelKey::Str("0192-ab".into())));
    }

    #[tokio::test]
    async fn find_reads_the_row_and_says_not_found_as_php_does() {
        let (_dir, models) = models().await;
        let user: User = models
            .find(&ModelIdentifier::one(User::CLASS, 2))
            .await
            .unwrap();
        assert_eq!((user.id, user.name.as_str()), (2, "Grace"));
        let gone = models
            .find::<User>(&ModelIdentifier::one(User::CLASS, 9))
            .await
            .unwrap_err();
        assert_eq!(
            gone.to_string(),
            "No query results for model [App\\Models\\User]."
        );
        assert!(matches!(
            models
                .find::<User>(&ModelIdentifier::one("App\\Models\\Post", 1))
                .await,
            Err(ModelError::WrongClass { .. })
        ));
        assert!(matches!(
            models
                .find::<User>(&ModelIdentifier::one(User::CLASS, 1).on_connection("mysql"))
                .await,
            Err(ModelError::OtherConnection { .. })
        ));
        assert!(matches!(
            models
                .find::<User>(&ModelIdentifier::many(User::CLASS, [1]))
                .await,
            Err(ModelError::WrongShape { .. })
        ));
    }

    #[tokio::test]
    async fn find_all_keeps_the_collection_order_and_leaves_out_missing_rows() {
        let (_dir, models) = models().await;
        let users: Vec<User> = models
            .find_all(&ModelIdentifier::many(User::CLASS, [3, 9, 1, 2]))
            .await
            .unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["Linus", "Ada", "Grace"]);
        let keys: Vec<i64> = (0..1200).collect();
        let many: Vec<User> = models
            .find_all(&ModelIdentifier::many(User::CLASS, keys))
            .await
            .unwrap();
        assert_eq!(many.len(), 3, "1,200 keys in three queries");
        let empty = ModelIdentifier {
            class: None,
            id: ModelId::Many(Vec::new()),
            relations: Vec::new(),
            connection: None,
            collection_class: None,
        };
        assert!(models.find_all::<User>(&empty).await.unwrap().is_empty());
    }
}
