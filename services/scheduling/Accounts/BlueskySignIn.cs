using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Outbound;

namespace ScheduledPosts.Scheduling.Accounts;

/// <summary>The account a Bluesky sign-in reached: its DID (which never changes) and its handle now.</summary>
public sealed record BlueskyIdentity(string Did, string Handle);

/// <summary>
/// Checks a Bluesky account's app password when it is connected, by signing in once at its PDS
/// (<c>com.atproto.server.createSession</c>, as the publisher does before each post): a wrong identifier or app
/// password is a 422 now, not a failed post later, and the DID the PDS answers identifies the account, so connecting it
/// again (a new app password after a revoked one) updates the same account. The client obeys the Outbound policy.
/// </summary>
public sealed class BlueskySignIn(IHttpClientFactory clients)
{
    public const string HttpClientName = "bluesky-sign-in";

    private sealed record SessionAnswer(
        [property: JsonPropertyName("did")] string? Did,
        [property: JsonPropertyName("handle")] string? Handle);

    public async Task<BlueskyIdentity> SignInAsync(string service, string identifier, string appPassword, CancellationToken ct)
    {
        var endpoint = new Uri(new Uri(service.EndsWith('/') ? service : service + "/"), "xrpc/com.atproto.server.createSession");
        using var http = clients.CreateClient(HttpClientName);
        HttpResponseMessage response;
        try
        {
            response = await http.PostAsJsonAsync(endpoint, new { identifier, password = appPassword }, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw Unavailable(service, e is TaskCanceledException ? "no answer in time" : "could not connect");
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                return await response.Content.ReadFromJsonAsync<SessionAnswer>(ct) is { Did.Length: > 0 } answer
                    ? new BlueskyIdentity(answer.Did, answer.Handle ?? answer.Did)
                    : throw Unavailable(service, "it signed in without naming the account");
            }

            var (error, message) = await PlatformErrorText.ReadXrpcAsync(response, ct);
            string said = error is null ? $"{(int)response.StatusCode}" : $"{error}: {message}";
            // A wrong identifier or app password is a 401 AuthenticationRequired; a taken-down account cannot post either.
            if (response.StatusCode == HttpStatusCode.Unauthorized || error is "AccountTakedown" or "AuthFactorTokenRequired")
            {
                throw ApiException.Validation("credentials.appPassword",
                    $"Bluesky did not sign in {identifier} with this app password ({said}). Make an app password for the account and connect with it.");
            }

            if (response.StatusCode == HttpStatusCode.BadRequest)
            {
                throw ApiException.Validation("credentials.identifier", $"Bluesky refused the sign-in of {identifier} ({said}).");
            }

            throw Unavailable(service, said);
        }
    }

    private static ApiException Unavailable(string service, string what)
        => new(StatusCodes.Status503ServiceUnavailable, "UNAVAILABLE",
            $"The PDS at {service} could not check the app password now ({what}); nothing was stored. Try again later.");
}
