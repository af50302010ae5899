using System.Threading.RateLimiting;
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

    /// <summary>How many keys, found and not found (each kept apart), the cache holds.</summary>
    public int CacheSize { get; set; } = 10_000;

    /// <summary>
    /// How many database lookups of keys the cache does not know run at once; the rest wait their turn. A flood of
    /// made-up keys thus takes at most this many of the pool's connections.
    /// </summary>
    public int MaxConcurrentLookups { get; set; } = 8;

    /// <summary>The most active (unrevoked) keys a workspace may hold; minting another is refused (409) until one is revoked.</summary>
    public int MaxActivePerWorkspace { get; set; } = 100;

    public bool IsValid() => CacheDuration > TimeSpan.Zero && CacheSize > 0 && MaxConcurrentLookups > 0 && MaxActivePerWorkspace > 0;
}

/// <summary>
/// Finds the active key behind a presented secret, by its hash, through a short in-memory cache. Keys found and keys
/// not found are cached apart, each bounded: made-up keys only ever push out other made-up keys, never a real one.
/// </summary>
public sealed class ApiKeyStore : IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeSpan _cacheDuration;
    private readonly MemoryCache _found;
    private readonly MemoryCache _notFound;
    private readonly ConcurrencyLimiter _lookups;

    public ApiKeyStore(NpgsqlDataSource dataSource, IOptions<ApiKeyOptions> options)
    {
        var o = options.Value;
        _dataSource = dataSource;
        _cacheDuration = o.CacheDuration;
        _found = new MemoryCache(new MemoryCacheOptions { SizeLimit = o.CacheSize });
        _notFound = new MemoryCache(new MemoryCacheOptions { SizeLimit = o.CacheSize });
        _lookups = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = o.MaxConcurrentLookups,
            QueueLimit = int.MaxValue,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
    }

    /// <summary>What a lookup found: the caller behind an existing, unrevoked key, or null.</summary>
    public sealed record Lookup(ApiKeyCaller? Caller);

    private static readonly Lookup NotFound = new(null);

    // A class, not a positional record: Dapper reports text[] columns as System.Array, which no constructor matches.
    private sealed class ApiKeyRow
    {
        public string Id { get; set; } = "";
        public string WorkspaceId { get; set; } = "";
        public string Role { get; set; } = "";
        public string[] Scopes { get; set; } = [];
        public bool NeedsTouch { get; set; }
    }

    /// <summary>What the cache knows of a key, without asking the database; null when it knows nothing.</summary>
    public Lookup? Cached(string key)
    {
        string cacheKey = CacheKey(ApiKeySecret.Hash(key));
        return _found.TryGetValue(cacheKey, out Lookup? found) ? found
            : _notFound.TryGetValue(cacheKey, out Lookup? _) ? NotFound
            : null;
    }

    /// <summary>Asks the database (at most <see cref="ApiKeyOptions.MaxConcurrentLookups"/> at once) and caches the answer.</summary>
    public async Task<Lookup> LookUpAsync(string key, CancellationToken ct)
    {
        byte[] hash = ApiKeySecret.Hash(key);
        ApiKeyCaller? caller;
        using (var permit = await _lookups.AcquireAsync(1, ct))
        {
            if (!permit.IsAcquired)
            {
                throw new TimeoutException("No turn to look the API key up.");
            }

            caller = await LoadAsync(hash, ct);
        }

        var lookup = caller is null ? NotFound : new Lookup(caller);
        (caller is null ? _notFound : _found).Set(CacheKey(hash), lookup, new MemoryCacheEntryOptions
        {
            Size = 1,
            AbsoluteExpirationRelativeToNow = _cacheDuration,
        });
        return lookup;
    }

    /// <summary>Forgets a key at once on this replica (it was just revoked here); other replicas follow within the cache duration.</summary>
    public void Evict(byte[] hash) => _found.Remove(CacheKey(hash));

    private static string CacheKey(byte[] hash) => Convert.ToBase64String(hash);

    private async Task<ApiKeyCaller?> LoadAsync(byte[] hash, CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
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

    public void Dispose()
    {
        _found.Dispose();
        _notFound.Dispose();
        _lookups.Dispose();
    }
}
