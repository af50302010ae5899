namespace ScheduledPosts.Publisher.Connectors;

/// <summary>What a platform made of an upload: published, or failed with a code and whether a retry is safe and useful.</summary>
public abstract record ConnectorResult
{
    private ConnectorResult()
    {
    }

    public sealed record Published(string ExternalId, string Url) : ConnectorResult;

    /// <param name="RetryAfter">How long the platform asked us to wait (a 429's <c>Retry-After</c>), when it said.</param>
    /// <param name="OutcomeUnknown">
    /// The request may have reached the platform and been acted on (a timeout or a dropped connection after sending).
    /// Such a failure is retried only on a platform that honours idempotency keys; elsewhere it ends as
    /// <see cref="ConnectorErrors.UnknownOutcome"/> (see <see cref="Publishing.TargetPublisher"/>).
    /// </param>
    public sealed record Failed(string Code, string Message, bool Retryable, TimeSpan? RetryAfter = null, bool OutcomeUnknown = false)
        : ConnectorResult;

    /// <summary>A request went out and no answer came back: retryable only if the platform dedupes by key.</summary>
    public static Failed Unknown(string code, string message) => new(code, message, Retryable: true, OutcomeUnknown: true);
}

/// <summary>The error codes a target can end with (docs/publishing.md), as the scheduling service stores them.</summary>
public static class ConnectorErrors
{
    public const string RateLimited = "RATE_LIMITED";
    public const string PlatformError = "PLATFORM_ERROR";
    public const string Rejected = "REJECTED";
    public const string InvalidCredentials = "INVALID_CREDENTIALS";

    /// <summary>The platform refused the account's grant and it could not be refreshed: the account must be connected again.</summary>
    public const string AccountReauthRequired = "ACCOUNT_REAUTH_REQUIRED";
    public const string Timeout = "TIMEOUT";
    public const string NetworkError = "NETWORK_ERROR";
    public const string UnsupportedPlatform = "UNSUPPORTED_PLATFORM";

    /// <summary>The account's server is not an allowed destination (a loopback, private, link-local or metadata address; docs/security.md); nothing was sent.</summary>
    public const string DestinationRefused = "DESTINATION_REFUSED";

    /// <summary>Media the platform accepted did not finish processing in time; nothing was posted.</summary>
    public const string MediaNotReady = "MEDIA_NOT_READY";

    /// <summary>A media file could not be read from the scheduling service (e.g. the lease ran out); nothing was posted.</summary>
    public const string MediaUnavailable = "MEDIA_UNAVAILABLE";

    /// <summary>The connector failed in a way it does not map; the upload may have gone out.</summary>
    public const string ConnectorFault = "CONNECTOR_FAULT";

    /// <summary>The publisher stopped while the upload was in flight.</summary>
    public const string Interrupted = "INTERRUPTED";

    /// <summary>The publisher's own per-account or per-platform limit stayed full for as long as it may wait; nothing was sent.</summary>
    public const string PublisherBusy = "PUBLISHER_BUSY";

    /// <summary>The publisher stopped before the upload started; nothing was sent.</summary>
    public const string PublisherStopping = "PUBLISHER_STOPPING";

    /// <summary>The upload may or may not have happened; a retry could post twice, so it is not retried.</summary>
    public const string UnknownOutcome = "UNKNOWN_OUTCOME";
}
