using Dapper;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ScheduledPosts.Gateway.ApiKeys;

public sealed class ApiKeyOptions
{
    public const string Section = "ApiKeys";

    /// <summary>
    /// How long a lookup (found or not) is reused: the bound on how long a key revoked through another replica keeps
    /// working on this one, and what spares the database a query per request.
    /// </summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Finds the active key behind a presented secret, by its hash, through a short in-memory cache.</summary>
public sealed class ApiKeyStore(NpgsqlDataSource dataSource, IOptions<ApiKeyOptions> options) : IDisposable
{
    // Bounded, so a flood of made-up keys cannot grow it without limit.
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 10_000 });
    private readonly TimeSpan _cacheDuration = options.Value.CacheDuration;

    private sealed record Lookup(ApiKeyCaller? Caller);

    // A class, not a positional record: Dapper reports text[] columns as System.Array, which no constructor matches.
    private sealed class ApiKeyRow
    {
        public string Id { get; set; } = "";
        public string WorkspaceId { get; set; } = "";
        public string Role { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public bool NeedsTouch { get; set; }
    }

    /// <summary>The caller behind an existing, unrevoked key; null for anything else.</summary>
    public async Task<ApiKeyCaller?> FindActiveAsync(string key, CancellationToken ct)
    {
        byte[] hash = ApiKeySecret.Hash(key);
        string cacheKey = CacheKey(hash);
        if (_cache.TryGetValue(cacheKey, out Lookup? cached) && cached is not null)
        {
            return cached.Caller;
        }

        var caller = await LoadAsync(hash, ct);
        _cache.Set(cacheKey, new Lookup(caller), new MemoryCacheEntryOptions
        {
            Size = 1,
            AbsoluteExpirationRelativeToNow = _cacheDuration,
        });
        return caller;
    }

    /// <summary>Forgets a key at once on this replica (it was just revoked here); other replicas follow within the cache duration.</summary>
    public void Evict(byte[] hash) => _cache.Remove(CacheKey(hash));

    private static string CacheKey(byte[] hash) => Convert.ToBase64String(hash);

    private async Task<ApiKeyCaller?> LoadAsync(byte[] hash, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<ApiKeyRow>(new CommandDefinition("""
            SELECT id, workspace_id, role, scopes, (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') AS needs_touch
            FROM api_keys
            WHERE hash = @hash AND revoked_at IS NULL
            """, new { hash }, cancellationToken: ct));
        if (row is null)
        {
            return null;
        }

        // last_used_at is kept to the minute, written only on a cache miss: never a write per request.
        if (row.NeedsTouch)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE api_keys SET last_used_at = now() WHERE id = @Id", new { row.Id }, cancellationToken: ct));
        }

        return new ApiKeyCaller(row.Id, row.WorkspaceId, row.Role, Roles.EffectiveScopes(row.Role, row.Scopes));
    }

    public void Dispose() => _cache.Dispose();
}
