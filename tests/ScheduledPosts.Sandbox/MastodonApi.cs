using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace ScheduledPosts.Sandbox;

/// <summary>
/// The subset of the Mastodon REST API the publisher's sandbox connector uses: posting a status.
/// Modelled on https://docs.joinmastodon.org/methods/statuses/#create (Authorization: Bearer, form or JSON
/// <c>status</c>, <c>Idempotency-Key</c>) and https://docs.joinmastodon.org/entities/Status/ for the answer.
/// The bearer token is not checked against anything: it is the account handle the status is posted as.
/// </summary>
public static class MastodonApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public sealed record ErrorBody(string Error);

    public sealed record Account(string Id, string Username, string Acct);

    public sealed record Status(string Id, DateTime CreatedAt, string Content, string Url, string Uri, string Visibility, Account Account);

    public static IEndpointRouteBuilder MapMastodonApi(this IEndpointRouteBuilder app)
    {
        // Fault injection (latency, 5xx, 429, timeouts) will hang off this group as an endpoint filter.
        var api = app.MapGroup("/api/v1");
        api.MapPost("/statuses", PostStatus);
        return app;
    }

    private static async Task<Results<JsonHttpResult<Status>, JsonHttpResult<ErrorBody>>> PostStatus(HttpRequest request, StatusStore store)
    {
        string? token = BearerToken(request);
        if (token is null)
        {
            return Fail(StatusCodes.Status401Unauthorized, "The access token is invalid");
        }

        string? text;
        try
        {
            text = await ReadStatusText(request);
        }
        catch (JsonException)
        {
            return Fail(StatusCodes.Status400BadRequest, "The request body is not valid JSON");
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: Text can't be blank");
        }

        string? idempotencyKey = request.Headers["Idempotency-Key"].ToString() is { Length: > 0 } key ? key : null;
        var (recorded, _) = store.Add(token, text, idempotencyKey);
        return TypedResults.Json(ToStatus(recorded, $"{request.Scheme}://{request.Host}"), Json);
    }

    private static string? BearerToken(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header[scheme.Length..].Trim() is { Length: > 0 } token
            ? token
            : null;
    }

    // Mastodon takes the parameters as a form or as JSON.
    private static async Task<string?> ReadStatusText(HttpRequest request)
    {
        if (request.HasFormContentType)
        {
            return (await request.ReadFormAsync(request.HttpContext.RequestAborted))["status"].ToString();
        }

        if (request.HasJsonContentType())
        {
            using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
            return body.RootElement.ValueKind == JsonValueKind.Object
                   && body.RootElement.TryGetProperty("status", out var status)
                   && status.ValueKind == JsonValueKind.String
                ? status.GetString()
                : null;
        }

        return null;
    }

    private static Status ToStatus(RecordedStatus recorded, string origin)
    {
        string username = recorded.Account.TrimStart('@');
        return new Status(
            recorded.Id,
            recorded.ReceivedAt.UtcDateTime,
            $"<p>{WebUtility.HtmlEncode(recorded.Status)}</p>",
            $"{origin}/@{username}/{recorded.Id}",
            $"{origin}/users/{username}/statuses/{recorded.Id}",
            "public",
            new Account(username, username, username));
    }

    private static JsonHttpResult<ErrorBody> Fail(int status, string message) => TypedResults.Json(new ErrorBody(message), Json, statusCode: status);
}
