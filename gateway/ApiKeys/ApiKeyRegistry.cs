using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>A key as listed: everything but its secret, of which only the clear prefix is kept.</summary>
public sealed record ApiKeyView(
    string Id, string Name, string Role, IReadOnlyList<string> Scopes, string Prefix,
    DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt);

/// <summary>A key just minted, with its secret: the one time the secret is shown.</summary>
public sealed record MintedApiKey(ApiKeyView Key, string Secret);

/// <summary>The keys of a workspace: mint, list, get, revoke. Every query is scoped to the caller's workspace.</summary>
public sealed class ApiKeyRegistry(NpgsqlDataSource dataSource, ApiKeyStore store, IOptions<ApiKeyOptions> options)
{
    private readonly int _maxActive = options.Value.MaxActivePerWorkspace;

    private const string Columns = """
        id, name, role, scopes, prefix, created_at, last_used_at, revoked_at
        """;

    private sealed class Row
    {
        public string Id { get; set; } = "";
        public string Name { get; set; } = "";
        public string Role { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public string Prefix { get; set; } = "";
        public DateTime CreatedAt { get; set; }
        public DateTime? LastUsedAt { get; set; }
        public DateTime? RevokedAt { get; set; }

        public ApiKeyView View() => new(Id, Name, Role, Scopes, Prefix, Utc(CreatedAt), LastUsedAt is { } used ? Utc(used) : null,
            RevokedAt is { } revoked ? Utc(revoked) : null);

        private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
    }

    public async Task<MintedApiKey> MintAsync(ApiKeyCaller caller, string? name, string? role, IReadOnlyList<string?>? scopes, CancellationToken ct)
    {
        var key = ApiKeyRules.Validate(name, role, scopes);
        ApiKeyRules.EnsureMayMint(caller, key);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Serialises minting (and revoking) within the workspace, so concurrent mints cannot pass the cap together.
        await LockWorkspaceAsync(connection, tx, caller.WorkspaceId, ct);
        long active = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM api_keys WHERE workspace_id = @WorkspaceId AND revoked_at IS NULL",
            new { caller.WorkspaceId }, tx, cancellationToken: ct));
        if (active >= _maxActive)
        {
            throw ApiException.Conflict($"This workspace already has {active} active API keys, the most it may have ({_maxActive}); revoke one first.");
        }

        var minted = await InsertAsync(connection, tx, caller.WorkspaceId, key, ct);
        await tx.CommitAsync(ct);
        return minted;
    }

    private static Task<int> LockWorkspaceAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string workspaceId, CancellationToken ct)
        => connection.ExecuteAsync(new CommandDefinition(
            "SELECT 1 FROM workspaces WHERE id = @workspaceId FOR UPDATE", new { workspaceId }, tx, cancellationToken: ct));

    /// <summary>Inserts a new key of a workspace (in the caller's transaction, if any) and returns it with its secret.</summary>
    public static async Task<MintedApiKey> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string workspaceId,
        ApiKeyRules.NewKey key, CancellationToken ct)
    {
        string secret = ApiKeySecret.Generate();
        var row = await connection.QuerySingleAsync<Row>(new CommandDefinition($"""
            INSERT INTO api_keys (id, workspace_id, name, role, scopes, prefix, hash)
            VALUES (@id, @workspaceId, @Name, @Role, @scopes, @prefix, @hash)
            RETURNING {Columns}
            """,
            new
            {
                id = Ids.New("key"),
                workspaceId,
                key.Name,
                key.Role,
                scopes = key.Scopes.ToArray(),
                prefix = ApiKeySecret.Prefix(secret),
                hash = ApiKeySecret.Hash(secret),
            }, tx, cancellationToken: ct));
        return new MintedApiKey(row.View(), secret);
    }

    public async Task<IReadOnlyList<ApiKeyView>> ListAsync(ApiKeyCaller caller, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM api_keys WHERE workspace_id = @WorkspaceId ORDER BY created_at, id",
            new { caller.WorkspaceId }, cancellationToken: ct));
        return [.. rows.Select(r => r.View())];
    }

    public async Task<ApiKeyView> GetAsync(ApiKeyCaller caller, string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM api_keys WHERE id = @id AND workspace_id = @WorkspaceId",
            new { id, caller.WorkspaceId }, cancellationToken: ct));
        return row?.View() ?? throw ApiException.NotFound("API key");
    }

    /// <summary>
    /// Revokes a key of the caller's workspace: refused at once on this replica, within the key cache's duration on
    /// the others. Revoking a revoked key changes nothing. The workspace's last active owner key stays: without it
    /// nobody could manage the workspace's keys any more.
    /// </summary>
    public async Task<ApiKeyView> RevokeAsync(ApiKeyCaller caller, string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Serialises revocations within the workspace, so two owners revoking each other cannot both succeed.
        await LockWorkspaceAsync(connection, tx, caller.WorkspaceId, ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM api_keys WHERE id = @id AND workspace_id = @WorkspaceId",
            new { id, caller.WorkspaceId }, tx, cancellationToken: ct))
            ?? throw ApiException.NotFound("API key");
        ApiKeyRules.EnsureMayRevoke(caller, row.Role);
        if (row.RevokedAt is not null)
        {
            return row.View();
        }

        if (row.Role == Roles.Owner)
        {
            long otherOwners = await connection.ExecuteScalarAsync<long>(new CommandDefinition("""
                SELECT count(*) FROM api_keys
                WHERE workspace_id = @WorkspaceId AND role = 'owner' AND revoked_at IS NULL AND id <> @id
                """, new { id, caller.WorkspaceId }, tx, cancellationToken: ct));
            if (otherOwners == 0)
            {
                throw ApiException.Conflict("This is the workspace's last active owner key; mint another owner key before revoking it.");
            }
        }

        var revoked = await connection.QuerySingleAsync<Row>(new CommandDefinition(
            $"UPDATE api_keys SET revoked_at = now() WHERE id = @id RETURNING {Columns}", new { id }, tx, cancellationToken: ct));
        byte[] hash = await connection.ExecuteScalarAsync<byte[]>(new CommandDefinition(
            "SELECT hash FROM api_keys WHERE id = @id", new { id }, tx, cancellationToken: ct)) ?? [];
        await tx.CommitAsync(ct);
        store.Evict(hash);
        return revoked.View();
    }
}
