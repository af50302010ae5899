using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.Dialects;

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
/// The global limiter of ASP.NET Core's rate limiting middleware (<c>UseRateLimiter</c>), which runs after
/// authentication and before authorization: a token bucket per API key, held in this gateway process (with several
/// replicas each enforces the limit on the requests it serves); requests without an authenticated key pass (they are
/// refused by authorization, and their failures counted by <see cref="FailedAuthenticationLimiter"/>). Every limited
/// response carries the <c>RateLimit-Limit</c>, <c>RateLimit-Remaining</c>, <c>RateLimit-Reset</c> and
/// <c>RateLimit-Policy</c> headers (draft-ietf-httpapi-ratelimit-headers); an empty bucket is a 429
/// <c>RATE_LIMITED</c> with <c>Retry-After</c> (<see cref="OnRejected"/>).
/// </summary>
public sealed class KeyRateLimiter : PartitionedRateLimiter<HttpContext>
{
    private readonly PartitionedRateLimiter<string> _keys;
    private readonly int _limit;
    private readonly int _perSecond;

    public KeyRateLimiter(IOptions<RateLimitOptions> options)
    {
        var o = options.Value;
        _limit = o.Burst;
        _perSecond = o.RequestsPerSecond;
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.Burst,
            TokensPerPeriod = o.RequestsPerSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            // The partitioned limiter replenishes its buckets itself (every 100 ms, by the time that passed), so a
            // bucket needs no timer of its own. Buckets of keys idle for a while are dropped.
            AutoReplenishment = false,
        };
        _keys = PartitionedRateLimiter.Create<string, string>(keyId => RateLimitPartition.GetTokenBucketLimiter(keyId, _ => bucket));
    }

    public static void Configure(RateLimiterOptions options, KeyRateLimiter limiter)
    {
        options.GlobalLimiter = limiter;
        options.OnRejected = OnRejected;
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource)
        => ApiKeyCaller.Of(resource) is { } caller ? _keys.GetStatistics(caller.KeyId) : null;

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount)
    {
        if (ApiKeyCaller.Of(resource) is not { } caller)
        {
            return Unlimited.Instance;
        }

        var lease = _keys.AttemptAcquire(caller.KeyId, permitCount);
        WriteHeaders(resource, caller.KeyId);
        return lease;
    }

    // The buckets queue nothing: acquiring never waits.
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
        => new(AttemptAcquireCore(resource, permitCount));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _keys.Dispose();
        }

        base.Dispose(disposing);
    }

    private void WriteHeaders(HttpContext context, string keyId)
    {
        long remaining = _keys.GetStatistics(keyId)?.CurrentAvailablePermits ?? _limit;
        var headers = context.Response.Headers;
        headers["RateLimit-Limit"] = _limit.ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Remaining"] = remaining.ToString(CultureInfo.InvariantCulture);
        // Seconds until the bucket is full again at the sustained rate.
        headers["RateLimit-Reset"] = Seconds((_limit - remaining) / (double)_perSecond).ToString(CultureInfo.InvariantCulture);
        headers["RateLimit-Policy"] = $"{_limit};w={Seconds(_limit / (double)_perSecond)}";
    }

    private static ValueTask OnRejected(OnRejectedContext rejected, CancellationToken ct)
    {
        var context = rejected.HttpContext;
        var limiter = (KeyRateLimiter)context.RequestServices.GetRequiredService<KeyRateLimiter>();
        double retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait) ? wait.TotalSeconds : 1 / (double)limiter._perSecond;
        context.Response.Headers.RetryAfter = Math.Max(1, Seconds(retryAfter)).ToString(CultureInfo.InvariantCulture);
        return new(GatewayErrors.Write(context, StatusCodes.Status429TooManyRequests, "RATE_LIMITED",
            $"This API key sent more than its limit ({limiter._perSecond} requests/s, bursts of {limiter._limit}); retry after {context.Response.Headers.RetryAfter} s."));
    }

    private static long Seconds(double seconds) => (long)Math.Ceiling(Math.Max(0, seconds));

    /// <summary>The lease of a request no key limit applies to.</summary>
    private sealed class Unlimited : RateLimitLease
    {
        public static readonly Unlimited Instance = new();

        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
