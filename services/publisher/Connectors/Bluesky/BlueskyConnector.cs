using System.Text.Json;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// Publishes to Bluesky, or any AT Protocol PDS, as the account whose credentials the claim carries:
/// <c>{"identifier": "alice.bsky.social", "appPassword": "…", "service": "https://bsky.social"}</c>. See
/// <see cref="BlueskyClient"/> for the API and README.md for the sources and the dedupe rule. The PDS URL is
/// user-supplied: it must pass the <see cref="OutboundPolicy"/> here (as when the account was connected), and the
/// client's handler checks every address it connects to and follows no redirect (Extensions.cs). Unpublish deletes the
/// post's record (<see cref="BlueskyClient.DeletePostAsync"/>).
/// </summary>
public sealed class BlueskyConnector(HttpClient http, BlueskySessions sessions, OutboundPolicy policy, TimeProvider clock,
    ILogger<BlueskyConnector> logger)
    : IUnpublishingConnector
{
    /// <summary>The PDS of an account whose credentials name none (as the scheduling service stores them, it always names one).</summary>
    public const string DefaultService = "https://bsky.social";

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.Bluesky];

    private sealed record Credentials(string? Identifier, string? AppPassword, string? Service);

    public async Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
    {
        var account = Account(upload.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        // Stored before the policy was (or was this strict), or a policy that differs from the scheduling service's.
        if (policy.CheckUrl(account.Service.OriginalString, "service") is { } refused)
        {
            return new ConnectorResult.Failed(ConnectorErrors.DestinationRefused, $"The Bluesky account's {refused} Nothing was sent.", Retryable: false);
        }

        return await new BlueskyClient(http, sessions, clock, logger).PublishAsync(account, upload, cancellationToken);
    }

    public async Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
    {
        var account = Account(removal.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        if (policy.CheckUrl(account.Service.OriginalString, "service") is { } refused)
        {
            return new ConnectorResult.Failed(ConnectorErrors.DestinationRefused, $"The Bluesky account's {refused} Nothing was sent.", Retryable: false);
        }

        return await new BlueskyClient(http, sessions, clock, logger).DeletePostAsync(account, removal.ExternalPostId, cancellationToken);
    }

    private static BlueskyAccount? Account(string json, out string? problem)
    {
        Credentials? credentials;
        try
        {
            credentials = JsonSerializer.Deserialize<Credentials>(json, JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            credentials = null;
        }

        problem = credentials switch
        {
            null => "The Bluesky account's credentials are not a JSON object.",
            { Identifier: null or "" } => "The Bluesky account's credentials have no identifier.",
            { AppPassword: null or "" } => "The Bluesky account's credentials have no appPassword.",
            { Service: { } url } when !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") =>
                "The Bluesky account's credentials have a service that is not an absolute http(s) URL.",
            _ => null,
        };
        if (problem is not null)
        {
            return null;
        }

        var service = new Uri((credentials!.Service ?? DefaultService).TrimEnd('/') + "/");
        return new BlueskyAccount(service, credentials.Identifier!, credentials.AppPassword!);
    }
}
