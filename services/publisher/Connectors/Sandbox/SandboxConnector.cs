using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Publisher.Connectors.Sandbox;

/// <summary>
/// Publishes to the project's sandbox platform (tests/ScheduledPosts.Sandbox), which speaks the Mastodon
/// <c>POST /api/v1/statuses</c> subset. The sandbox has no OAuth: the account handle is its access token, so the
/// handle goes in <c>Authorization: Bearer</c> and the sandbox records the status under that account.
/// The sandbox honours <c>Idempotency-Key</c>, so an attempt whose outcome we did not learn (timeout, dropped
/// connection) is safe to retry: the retry returns the first status instead of posting a second one.
/// </summary>
public sealed class SandboxConnector(HttpClient http, TimeProvider clock) : IConnector
{
    public const string PlatformName = "sandbox";

    private const int MaxErrorLength = 500;

    public string Platform => PlatformName;

    private sealed record StatusRequest(string Status);

    private sealed record StatusResponse(string? Id, string? Url);

    private sealed record ErrorResponse(string? Error);

    public async Task<ConnectorResult> PublishAsync(ClaimedTarget target, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/statuses")
        {
            Content = JsonContent.Create(new StatusRequest(target.Text)),
        };
        if (target.AccountHandle.Length > 0)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", target.AccountHandle);
        }

        if (target.IdempotencyKey.Length > 0)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", target.IdempotencyKey);
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new ConnectorResult.Failed(ConnectorErrors.Timeout,
                $"The sandbox did not answer within {http.Timeout.TotalSeconds:0.#} s.", Retryable: true);
        }
        catch (HttpRequestException e)
        {
            return new ConnectorResult.Failed(ConnectorErrors.NetworkError, $"The sandbox could not be reached: {e.Message}", Retryable: true);
        }

        using (response)
        {
            return await ReadAsync(response, cancellationToken);
        }
    }

    private async Task<ConnectorResult> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        int code = (int)response.StatusCode;
        if (response.IsSuccessStatusCode)
        {
            StatusResponse? status;
            try
            {
                status = await response.Content.ReadFromJsonAsync<StatusResponse>(cancellationToken);
            }
            catch (JsonException)
            {
                status = null;
            }

            // The status exists but we cannot tell which: retrying under the same key returns it again.
            return status is { Id.Length: > 0, Url.Length: > 0 }
                ? new ConnectorResult.Published(status.Id, status.Url)
                : new ConnectorResult.Failed(ConnectorErrors.PlatformError, $"The sandbox answered {code} with an unreadable status.", Retryable: true);
        }

        string error = await ErrorTextAsync(response, cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.TooManyRequests => new ConnectorResult.Failed(ConnectorErrors.RateLimited,
                $"The sandbox is rate limiting (429): {error}", Retryable: true, RetryAfter(response)),
            >= HttpStatusCode.InternalServerError => new ConnectorResult.Failed(ConnectorErrors.PlatformError,
                $"The sandbox failed ({code}): {error}", Retryable: true),
            _ => new ConnectorResult.Failed(ConnectorErrors.Rejected, $"The sandbox refused the status ({code}): {error}", Retryable: false),
        };
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > clock.GetUtcNow() ? date - clock.GetUtcNow() : TimeSpan.Zero,
        _ => null,
    };

    // Mastodon answers errors as {"error": "…"}; anything else is shown as it came, cut short.
    private static async Task<string> ErrorTextAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            if (JsonSerializer.Deserialize<ErrorResponse>(body, JsonSerializerOptions.Web) is { Error.Length: > 0 } error)
            {
                body = error.Error;
            }
        }
        catch (JsonException)
        {
        }

        if (body.Length == 0)
        {
            return response.ReasonPhrase ?? "no details";
        }

        return body.Length <= MaxErrorLength ? body : body[..MaxErrorLength] + "…";
    }
}
