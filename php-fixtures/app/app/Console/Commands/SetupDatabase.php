<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\DB;
use Illuminate\Support\Facades\Schema;

/** Creates the tables the fixtures use (idempotent) and the fixed users, on the default connection
 * (SQLite unless DB_CONNECTION says otherwise); the jobs table is named by DB_QUEUE_TABLE. */
class SetupDatabase extends Command
{
    protected $signature = 'larq:setup-db';

    protected $description = 'Create failed_jobs (uuid schema), jobs, job_batches, cache, cache_locks and users in the default database';

    public function handle()
    {
        self::ensure();
        $default = config('database.default');
        $this->line('database ready: '.$default.' '.config("database.connections.$default.database"));

        return 0;
    }

    public static function ensure(): void
    {
        $schema = Schema::connection(config('database.default'));
        $jobs = config('queue.connections.database.table', 'jobs');
        if (! $schema->hasTable('failed_jobs')) {
            $schema->create('failed_jobs', function (Blueprint $t) {
                $t->id();
                $t->string('uuid')->unique();
                $t->text('connection');
                $t->text('queue');
                $t->longText('payload');
                $t->longText('exception');
                $t->timestamp('failed_at')->useCurrent();
            });
        }
        if (! $schema->hasTable($jobs)) {
            $schema->create($jobs, function (Blueprint $t) {
                $t->bigIncrements('id');
                $t->string('queue')->index();
                $t->longText('payload');
                $t->unsignedTinyInteger('attempts');
                $t->unsignedInteger('reserved_at')->nullable();
                $t->unsignedInteger('available_at');
                $t->unsignedInteger('created_at');
            });
        }
        if (! $schema->hasTable('job_batches')) {
            $schema->create('job_batches', function (Blueprint $t) {
                $t->string('id')->primary();
                $t->string('name');
                $t->integer('total_jobs');
                $t->integer('pending_jobs');
                $t->integer('failed_jobs');
                $t->longText('failed_job_ids');
                $t->mediumText('options')->nullable();
                $t->integer('cancelled_at')->nullable();
                $t->integer('created_at');
                $t->integer('finished_at')->nullable();
            });
        }
        // The database cache store's tables, as `cache:table` makes them: `expiration` is an
        // integer up to Laravel 10 (so 11 and 12 here) and an indexed bigInteger in 13.
        $big = version_compare(app()->version(), '13.0.0', '>=');
        $expiration = function (Blueprint $t) use ($big) {
            $big ? $t->bigInteger('expiration')->index() : $t->integer('expiration');
        };
        if (! $schema->hasTable(config('cache.stores.database.table') ?? 'cache')) {
            $schema->create(config('cache.stores.database.table') ?? 'cache', function (Blueprint $t) use ($expiration) {
                $t->string('key')->primary();
                $t->mediumText('value');
                $expiration($t);
            });
        }
        if (! $schema->hasTable(config('cache.stores.database.lock_table') ?? 'cache_locks')) {
            $schema->create(config('cache.stores.database.lock_table') ?? 'cache_locks', function (Blueprint $t) use ($expiration) {
                $t->string('key')->primary();
                $t->string('owner');
                $expiration($t);
            });
        }
        if (! $schema->hasTable('users')) {
            $schema->create('users', function (Blueprint $t) {
                $t->id();
                $t->string('name');
                $t->string('email')->unique();
                $t->timestamps();
            });
        }
        $db = DB::connection(config('database.default'));
        foreach ([1 => 'Ada', 2 => 'Grace', 3 => 'Linus'] as $id => $name) {
            if (! $db->table('users')->where('id', $id)->exists()) {
                $db->table('users')->insert([
                    'id' => $id,
                    'name' => $name,
                    'email' => strtolower($name).'@example.com',
                    'created_at' => '2026-01-02 03:04:05',
                    'updated_at' => '2026-01-02 03:04:05',
                ]);
            }
        }
    }
}
