using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.RateLimiting;

public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>Sustained requests per second per API key: the rate the bucket refills at.</summary>
    public int RequestsPerSecond { get; set; } = 50;

    /// <summary>The bucket's size: how many requests a key may send at once after a quiet spell.</summary>
    public int Burst { get; set; } = 500;

    public bool IsValid() => RequestsPerSecond > 0 && Burst > 0;
}

/// <summary>
/// A token bucket per API key (<see cref="PartitionedRateLimiter"/>), held in this gateway process: with several
/// replicas each enforces the limit on the requests it serves. Buckets of keys idle for a while are dropped.
/// </summary>
public sealed class KeyRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public KeyRateLimiter(IOptions<RateLimitOptions> options)
    {
        var o = options.Value;
        Limit = o.Burst;
        RequestsPerSecond = o.RequestsPerSecond;
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.Burst,
            TokensPerPeriod = o.RequestsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            // The partitioned limiter replenishes its buckets itself (every 100 ms, by the time that passed), so a
            // bucket needs no timer of its own.
            AutoReplenishment = false,
        };
        _limiter = PartitionedRateLimiter.Create<string, string>(keyId => RateLimitPartition.GetTokenBucketLimiter(keyId, _ => bucket));
    }

    public int Limit { get; }

    public int RequestsPerSecond { get; }

    public RateLimitLease Acquire(string keyId) => _limiter.AttemptAcquire(keyId);

    public long Remaining(string keyId) => _limiter.GetStatistics(keyId)?.CurrentAvailablePermits ?? Limit;

    public void Dispose() => _limiter.Dispose();
}

/// <summary>
/// After authentication, before the scope check: every authenticated <c>/v1</c> request takes a token from its key's
/// bucket; an empty bucket is a 429 <c>RATE_LIMITED</c> with <c>Retry-After</c>. Every such response carries the
/// <c>RateLimit-Limit</c>, <c>RateLimit-Remaining</c>, <c>RateLimit-Reset</c> and <c>RateLimit-Policy</c> headers
/// (draft-ietf-httpapi-ratelimit-headers).
/// </summary>
public sealed class KeyRateLimiting(RequestDelegate next, KeyRateLimiter limiter)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (ApiKeyAuthentication.Caller(context) is not { } caller)
        {
            await next(context);
            return;
        }

        using var lease = limiter.Acquire(caller.KeyId);
        long remaining = limiter.Remaining(caller.KeyId);
        var headers = context.Response.Headers;
        headers["RateLimit-Limit"] = limiter.Limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        // Seconds until the bucket is full again at the sustained rate.
        headers["RateLimit-Reset"] = Seconds((limiter.Limit - remaining) / (double)limiter.RequestsPerSecond).ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = $"{limiter.Limit};w={Seconds(limiter.Limit / (double)limiter.RequestsPerSecond)}";
        if (lease.IsAcquired)
        {
            await next(context);
            return;
        }

        double retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait) ? wait.TotalSeconds : 1 / (double)limiter.RequestsPerSecond;
        headers.RetryAfter = Math.Max(1, Seconds(retryAfter)).ToString(CultureInfo.InvariantCulture);
        await ErrorEnvelope.Write(context, StatusCodes.Status429TooManyRequests, "RATE_LIMITED",
            $"This API key sent more than its limit ({limiter.RequestsPerSecond} requests/s, bursts of {limiter.Limit}); retry after {headers.RetryAfter} s.");
    }

    private static long Seconds(double seconds) => (long)Math.Ceiling(Math.Max(0, seconds));
}
