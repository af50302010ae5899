using System.Text.Json;
using ScheduledPosts.Contracts.Platforms;

namespace ScheduledPosts.Publisher.Connectors.LinkedIn;

/// <summary>
/// Publishes to LinkedIn as a member (<c>linkedin_person</c>) or an organisation page (<c>linkedin_company</c>), one
/// registration per platform sharing <see cref="LinkedInClient"/>. The account's credentials are
/// <c>{"accessToken": "…", "author": "urn:li:person:…"}</c> (or <c>urn:li:organization:…</c>), as the OAuth flow stores
/// them. LinkedIn does not dedupe a repeated create, so before an attempt after the first the author's recent posts
/// are looked up (README.md). Unpublish deletes the post by its URN (<see cref="LinkedInClient.DeletePostAsync"/>).
/// </summary>
public sealed class LinkedInConnector(string platform, LinkedInClient client) : IFindingConnector, IUnpublishingConnector
{
    public PlatformCapabilities Capabilities => Platforms.Known[platform];

    private string AuthorPrefix => platform == Platforms.LinkedInCompany ? "urn:li:organization:" : "urn:li:person:";

    private sealed record Credentials(string? AccessToken, string? Author);

    public async Task<ConnectorResult> PublishAsync(Upload upload, CancellationToken cancellationToken)
        => Account(upload.CredentialsJson, out string? problem) is { } account
            ? await client.PublishAsync(account, upload, cancellationToken)
            : new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);

    public async Task<ConnectorResult?> FindEarlierAsync(Upload upload, CancellationToken cancellationToken)
        => Account(upload.CredentialsJson, out string? problem) is { } account
            ? await client.FindEarlierAsync(account, upload, cancellationToken)
            : new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);

    public async Task<ConnectorResult.Failed?> UnpublishAsync(Removal removal, CancellationToken cancellationToken)
        => Account(removal.CredentialsJson, out string? problem) is { } account
            ? await client.DeletePostAsync(account, removal.ExternalPostId, cancellationToken)
            : new ConnectorResult.Failed(ConnectorErrors.InvalidCredentials, problem!, Retryable: false);

    private LinkedInAccount? Account(string json, out string? problem)
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
            null => "The LinkedIn account's credentials are not a JSON object.",
            { AccessToken: null or "" } => "The LinkedIn account's credentials have no accessToken; connect the account again.",
            { Author: null or "" } => "The LinkedIn account's credentials have no author; connect the account again.",
            { Author: { } author } when !author.StartsWith(AuthorPrefix, StringComparison.Ordinal) || author.Length == AuthorPrefix.Length =>
                $"The LinkedIn account's author is not a {AuthorPrefix}… URN, as a {platform} account's must be; connect the account again.",
            _ => null,
        };
        return problem is null ? new LinkedInAccount(credentials!.AccessToken!, credentials.Author!) : null;
    }
}
