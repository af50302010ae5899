using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.Publisher.Publishing;

public sealed class UploadLimitsOptions
{
    public const string Section = "UploadLimits";

    /// <summary>How many uploads to one social account run at once (per publisher replica).</summary>
    public int ConcurrentUploadsPerAccount { get; set; } = 2;

    /// <summary>
    /// How long a claimed target may wait for those limits before it is handed back as retryable
    /// (<c>PUBLISHER_BUSY</c>); never more than half of what is left of its lease.
    /// </summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Each platform's rate, as a token bucket per social account (one token per upload): the platforms count their
    /// limits per account (per user token), so one account's burst never spends another's. A platform not listed is
    /// not limited.
    /// </summary>
    public Dictionary<string, TokenBucket> Platforms { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public sealed class TokenBucket
    {
        /// <summary>The burst: how many tokens the bucket holds.</summary>
        public int TokenLimit { get; set; } = 10;

        public int TokensPerPeriod { get; set; } = 1;
        public TimeSpan ReplenishmentPeriod { get; set; } = TimeSpan.FromSeconds(1);
    }

    public bool IsValid() => ConcurrentUploadsPerAccount > 0 && MaxWait >= TimeSpan.Zero
        && Platforms.Values.All(b => b.TokenLimit > 0 && b.TokensPerPeriod > 0 && b.ReplenishmentPeriod > TimeSpan.Zero);
}

/// <summary>
/// The publisher's own limits, taken before an upload starts: at most N uploads at once per social account, and each
/// account's token bucket for its platform. Both are keyed by the account's id, never by its handle (free text, which
/// two workspaces may share), so one workspace's backlog waits on its own accounts only (docs/publishing.md#fair-shares).
/// An upload that has to wait, waits (bounded) instead of failing.
/// </summary>
public sealed class UploadLimits : IDisposable
{
    private const int QueueLimit = 100_000;

    private readonly PartitionedRateLimiter<string> _accounts;
    private readonly Dictionary<string, PartitionedRateLimiter<string>> _platforms;
    private readonly TimeProvider _clock;

    public UploadLimits(IOptions<UploadLimitsOptions> options, TimeProvider clock)
    {
        _clock = clock;
        var o = options.Value;
        _accounts = PartitionedRateLimiter.Create<string, string>(accountId => RateLimitPartition.GetConcurrencyLimiter(accountId,
            _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = o.ConcurrentUploadsPerAccount,
                QueueLimit = QueueLimit,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            }), StringComparer.Ordinal);
        _platforms = o.Platforms.ToDictionary(p => p.Key, p => PartitionedRateLimiter.Create<string, string>(accountId =>
            RateLimitPartition.GetTokenBucketLimiter(accountId, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = p.Value.TokenLimit,
                TokensPerPeriod = p.Value.TokensPerPeriod,
                ReplenishmentPeriod = p.Value.ReplenishmentPeriod,
                QueueLimit = QueueLimit,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                AutoReplenishment = true,
            }), StringComparer.Ordinal), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Waits up to <paramref name="maxWait"/> for a slot of the account and a token of its bucket. Null when they did
    /// not come in time. Dispose the permit when the upload is over.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<IDisposable?> AcquireAsync(string platform, string accountId, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(maxWait, _clock);
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        RateLimitLease? slot = null;
        try
        {
            slot = await TakeAsync(_accounts, accountId, waiting.Token);
            if (slot.IsAcquired && _platforms.TryGetValue(platform, out var buckets))
            {
                using var token = await TakeAsync(buckets, accountId, waiting.Token);
                if (!token.IsAcquired)
                {
                    slot.Dispose();
                    return null;
                }
            }

            if (slot.IsAcquired)
            {
                return slot;
            }

            slot.Dispose();
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            slot?.Dispose();
            return null;
        }
        catch
        {
            slot?.Dispose();
            throw;
        }
    }

    // A free permit is taken at once, even when there is no time left to wait for one.
    private static async ValueTask<RateLimitLease> TakeAsync(PartitionedRateLimiter<string> limiter, string key, CancellationToken waiting)
    {
        var lease = limiter.AttemptAcquire(key);
        if (lease.IsAcquired)
        {
            return lease;
        }

        lease.Dispose();
        return await limiter.AcquireAsync(key, 1, waiting);
    }

    /// <summary>How many uploads to the account are waiting for a slot right now.</summary>
    public long Waiting(string accountId) => _accounts.GetStatistics(accountId)?.CurrentQueuedCount ?? 0;

    public void Dispose()
    {
        _accounts.Dispose();
        foreach (var limiter in _platforms.Values)
        {
            limiter.Dispose();
        }
    }
}
