using System.Text.Json;
using Microsoft.Extensions.Options;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Publisher.Connectors.Mastodon;

/// <summary>
/// Publishes to any Mastodon instance, as the account whose credentials the claim carries:
/// <c>{"instanceUrl": "https://mastodon.social", "accessToken": "…"}</c> (a user token with <c>write:statuses</c> and
/// <c>write:media</c>, https://docs.joinmastodon.org/api/oauth-scopes/). See <see cref="MastodonClient"/> for the API.
/// The instance URL is user-supplied: it must pass the <see cref="OutboundPolicy"/> here (as when the account was
/// connected), and the client's handler checks every address it connects to and follows no redirect (Extensions.cs).
/// </summary>
public sealed class MastodonConnector(HttpClient http, IOptions<MastodonOptions> options, OutboundPolicy policy, TimeProvider clock,
    ILogger<MastodonConnector> logger)
    : IUnpublishingConnector
{
    private readonly MediaPolling _polling = new(options.Value.MediaPollInterval, options.Value.MediaProcessingTimeout);

    public PlatformCapabilities Capabilities => Platforms.Known[Platforms.Mastodon];

    private sealed record Credentials(string? InstanceUrl, string? AccessToken);

    public async Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
    {
        var account = Account(upload.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        // Stored before the policy was (or was this strict), or a policy that differs from the scheduling service's.
        if (policy.CheckUrl(account.BaseUrl.OriginalString, "instanceUrl") is { } refused)
        {
            return new ConnectorResult.Failed(ConnectorErrors.DestinationRefused, $"The Mastodon account's {refused} Nothing was sent.", Retryable: false);
        }

        return await new MastodonClient(http, clock, logger).PublishAsync(account, upload, _polling, cancellationToken);
    }

    public async Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
    {
        var account = Account(removal.CredentialsJson, out string? problem);
        if (account is null)
        {
            return new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);
        }

        if (policy.CheckUrl(account.BaseUrl.OriginalString, "instanceUrl") is { } refused)
        {
            return new ConnectorResult.Failed(ConnectorErrors.DestinationRefused, $"The Mastodon account's {refused} Nothing was sent.", Retryable: false);
        }

        return await new MastodonClient(http, clock, logger).DeleteStatusAsync(account, removal.ExternalPostId, cancellationToken);
    }

    private static MastodonAccount? Account(string json, out string? problem)
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
            null => "The Mastodon account's credentials are not a JSON object.",
            { AccessToken: null or "" } => "The Mastodon account's credentials have no accessToken.",
            { InstanceUrl: var url } when !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") =>
                "The Mastodon account's credentials have no instanceUrl (an absolute http(s) URL).",
            _ => null,
        };
        if (problem is not null)
        {
            return null;
        }

        // A base with a trailing slash, so an instance served under a path keeps it.
        var instance = new Uri(credentials!.InstanceUrl!.TrimEnd('/') + "/");
        return new MastodonAccount(instance.Authority, instance, credentials.AccessToken!);
    }
}
