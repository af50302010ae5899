using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults;

namespace ScheduledPosts.Gateway.Workspaces;

public sealed class BootstrapOptions
{
    public const string Section = "Bootstrap";

    /// <summary>
    /// An owner key for the <c>default</c> workspace (run.sh sets it from <c>SP_BOOTSTRAP_KEY</c>), used exactly as
    /// given, so a fresh install can be called at once. Unset: no bootstrap.
    /// </summary>
    public string? Key { get; set; }

    // A key is sent in a header and trimmed there: it must survive that unchanged.
    public bool IsValid() => string.IsNullOrEmpty(Key)
        || (Key.Length >= ApiKeySecret.MinLength && Key.All(c => c is >= '!' and <= '~'));
}

/// <summary>
/// Makes sure the <c>default</c> workspace and the configured bootstrap key exist. Idempotent across restarts and
/// across replicas starting together (unique constraints, <c>ON CONFLICT DO NOTHING</c>). A bootstrap key that
/// was revoked stays revoked; a new one revokes the one it replaces, so rotating <c>Bootstrap:Key</c> retires the old key.
/// </summary>
public sealed partial class WorkspaceBootstrap(NpgsqlDataSource dataSource, IOptions<BootstrapOptions> options, ILogger<WorkspaceBootstrap> logger)
{
    public const string DefaultWorkspace = "default";

    // Read (and so validated) on construction: a bad key fails start-up before any wait for the database.
    private readonly string? _key = options.Value.Key;

    public async Task RunAsync(CancellationToken ct = default)
    {
        if (_key is not { Length: > 0 } key)
        {
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO workspaces (id, name) VALUES (@id, @name) ON CONFLICT (name) DO NOTHING",
            new { id = Ids.New("ws"), name = DefaultWorkspace }, cancellationToken: ct));

        await using var tx = await connection.BeginTransactionAsync(ct);
        // A statement of its own: under READ COMMITTED it sees the workspace even when another replica created it.
        string? created = await connection.ExecuteScalarAsync<string?>(new CommandDefinition("""
            INSERT INTO api_keys (id, workspace_id, name, role, scopes, prefix, hash, bootstrap)
            SELECT @id, w.id, 'bootstrap', @role, @scopes, @prefix, @hash, true
            FROM workspaces w WHERE w.name = @name
            ON CONFLICT (hash) DO NOTHING
            RETURNING id
            """,
            new
            {
                id = Ids.New("key"),
                role = Roles.Owner,
                scopes = Roles.ScopesOf(Roles.Owner).ToArray(),
                prefix = ApiKeySecret.Prefix(key),
                hash = ApiKeySecret.Hash(key),
                name = DefaultWorkspace,
            }, transaction: tx, cancellationToken: ct));

        string? revoked = await connection.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT id FROM api_keys WHERE hash = @hash AND revoked_at IS NOT NULL", new { hash = ApiKeySecret.Hash(key) }, tx, cancellationToken: ct));
        if (revoked is not null)
        {
            await tx.CommitAsync(ct);
            Log.BootstrapKeyRevoked(logger, revoked);
            return;
        }

        // The configured key is the bootstrap key now: one it replaces (Bootstrap:Key changed) stops working.
        var retired = (await connection.QueryAsync<string>(new CommandDefinition("""
            UPDATE api_keys SET revoked_at = now()
            WHERE bootstrap AND revoked_at IS NULL AND hash <> @hash
            RETURNING id
            """, new { hash = ApiKeySecret.Hash(key) }, tx, cancellationToken: ct))).ToList();
        await tx.CommitAsync(ct);

        if (created is not null)
        {
            Log.BootstrapKeyCreated(logger, created, DefaultWorkspace);
        }

        foreach (string id in retired)
        {
            Log.BootstrapKeyRetired(logger, id);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Created the bootstrap owner key {KeyId} of workspace {Workspace}")]
        public static partial void BootstrapKeyCreated(ILogger logger, string keyId, string workspace);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
            Message = "The bootstrap key {KeyId} was revoked and stays revoked; set a new Bootstrap:Key to get an owner key")]
        public static partial void BootstrapKeyRevoked(ILogger logger, string keyId);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Revoked the previous bootstrap key {KeyId}: Bootstrap:Key has changed")]
        public static partial void BootstrapKeyRetired(ILogger logger, string keyId);
    }
}
