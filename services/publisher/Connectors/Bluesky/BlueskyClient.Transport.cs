using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// The client's transport: sending one XRPC request under the account's Outbound policy, and turning a failure — no
/// answer, a refused destination, an unreadable media file, an XRPC error — into the <see cref="Failed"/> a connector returns.
/// </summary>
public sealed partial class BlueskyClient
{
    // posting: whether the request, once sent, may have made a record; a lost blob upload or lookup makes none.
    private async Task<(HttpResponseMessage? Response, Failed? Failure)> SendAsync(BlueskyAccount account, Func<Task<HttpRequestMessage>> build,
        bool posting, CancellationToken cancellationToken)
    {
        string message;
        string code;
        HttpRequestMessage? request = null;
        try
        {
            request = await build();
            return (await http.SendAsync(request, cancellationToken), null);
        }
        catch (Exception e) when (MediaUnavailableException.In(e) is { } media)
        {
            // Reading the file failed (before or while it was sent): nothing was posted.
            return (null, new Failed(ConnectorErrors.MediaUnavailable, media.Message, Retryable: true));
        }
        catch (HttpRequestException e) when (OutboundAddressRefusedException.In(e) is not null)
        {
            // Refused before connecting: nothing reached the server, and trying again cannot help.
            return (null, new Failed(ConnectorErrors.DestinationRefused,
                $"{account.Name} is not an allowed destination: it resolves to a loopback, private, link-local or metadata address. Nothing was sent.",
                Retryable: false));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            code = ConnectorErrors.Timeout;
            message = $"{account.Name} did not answer within {http.Timeout.TotalSeconds:0.#} s.";
        }
        catch (HttpRequestException e)
        {
            code = ConnectorErrors.NetworkError;
            message = $"{account.Name} could not be reached: {e.Message}";
        }
        finally
        {
            request?.Dispose();
        }

        return (null, posting ? Unknown(code, message) : new Failed(code, message, Retryable: true));
    }

    private Failed Failure(BlueskyAccount account, HttpResponseMessage response, string? error, string? message, string what)
    {
        int status = (int)response.StatusCode;
        string text = Text(status, error, message);
        return status switch
        {
            // Redirects are not followed (they could lead to an address the policy refuses): the request did nothing.
            >= 300 and < 400 => new Failed(ConnectorErrors.Rejected,
                $"{account.Name} answered the request for {what} with a redirect ({text}), which is not followed; connect the account with the PDS's final URL.",
                Retryable: false),
            429 => new Failed(ConnectorErrors.RateLimited, $"{account.Name} is rate limiting ({text})", Retryable: true, RetryAfter(response)),
            401 or 403 => new Failed(ConnectorErrors.InvalidCredentials, $"{account.Name} refused the account's session for {what} ({text})", Retryable: false),
            400 when error is "ExpiredToken" or "InvalidToken" => new Failed(ConnectorErrors.InvalidCredentials,
                $"{account.Name} refused the account's session for {what} ({text})", Retryable: false),
            >= 500 => new Failed(ConnectorErrors.PlatformError, $"{account.Name} failed ({text})", Retryable: true, RetryAfter(response)),
            _ => new Failed(ConnectorErrors.Rejected, $"{account.Name} refused {what} ({text})", Retryable: false),
        };
    }

    // "400 Bad Request: InvalidRequest: Record/text must not be longer than 300 graphemes", parts the platform sent only.
    private static string Text(int status, string? error, string? message)
        => string.Join(": ", new[] { PlatformErrorText.Status(status), error, message }.Where(part => part is { Length: > 0 }));

    // Retry-After when given; else RateLimit-Reset, which Bluesky's servers send as the Unix time (in seconds) the window
    // resets (packages/xrpc-server/src/rate-limiter-http.ts; https://docs.bsky.app/docs/advanced-guides/rate-limits).
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var now = clock.GetUtcNow();
        DateTimeOffset? until = response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => now + delta,
            { Date: { } date } => date,
            _ => response.Headers.TryGetValues("RateLimit-Reset", out var values)
                 && long.TryParse(values.First(), NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
                 && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds()
                ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                : null,
        };
        return until is { } at ? (at > now ? at - now : TimeSpan.Zero) : null;
    }

    private static Task<T?> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken) where T : class
        => ConnectorHttp.ReadJsonOrNullAsync<T>(response, cancellationToken);
}
