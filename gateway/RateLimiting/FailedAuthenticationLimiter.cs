using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.Gateway.RateLimiting;

public sealed class FailedAuthenticationOptions
{
    public const string Section = "RateLimits:FailedAuthentication";

    /// <summary>How many invalid keys one client address may send at once before it is refused (429) without a lookup.</summary>
    public int Burst { get; set; } = 20;

    /// <summary>How many more it may send per minute after that: the rate its allowance refills at.</summary>
    public int PerMinute { get; set; } = 20;

    public bool IsValid() => Burst > 0 && PerMinute > 0;
}

/// <summary>
/// The pre-authentication limit: a token bucket per client address (<see cref="PartitionedRateLimiter"/>) that every
/// refused API key drains. Once an address's bucket is empty, a key the gateway does not already know to be valid is
/// refused from that address without asking the database, until the bucket refills; valid keys the gateway knows keep
/// working from the same address (a shared NAT). Held in this gateway process, like the key limits.
/// </summary>
public sealed class FailedAuthenticationLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public FailedAuthenticationLimiter(IOptions<FailedAuthenticationOptions> options)
    {
        var o = options.Value;
        var bucket = new TokenBucketRateLimiterOptions
        {
            TokenLimit = o.Burst,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1) / o.PerMinute,
            QueueLimit = 0,
            AutoReplenishment = false, // the partitioned limiter replenishes its buckets itself
        };
        _limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ => bucket));
        RetryAfterSeconds = (long)Math.Ceiling(bucket.ReplenishmentPeriod.TotalSeconds);
    }

    /// <summary>When an address whose bucket ran dry may try again: the time one attempt takes to come back.</summary>
    public long RetryAfterSeconds { get; }

    /// <summary>The address has no failed attempt left.</summary>
    public bool IsExhausted(string address) => _limiter.GetStatistics(address)?.CurrentAvailablePermits <= 0;

    /// <summary>Counts one refused key against the address.</summary>
    public void Record(string address)
    {
        _limiter.AttemptAcquire(address).Dispose();
    }

    /// <summary>
    /// The partition of a client address: an IPv4 address on its own, an IPv6 address by its /64 (what one host or
    /// network usually holds, so an attacker cannot rotate through its own range).
    /// </summary>
    public static string PartitionOf(IPAddress? address)
    {
        if (address is null)
        {
            return "-";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes).ToString() + "/64";
    }

    public void Dispose() => _limiter.Dispose();
}
