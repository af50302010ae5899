namespace ScheduledPosts.Publisher.Connectors;

/// <summary>What a platform made of an upload: published, or failed with a code and whether a retry is safe and useful.</summary>
public abstract record ConnectorResult
{
    private ConnectorResult()
    {
    }

    public sealed record Published(string ExternalId, string Url) : ConnectorResult;

    /// <param name="RetryAfter">How long the platform asked us to wait (a 429's <c>Retry-After</c>), when it said.</param>
    public sealed record Failed(string Code, string Message, bool Retryable, TimeSpan? RetryAfter = null) : ConnectorResult;
}

/// <summary>The error codes a target can end with (SPEC §5), as the scheduling service stores them.</summary>
public static class ConnectorErrors
{
    public const string RateLimited = "RATE_LIMITED";
    public const string PlatformError = "PLATFORM_ERROR";
    public const string Rejected = "REJECTED";
    public const string Timeout = "TIMEOUT";
    public const string NetworkError = "NETWORK_ERROR";
    public const string UnsupportedPlatform = "UNSUPPORTED_PLATFORM";

    /// <summary>The upload may or may not have happened; a retry could post twice, so it is not retried.</summary>
    public const string UnknownOutcome = "UNKNOWN_OUTCOME";
}
