using System.Reflection;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace ScheduledPosts.ServiceDefaults.Data;

/// <summary>
/// Applies a service's embedded <c>Migrations/NNN_name.sql</c> files in order, once each, in one
/// transaction under an advisory lock, so replicas starting together apply them exactly once.
/// </summary>
public static partial class Migrations
{
    public static async Task ApplyAsync(NpgsqlDataSource dataSource, string schema, Assembly assembly, ILogger logger, CancellationToken ct = default)
    {
        var scripts = assembly.GetManifestResourceNames()
            .Where(name => name.Contains(".Migrations.", StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .Select(name => (Version: VersionOf(name), Resource: name))
            .OrderBy(s => s.Version, StringComparer.Ordinal)
            .ToList();

        await using var connection = await OpenWithRetryAsync(dataSource, logger, ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(hashtext(@schema))", new { schema }, tx);
        await connection.ExecuteAsync($"""
            CREATE SCHEMA IF NOT EXISTS {schema};
            CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                version text PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now());
            """, transaction: tx);

        var applied = (await connection.QueryAsync<string>($"SELECT version FROM {schema}.schema_migrations", transaction: tx)).ToHashSet();
        foreach (var (version, resource) in scripts.Where(s => !applied.Contains(s.Version)))
        {
            await using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            string sql = await reader.ReadToEndAsync(ct);
            await connection.ExecuteAsync($"SET LOCAL search_path TO {schema}; {sql}", transaction: tx);
            await connection.ExecuteAsync($"INSERT INTO {schema}.schema_migrations (version) VALUES (@version)", new { version }, tx);
            Log.Applied(logger, schema, version);
        }

        await tx.CommitAsync(ct);
    }

    // "ScheduledPosts.Scheduling.Data.Migrations.001_initial.sql" -> "001_initial"
    private static string VersionOf(string resource)
    {
        string withoutExtension = resource[..^".sql".Length];
        return withoutExtension[(withoutExtension.LastIndexOf(".Migrations.", StringComparison.Ordinal) + ".Migrations.".Length)..];
    }

    /// <summary>A service may start before its database: wait for it with backoff rather than crash.</summary>
    public static async Task<NpgsqlConnection> OpenWithRetryAsync(NpgsqlDataSource dataSource, ILogger logger, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            try
            {
                return await dataSource.OpenConnectionAsync(ct);
            }
            catch (NpgsqlException e) when (DateTime.UtcNow < deadline)
            {
                Log.NotReachable(logger, e.Message, delay);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Applied migration {Schema}/{Version}")]
        public static partial void Applied(ILogger logger, string schema, string version);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Database not reachable yet ({Message}); retrying in {Delay}")]
        public static partial void NotReachable(ILogger logger, string message, TimeSpan delay);
    }
}
