using Grpc.Core;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>What a claim (an upload's or a removal's) carries of its account, for asking for fresh credentials.</summary>
public sealed record RefusedAccount(string TargetId, string LeaseToken, string Platform, string Handle, string CredentialsJson);

/// <summary>
/// A platform refused an account's credentials during a claimed upload or removal: the scheduling service refreshes
/// them under the claim's lease (an OAuth account with a refresh token), and the caller tries once more with the fresh
/// ones. An account whose grant is gone — or whose app password or pasted token was refused, which nothing here can
/// renew — is marked <c>reauth_required</c>, and the attempt ends <see cref="ConnectorErrors.AccountReauthRequired"/>.
/// </summary>
public static class CredentialRefresh
{
    /// <summary>Whether to ask at all: the platform refused the credentials of a platform whose accounts hold some.</summary>
    public static bool Applies(ConnectorResult.Failed? failure, string platform)
        => failure is { Code: ConnectorErrors.InvalidCredentials } && PlatformCatalogue.HoldsCredentials(platform);

    /// <summary>The fresh credentials, or why the attempt ends as it does (<paramref name="refused"/>, amended).</summary>
    public static async Task<(string? Fresh, ConnectorResult.Failed? Failure)> RefreshAsync(
        Targets.TargetsClient targets, RefusedAccount account, ConnectorResult.Failed refused, DateTime deadline, CancellationToken cancellationToken)
    {
        RefreshCredentialsResponse refresh;
        try
        {
            refresh = await targets.RefreshCredentialsAsync(new RefreshCredentialsRequest
            {
                TargetId = account.TargetId,
                LeaseToken = account.LeaseToken,
                RefusedAccessToken = AccessTokenOf(account.CredentialsJson) ?? "",
            }, deadline: deadline, cancellationToken: cancellationToken);
        }
        catch (RpcException e)
        {
            return (null, refused with { Message = $"{refused.Message} The token could not be refreshed now ({e.StatusCode}).", Retryable = true });
        }

        return refresh.Outcome switch
        {
            RefreshCredentialsResponse.Types.Outcome.Refreshed => (refresh.CredentialsJson, null),
            RefreshCredentialsResponse.Types.Outcome.ReauthRequired => (null, new ConnectorResult.Failed(ConnectorErrors.AccountReauthRequired,
                PlatformCatalogue.ConnectMethodOf(account.Platform) == ConnectMethod.OAuth2
                    ? $"{account.Platform} no longer accepts the account {account.Handle}'s grant: connect it again (POST /v1/social-accounts/connect). Nothing was sent."
                    : $"{account.Platform} refused the account {account.Handle}'s credentials: connect it again with new ones (POST /v1/social-accounts). Nothing was sent.",
                Retryable: false)),
            RefreshCredentialsResponse.Types.Outcome.Unavailable => (null, refused with { Message = $"{refused.Message} The token could not be refreshed now: {refresh.Message}", Retryable = true }),
            _ => (null, refused),
        };
    }

    private static string? AccessTokenOf(string credentialsJson)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(credentialsJson is { Length: > 0 } json ? json : "{}");
            return document.RootElement.TryGetProperty("accessToken", out var token) ? token.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
